// One PC: its figures, blocking it by hand, its traffic, the sites it visited, its DNS log
// and the traffic no looked-up name explains.

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get, post, del, qs, may } from '../api.js';
import {
  bytes, when, TrafficChart, Table, Tag, PeriodPicker, periodParams, useLoad, Err, siteLink, total, QueryTable,
} from '../widgets.js';

export function PcPage({ name, me }) {
  const [period, setPeriod] = useState({ kind: 'day' });
  const p = { ...periodParams(period), pc: name };
  const key = JSON.stringify(period);
  const show = {
    dns: may(me, 'GET /api/v1/queries'),
    unexplained: may(me, 'GET /api/v1/unexplained'),
    block: may(me, 'POST /api/v1/pcs/{pc}/block'),
    unblock: may(me, 'DELETE /api/v1/pcs/{pc}/block'),
    site: may(me, 'GET /api/v1/sites/{site}/pcs'),
  };
  const [pcs, e0, reloadPcs] = useLoad(() => get('/api/v1/pcs'), [name], 15000);
  const [traffic] = useLoad(() => get(`/api/v1/traffic${qs(p)}`), [name, key]);
  const [hosts] = useLoad(() => get(`/api/v1/pcs/${encodeURIComponent(name)}/hosts${qs(p)}`), [name, key]);
  const [dns] = useLoad(() => (show.dns ? get(`/api/v1/queries${qs({ client: name, limit: 100 })}`) : Promise.resolve([])), [name]);
  const [unexplained] = useLoad(() => (show.unexplained ? get(`/api/v1/unexplained${qs({ pc: name })}`) : Promise.resolve([])), [name]);
  const [until, setUntil] = useState('');
  const [reason, setReason] = useState('');
  const [msg, setMsg] = useState(null);
  const pc = (pcs || []).find((x) => x.name === name);
  const act = async (fn, done) => {
    setMsg(null);
    try {
      await fn();
      setMsg({ ok: done });
      setTimeout(reloadPcs, 1500);
    } catch (e) {
      setMsg({ err: e.message });
    }
  };
  const block = () => act(() => post(`/api/v1/pcs/${encodeURIComponent(name)}/block`,
    { until: until ? until.replace('T', ' ') : undefined, reason }), `${name} is blocked.`);
  const unblock = () => act(() => del(`/api/v1/pcs/${encodeURIComponent(name)}/block`), `${name} is unblocked.`);
  return html`<h1>PC ${name} ${pc && html`<${Tag} value=${pc.state} />`}</h1>
  <${Err} msg=${e0 || (msg && msg.err)} />
  ${msg && msg.ok && html`<div class="ok" role="status">${msg.ok}</div>`}
  <div class="kpis">${pc && html`
    <div class="kpi"><span>Group</span><b>${pc.group}</b></div>
    <div class="kpi"><span>Addresses</span><b style="font-size:1rem">${pc.addresses.join(', ')}</b></div>
    <div class="kpi"><span>Today</span><b>${bytes(pc.today_bytes)}</b></div>
    <div class="kpi"><span>This month</span><b>${bytes(pc.month_bytes)}</b></div>`}</div>
  ${(show.block || show.unblock) && html`<div class="card noprint" style="margin-bottom:1rem"><h2>Block this PC</h2>
    <div class="toolbar" style="margin:0">
      ${show.block && html`<label>until <input type="datetime-local" value=${until} onChange=${(e) => setUntil(e.target.value)} /></label>
      <input placeholder="Reason (shown to the employee)" value=${reason} onInput=${(e) => setReason(e.target.value)} />
      <button class="danger" data-testid="block-pc" onClick=${block}>Block now</button>`}
      ${show.unblock && html`<button class="ghost" data-testid="unblock-pc" onClick=${unblock}>Unblock</button>`}
    </div></div>`}
  <div class="toolbar"><${PeriodPicker} value=${period} onChange=${setPeriod} /></div>
  <div class="grid">
    <div class="card wide"><h2>Traffic</h2><${TrafficChart} points=${traffic || []} period=${p} testid="pc-traffic" /></div>
    <div class="card wide"><h2>Sites visited</h2><${Table} rows=${hosts || []} columns=${[
      { key: 'host', label: 'Host' },
      { key: 'site', label: 'Site', render: (r) => (show.site ? siteLink(r.site) : r.site) },
      { key: 'via', label: 'Named by' },
      { key: 'down_bytes', label: 'Down', num: true, render: (r) => bytes(r.down_bytes) },
      { key: 'up_bytes', label: 'Up', num: true, render: (r) => bytes(r.up_bytes) },
    ]} /></div>
    ${show.dns && html`<div class="card wide"><h2>DNS log</h2><${QueryTable} rows=${dns || []} /></div>`}
    ${show.unexplained && html`<div class="card wide"><h2>Unexplained traffic</h2><${Table} rows=${unexplained || []}
      empty="None: every flow of this PC is explained by a name it looked up." columns=${[
        { key: 'remote', label: 'Remote', render: (r) => `${r.remote}:${r.port}` },
        { key: 'reason', label: 'Why' },
        { key: 'name', label: 'Claimed name' },
        { key: 'last_ms', label: 'Last seen', render: (r) => when(r.last_ms) },
        { key: 'total', label: 'Traffic', num: true, sortValue: total, render: (r) => bytes(total(r)) },
      ]} /></div>`}
  </div>`;
}
