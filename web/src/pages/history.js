// The action history: who changed what, when (log-ins, blocks, rules, decisions), a page
// of 100 at a time (the first page refreshed every 10 s).

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get, qs } from '../api.js';
import { when, Table, useLoad, Err } from '../widgets.js';

export function History() {
  const [page, setPage] = useState(0);
  const size = 100;
  const [rows, err] = useLoad(() => get(`/api/v1/actions${qs({ limit: size, offset: page * size })}`),
    [page], page === 0 ? 10000 : 0);
  return html`<h1>Action history</h1>
  <div class="toolbar">
    <button class="ghost" disabled=${page === 0} onClick=${() => setPage(page - 1)}>Newer</button>
    <button class="ghost" disabled=${(rows || []).length < size} onClick=${() => setPage(page + 1)}>Older</button>
  </div>
  <${Err} msg=${err} />
  <div class="card"><${Table} testid="history" rows=${rows || []} columns=${[
    { key: 'at_ms', label: 'When', render: (r) => when(r.at_ms) },
    { key: 'actor', label: 'Who' }, { key: 'action', label: 'What' }, { key: 'subject', label: 'On' },
    { key: 'details', label: 'Details', render: (r) => html`<code>${JSON.stringify(r.details)}</code>` },
  ]} /></div>`;
}
