// One site: the PCs that used it in a period and their share.

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get, qs } from '../api.js';
import { bytes, PieChart, Table, PeriodPicker, periodParams, useLoad, Err, pcLink, total } from '../widgets.js';

export function SitePage({ name }) {
  const [period, setPeriod] = useState({ kind: 'day' });
  const p = periodParams(period);
  const [pcs, err] = useLoad(() => get(`/api/v1/sites/${encodeURIComponent(name)}/pcs${qs(p)}`), [name, JSON.stringify(period)]);
  return html`<h1>Site ${name}</h1>
  <div class="toolbar"><${PeriodPicker} value=${period} onChange=${setPeriod} /></div>
  <${Err} msg=${err} />
  <div class="grid">
    <div class="card"><h2>PCs that used it</h2><${Table} rows=${pcs || []} columns=${[
      { key: 'pc', label: 'PC', render: (r) => pcLink(r.pc) },
      { key: 'down_bytes', label: 'Down', num: true, render: (r) => bytes(r.down_bytes) },
      { key: 'up_bytes', label: 'Up', num: true, render: (r) => bytes(r.up_bytes) },
    ]} /></div>
    <div class="card"><h2>Share</h2><${PieChart} labels=${(pcs || []).map((r) => r.pc)} values=${(pcs || []).map(total)} /></div>
  </div>`;
}
