// Reports: traffic per PC, group or the company over a period, as charts, a table, CSV
// and print.

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get, qs } from '../api.js';
import {
  bytes, when, TrafficChart, PieChart, BarChart, Table, PeriodPicker, periodParams, useLoad, Err,
} from '../widgets.js';

export function Reports() {
  const [period, setPeriod] = useState({ kind: 'month' });
  const [by, setBy] = useState('pc');
  const p = periodParams(period);
  const [rows, err] = useLoad(() => get(`/api/v1/report${qs({ by, since_ms: p.since_ms, until_ms: p.until_ms })}`), [by, JSON.stringify(period)]);
  const [series] = useLoad(() => get(`/api/v1/traffic${qs(p)}`), [JSON.stringify(period)]);
  const r = rows || [];
  return html`<h1>Report: traffic per ${by}</h1>
  <div class="toolbar">
    <span class="seg">${['pc', 'group', 'company'].map((b) => html`<button class=${by === b ? 'on' : ''} onClick=${() => setBy(b)}>${b}</button>`)}</span>
    <${PeriodPicker} value=${period} onChange=${setPeriod} />
    <a href="/api/v1/report${qs({ by, since_ms: p.since_ms, until_ms: p.until_ms, format: 'csv' })}" data-testid="report-csv">Download CSV</a>
    <button class="ghost" onClick=${() => window.print()}>Print</button>
  </div>
  <p class="mute">${when(p.since_ms)} – ${when(p.until_ms)}</p>
  <${Err} msg=${err} />
  <div class="grid">
    <div class="card"><h2>Share</h2><${PieChart} labels=${r.map((x) => x.name)} values=${r.map((x) => x.total_bytes)} testid="report-pie" /></div>
    <div class="card"><h2>Totals</h2><${BarChart} labels=${r.map((x) => x.name)} values=${r.map((x) => x.total_bytes)} /></div>
    <div class="card wide"><h2>Over time (company)</h2><${TrafficChart} points=${series || []} period=${p} /></div>
    <div class="card wide"><${Table} testid="report-table" rows=${r} columns=${[
      { key: 'name', label: by },
      { key: 'down_bytes', label: 'Down', num: true, render: (x) => bytes(x.down_bytes) },
      { key: 'up_bytes', label: 'Up', num: true, render: (x) => bytes(x.up_bytes) },
      { key: 'total_bytes', label: 'Total', num: true, render: (x) => bytes(x.total_bytes) },
      { key: 'share_pct', label: 'Share', num: true, render: (x) => `${x.share_pct.toFixed(1)} %` },
    ]} /></div>
  </div>`;
}
