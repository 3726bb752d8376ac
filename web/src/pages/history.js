// The action history: who changed what, when (log-ins, blocks, rules, decisions).

import { html } from 'htm/preact';
import { get } from '../api.js';
import { when, Table, useLoad, Err } from '../widgets.js';

export function History() {
  const [rows, err] = useLoad(() => get('/api/v1/actions?limit=500'), [], 10000);
  return html`<h1>Action history</h1><${Err} msg=${err} />
  <div class="card"><${Table} testid="history" rows=${rows || []} columns=${[
    { key: 'at_ms', label: 'When', render: (r) => when(r.at_ms) },
    { key: 'actor', label: 'Who' }, { key: 'action', label: 'What' }, { key: 'subject', label: 'On' },
    { key: 'details', label: 'Details', render: (r) => html`<code>${JSON.stringify(r.details)}</code>` },
  ]} /></div>`;
}
