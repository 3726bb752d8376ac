// The dashboard: the period's traffic, the busiest PCs and sites, what was blocked, the
// internet channels and recent events, refreshed on its own. Each card shows when the
// user may read what it draws (a department manager sees their PCs' cards only).

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get, qs, may, officeWide } from '../api.js';
import {
  bytes, when, TrafficChart, PieChart, Table, Tag, PeriodPicker, periodParams, useLoad, Err, pcLink, siteLink, total,
} from '../widgets.js';

// Nothing to fetch: what a card the user may not read loads instead of a refused call.
const none = (empty) => () => Promise.resolve(empty);

export function Dashboard({ me }) {
  const [period, setPeriod] = useState({ kind: 'day' });
  const p = periodParams(period);
  const key = JSON.stringify(period);
  const show = {
    traffic: officeWide(me, 'GET /api/v1/traffic'),
    top: may(me, 'GET /api/v1/top'),
    sites: officeWide(me, 'GET /api/v1/sites'),
    blocked: may(me, 'GET /api/v1/queries'),
    wan: may(me, 'GET /api/v1/wan'),
    events: may(me, 'GET /api/v1/events'),
  };
  const [traffic, e1] = useLoad(show.traffic ? () => get(`/api/v1/traffic${qs(p)}`) : none([]), [key], 30000);
  const [top, e2] = useLoad(show.top ? () => get(`/api/v1/top${qs({ ...p, limit: 12 })}`) : none([]), [key], 30000);
  const [sites, e3] = useLoad(show.sites ? () => get(`/api/v1/sites${qs({ ...p, limit: 10 })}`) : none([]), [key], 30000);
  const [blocked] = useLoad(show.blocked
    ? () => get(`/api/v1/queries${qs({ verdict: 'blocked', since_ms: p.since_ms, limit: 500 })}`) : none([]), [key], 30000);
  const [wan] = useLoad(show.wan ? () => get('/api/v1/wan') : none(null), [], 10000);
  const [events] = useLoad(show.events ? () => get('/api/v1/events?limit=8') : none([]), [], 30000);
  const up = (traffic || []).reduce((a, x) => a + x.up_bytes, 0);
  const down = (traffic || []).reduce((a, x) => a + x.down_bytes, 0);
  const status = wan && wan.status;
  return html`<h1>Dashboard</h1>
  <div class="toolbar"><${PeriodPicker} value=${period} onChange=${setPeriod} /></div>
  <${Err} msg=${e1 || e2 || e3} />
  <div class="kpis">
    ${show.traffic && html`<div class="kpi"><span>Downloaded</span><b data-testid="kpi-down">${bytes(down)}</b></div>
    <div class="kpi"><span>Uploaded</span><b>${bytes(up)}</b></div>`}
    ${show.blocked && html`<div class="kpi"><span>Blocked requests</span><b data-testid="kpi-blocked">${(blocked || []).length}${(blocked || []).length >= 500 ? '+' : ''}</b></div>`}
    ${show.wan && html`<div class="kpi"><span>Internet channel</span><b>${status ? (status.all_down ? 'ALL DOWN' : status.active || '—') : 'no failover'}</b></div>`}
  </div>
  <div class="grid">
    ${show.traffic && html`<div class="card wide"><h2>Traffic over time</h2>
      <${TrafficChart} points=${traffic || []} period=${p} testid="traffic-chart" /></div>`}
    ${show.top && html`<div class="card"><h2>Traffic across PCs</h2>
      <${PieChart} labels=${(top || []).map((r) => r.pc)} values=${(top || []).map(total)} testid="pcs-pie" /></div>
    <div class="card"><h2>Busiest PCs</h2>
      <${Table} testid="top-pcs" rows=${top || []} columns=${[
        { key: 'pc', label: 'PC', render: (r) => pcLink(r.pc) },
        { key: 'down_bytes', label: 'Down', num: true, render: (r) => bytes(r.down_bytes) },
        { key: 'up_bytes', label: 'Up', num: true, render: (r) => bytes(r.up_bytes) },
      ]} /></div>`}
    ${show.sites && html`<div class="card"><h2>Top sites</h2>
      <${Table} testid="top-sites" rows=${sites || []} columns=${[
        { key: 'site', label: 'Site', render: (r) => siteLink(r.site) },
        { key: 'pcs', label: 'PCs', num: true },
        { key: 'total', label: 'Traffic', num: true, sortValue: total, render: (r) => bytes(total(r)) },
      ]} /></div>`}
    ${show.blocked && html`<div class="card"><h2>Recently blocked</h2>
      <${Table} rows=${(blocked || []).slice(0, 8)} empty="No blocked requests in this period." columns=${[
        { key: 'at_ms', label: 'When', render: (r) => when(r.at_ms) },
        { key: 'pc', label: 'PC', render: (r) => r.pc || r.client },
        { key: 'name', label: 'Name' },
      ]} /></div>`}
    ${show.wan && html`<div class="card"><h2>Channels</h2>${status ? html`<${Table} rows=${status.channels} columns=${[
        { key: 'name', label: 'Channel' },
        { key: 'state', label: 'State', render: (c) => html`<${Tag} value=${c.state} />${c.active ? html` <${Tag} value="active" />` : ''}` },
        { key: 'latency_ms', label: 'Latency', num: true, render: (c) => (c.latency_ms == null ? '' : `${c.latency_ms.toFixed(1)} ms`) },
        { key: 'loss_pct', label: 'Loss', num: true, render: (c) => `${c.loss_pct.toFixed(0)} %` },
      ]} />` : html`<p class="mute">Failover is not configured.</p>`}</div>`}
    ${show.events && html`<div class="card"><h2>Recent events</h2>
      <${Table} rows=${[...(events || [])].reverse()} columns=${[
        { key: 'at_ms', label: 'When', render: (r) => when(r.at_ms) },
        { key: 'kind', label: 'What', render: (r) => `${r.source}.${r.kind}` },
        { key: 'message', label: 'Message' },
      ]} /></div>`}
  </div>`;
}
