// The DNS query log: filter by PC, name, verdict and whether the PC asked another
// resolver (intercepted), page through, download as CSV.

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get, qs } from '../api.js';
import { useLoad, Err, QueryTable } from '../widgets.js';

export function Queries() {
  const [f, setF] = useState({ client: '', name: '', verdict: '', intercepted: '', page: 0 });
  const size = 100;
  const [rows, err] = useLoad(() => get(`/api/v1/queries${qs({
    client: f.client, name: f.name, verdict: f.verdict, intercepted: f.intercepted, limit: size, offset: f.page * size,
  })}`), [JSON.stringify(f)]);
  const set = (k) => (e) => setF({ ...f, [k]: e.target.value, page: 0 });
  return html`<h1>Query log</h1>
  <div class="toolbar">
    <input placeholder="PC or address" value=${f.client} onChange=${set('client')} />
    <input placeholder="Name contains" value=${f.name} onChange=${set('name')} data-testid="query-name" />
    <select value=${f.verdict} onChange=${set('verdict')}>
      <option value="">all verdicts</option><option value="allowed">allowed</option><option value="blocked">blocked</option><option value="refused">refused</option>
    </select>
    <select value=${f.intercepted} onChange=${set('intercepted')} data-testid="query-intercepted">
      <option value="">asked of any resolver</option><option value="true">intercepted only</option>
    </select>
    <button class="ghost" disabled=${f.page === 0} onClick=${() => setF({ ...f, page: f.page - 1 })}>Newer</button>
    <button class="ghost" disabled=${(rows || []).length < size} onClick=${() => setF({ ...f, page: f.page + 1 })}>Older</button>
    <a href="/api/v1/queries${qs({ client: f.client, name: f.name, verdict: f.verdict, intercepted: f.intercepted, limit: 100000, format: 'csv' })}">CSV</a>
  </div>
  <${Err} msg=${err} />
  <div class="card"><${QueryTable} rows=${rows || []} /></div>`;
}
