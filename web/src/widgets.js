// Shared pieces of the pages: charts (Chart.js), sortable tables, the period picker,
// formatting, links to a PC's or a site's page, the query table (query log and PC page).

import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Chart, registerables } from 'chart.js';

Chart.register(...registerables);

const PALETTE = ['#2457d6', '#e8710a', '#1a7f37', '#c62828', '#8e44ad', '#00838f', '#b26a00',
  '#5d6d7e', '#d81b60', '#7cb342', '#3949ab', '#6d4c41'];

// Bytes for people (decimal units, as ISPs and traffic limits count them).
export function bytes(n) {
  if (n === null || n === undefined) return '';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = Number(n);
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function when(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleString(undefined, {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

// A Chart.js chart that is rebuilt when its config changes. `testid` names the canvas for
// the browser tests, which read the drawn data back through Chart.getChart.
export function ChartView({ config, kind = '', testid }) {
  const canvas = useRef(null);
  useEffect(() => {
    const { label, ...chartConfig } = config;
    const chart = new Chart(canvas.current, {
      ...chartConfig,
      options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options },
    });
    return () => chart.destroy();
  }, [JSON.stringify(config.data)]);
  // The label says in words what the chart draws (screen readers, and the browser tests).
  return html`<div class="chart ${kind}"><canvas ref=${canvas} data-testid=${testid} role="img"
    aria-label=${config.label || ''}></canvas></div>`;
}

const STEP = { minute: 60e3, hour: 3600e3 };

// Empty buckets as zeros, so the time axis is the whole period (the API leaves them out).
function filled(points, period) {
  const step = period && STEP[period.resolution];
  if (!step) return points;
  const at = new Map(points.map((x) => [x.t_ms, x]));
  const out = [];
  for (let t = Math.floor(period.since_ms / step) * step; t < period.until_ms; t += step) {
    out.push(at.get(t) || { t_ms: t, up_bytes: 0, down_bytes: 0 });
  }
  return out;
}

export function TrafficChart({ points: raw, period, testid }) {
  const points = filled(raw, period);
  const labels = points.map((p) => new Date(p.t_ms).toLocaleString(undefined,
    { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }));
  // Few buckets with traffic: mark them, or a lone busy minute would be a hairline.
  const busy = points.filter((p) => p.up_bytes + p.down_bytes > 0).length;
  const radius = (c) => (busy < 4 && c.raw > 0 ? 4 : 0);
  const down = points.reduce((a, p) => a + p.down_bytes, 0);
  const up = points.reduce((a, p) => a + p.up_bytes, 0);
  const config = {
    label: `Traffic over time: ${bytes(down)} down, ${bytes(up)} up, ${busy} of ${points.length} intervals with traffic`,
    type: 'line',
    data: {
      labels,
      datasets: [
        { label: 'Download', data: points.map((p) => p.down_bytes), borderColor: PALETTE[0],
          backgroundColor: '#2457d633', fill: true, pointRadius: radius, tension: 0.2 },
        { label: 'Upload', data: points.map((p) => p.up_bytes), borderColor: PALETTE[1],
          backgroundColor: '#e8710a33', fill: true, pointRadius: radius, tension: 0.2 },
      ],
    },
    options: {
      interaction: { mode: 'index', intersect: false },
      scales: { y: { ticks: { callback: (v) => bytes(v) } } },
      plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${bytes(c.parsed.y)}` } } },
    },
  };
  return html`<${ChartView} config=${config} testid=${testid} />`;
}

export function PieChart({ labels, values, testid }) {
  const config = {
    label: labels.map((l, i) => `${l}: ${bytes(values[i])}`).join(', '),
    type: 'doughnut',
    data: { labels, datasets: [{ data: values, backgroundColor: labels.map((_, i) => PALETTE[i % PALETTE.length]) }] },
    options: {
      plugins: {
        legend: { position: 'right' },
        tooltip: { callbacks: { label: (c) => `${c.label}: ${bytes(c.parsed)}` } },
      },
    },
  };
  return html`<${ChartView} config=${config} kind="pie" testid=${testid} />`;
}

export function BarChart({ labels, values, testid }) {
  const config = {
    type: 'bar',
    data: { labels, datasets: [{ label: 'Traffic', data: values, backgroundColor: PALETTE[0] }] },
    options: {
      indexAxis: 'y',
      scales: { x: { ticks: { callback: (v) => bytes(v) } } },
      plugins: { legend: { display: false }, tooltip: { callbacks: { label: (c) => bytes(c.parsed.x) } } },
    },
  };
  return html`<${ChartView} config=${config} testid=${testid} />`;
}

// A table whose columns sort on click. columns: [{ key, label, num, render(row) }].
// Written here rather than taken from a grid package (Grid.js, Tabulator): the rows are
// already in memory and small, sorting them is a dozen lines, and cells stay Preact
// elements (links, tags, buttons with their handlers) instead of HTML strings a grid
// renders outside Preact's tree.
export function Table({ columns, rows, empty = 'Nothing yet.', testid }) {
  const [sort, setSort] = useState(null);
  let shown = rows;
  if (sort) {
    const col = columns.find((c) => c.key === sort.key);
    const val = col.sortValue || ((r) => r[col.key]);
    shown = [...rows].sort((a, b) => {
      const x = val(a);
      const y = val(b);
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x ?? '').localeCompare(String(y ?? ''));
      return sort.desc ? -c : c;
    });
  }
  const click = (c) => setSort(sort && sort.key === c.key ? { key: c.key, desc: !sort.desc } : { key: c.key, desc: !!c.num });
  if (!rows.length) return html`<p class="mute">${empty}</p>`;
  return html`<table data-testid=${testid}>
    <thead><tr>${columns.map((c) => html`<th class="sortable ${c.num ? 'num' : ''}" onClick=${() => click(c)}>
      ${c.label}${sort && sort.key === c.key ? (sort.desc ? ' ▾' : ' ▴') : ''}</th>`)}</tr></thead>
    <tbody>${shown.map((r) => html`<tr>${columns.map((c) => html`<td class=${c.num ? 'num' : ''}>
      ${c.render ? c.render(r) : r[c.key]}</td>`)}</tr>`)}</tbody>
  </table>`;
}

export function Tag({ value }) {
  return html`<span class="tag ${value}">${value}</span>`;
}

const HOUR = 3600e3;
export const PERIODS = {
  hour: { label: 'Hour', span: HOUR, resolution: 'minute' },
  day: { label: 'Day', span: 24 * HOUR, resolution: 'hour' },
  week: { label: 'Week', span: 7 * 24 * HOUR, resolution: 'hour' },
  month: { label: 'Month', span: 30 * 24 * HOUR, resolution: 'day' },
};

// The period picker's value as API parameters.
export function periodParams(p) {
  if (p.kind === 'custom' && p.from && p.to) {
    const since = new Date(p.from).getTime();
    const until = new Date(p.to).getTime();
    const span = until - since;
    return { since_ms: since, until_ms: until, resolution: span <= 3 * HOUR ? 'minute' : span <= 8 * 24 * HOUR ? 'hour' : 'day' };
  }
  const def = PERIODS[p.kind] || PERIODS.day;
  const until = Date.now();
  return { since_ms: until - def.span, until_ms: until, resolution: def.resolution };
}

export function PeriodPicker({ value, onChange }) {
  return html`<span class="seg" data-testid="period">
    ${Object.entries(PERIODS).map(([k, d]) => html`<button class=${value.kind === k ? 'on' : ''}
      onClick=${() => onChange({ kind: k })}>${d.label}</button>`)}
    <button class=${value.kind === 'custom' ? 'on' : ''} onClick=${() => onChange({ ...value, kind: 'custom' })}>Custom</button>
  </span>
  ${value.kind === 'custom' && html`<input type="datetime-local" value=${value.from || ''}
      onChange=${(e) => onChange({ ...value, from: e.target.value })} />
    <input type="datetime-local" value=${value.to || ''} onChange=${(e) => onChange({ ...value, to: e.target.value })} />`}`;
}

// Loads `fn()` when `deps` change; gives [data, error, reload].
export function useLoad(fn, deps, every = 0) {
  const [state, setState] = useState({ data: null, error: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    fn().then((data) => live && setState({ data, error: null }),
      (e) => live && setState((s) => ({ data: s.data, error: e.message })));
    return () => { live = false; };
  }, [...deps, tick]);
  useEffect(() => {
    if (!every) return undefined;
    const t = setInterval(() => setTick((x) => x + 1), every);
    return () => clearInterval(t);
  }, [every]);
  return [state.data, state.error, () => setTick((x) => x + 1)];
}

export function Err({ msg }) {
  return msg ? html`<div class="err" role="alert">${msg}</div>` : null;
}

export const pcLink = (name) => html`<a href="#/pc/${encodeURIComponent(name)}">${name}</a>`;
export const siteLink = (name) => html`<a href="#/site/${encodeURIComponent(name)}">${name}</a>`;
export const total = (r) => (r.up_bytes || 0) + (r.down_bytes || 0);

// The DNS query log's rows: the query log page and a PC's page.
export function QueryTable({ rows }) {
  return html`<${Table} testid="queries" rows=${rows} empty="No queries." columns=${[
    { key: 'at_ms', label: 'When', render: (r) => when(r.at_ms) },
    { key: 'pc', label: 'PC', render: (r) => (r.pc ? pcLink(r.pc) : r.client) },
    { key: 'name', label: 'Name' },
    { key: 'qtype', label: 'Type' },
    // Identical queries of a PC within a second are one row (browsers repeat themselves).
    { key: 'count', label: 'Times', num: true, render: (r) => (r.count > 1 ? `×${r.count}` : '') },
    // Intercepted: the PC asked another resolver; the gateway answered (or refused) instead.
    {
      key: 'verdict',
      label: 'Verdict',
      render: (r) =>
        html`<${Tag} value=${r.verdict} />${r.intercepted
          ? html` <span class="tag" title="Sent to another resolver; answered by the gateway">intercepted</span>`
          : ''}`,
    },
    { key: 'rule', label: 'Rule', render: (r) => r.rule || '' },
    { key: 'latency_us', label: 'ms', num: true, render: (r) => (r.latency_us / 1000).toFixed(1) },
  ]} />`;
}
