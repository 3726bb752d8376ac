// The pages of the admin UI. Each reads the API when shown and when its inputs change;
// the dashboard and the request queue also refresh on their own.

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get, post, del, call, qs } from './api.js';

const call_put = (path, body) => call('PUT', path, body);
import {
  bytes, when, TrafficChart, PieChart, BarChart, Table, Tag, PeriodPicker, periodParams, useLoad, Err,
} from './widgets.js';

const pcLink = (name) => html`<a href="#/pc/${encodeURIComponent(name)}">${name}</a>`;
const siteLink = (name) => html`<a href="#/site/${encodeURIComponent(name)}">${name}</a>`;
const total = (r) => (r.up_bytes || 0) + (r.down_bytes || 0);

export function Dashboard({ me }) {
  const [period, setPeriod] = useState({ kind: 'day' });
  const p = periodParams(period);
  const key = JSON.stringify(period);
  const manager = me.role === 'manager';
  const [traffic, e1] = useLoad(() => (manager ? Promise.resolve([]) : get(`/api/v1/traffic${qs(p)}`)), [key], 30000);
  const [top, e2] = useLoad(() => get(`/api/v1/top${qs({ ...p, limit: 12 })}`), [key], 30000);
  const [sites, e3] = useLoad(() => (manager ? Promise.resolve([]) : get(`/api/v1/sites${qs({ ...p, limit: 10 })}`)), [key], 30000);
  const [blocked] = useLoad(() => (manager ? Promise.resolve([]) : get(`/api/v1/queries${qs({ verdict: 'blocked', since_ms: p.since_ms, limit: 500 })}`)), [key], 30000);
  const [wan] = useLoad(() => (manager ? Promise.resolve(null) : get('/api/v1/wan')), [], 10000);
  const [events] = useLoad(() => (manager ? Promise.resolve([]) : get('/api/v1/events?limit=8')), [], 30000);
  const up = (traffic || []).reduce((a, x) => a + x.up_bytes, 0);
  const down = (traffic || []).reduce((a, x) => a + x.down_bytes, 0);
  const status = wan && wan.status;
  return html`<h1>Dashboard</h1>
  <div class="toolbar"><${PeriodPicker} value=${period} onChange=${setPeriod} /></div>
  <${Err} msg=${e1 || e2 || e3} />
  <div class="kpis">
    <div class="kpi"><span>Downloaded</span><b data-testid="kpi-down">${bytes(down)}</b></div>
    <div class="kpi"><span>Uploaded</span><b>${bytes(up)}</b></div>
    <div class="kpi"><span>Blocked requests</span><b data-testid="kpi-blocked">${(blocked || []).length}${(blocked || []).length >= 500 ? '+' : ''}</b></div>
    <div class="kpi"><span>Internet channel</span><b>${status ? (status.all_down ? 'ALL DOWN' : status.active || '—') : 'no failover'}</b></div>
  </div>
  <div class="grid">
    ${!manager && html`<div class="card wide"><h2>Traffic over time</h2>
      <${TrafficChart} points=${traffic || []} period=${p} testid="traffic-chart" /></div>`}
    <div class="card"><h2>Traffic across PCs</h2>
      <${PieChart} labels=${(top || []).map((r) => r.pc)} values=${(top || []).map(total)} testid="pcs-pie" /></div>
    <div class="card"><h2>Busiest PCs</h2>
      <${Table} testid="top-pcs" rows=${top || []} columns=${[
        { key: 'pc', label: 'PC', render: (r) => pcLink(r.pc) },
        { key: 'down_bytes', label: 'Down', num: true, render: (r) => bytes(r.down_bytes) },
        { key: 'up_bytes', label: 'Up', num: true, render: (r) => bytes(r.up_bytes) },
      ]} /></div>
    ${!manager && html`<div class="card"><h2>Top sites</h2>
      <${Table} testid="top-sites" rows=${sites || []} columns=${[
        { key: 'site', label: 'Site', render: (r) => siteLink(r.site) },
        { key: 'pcs', label: 'PCs', num: true },
        { key: 'total', label: 'Traffic', num: true, sortValue: total, render: (r) => bytes(total(r)) },
      ]} /></div>
    <div class="card"><h2>Recently blocked</h2>
      <${Table} rows=${(blocked || []).slice(0, 8)} empty="No blocked requests in this period." columns=${[
        { key: 'at_ms', label: 'When', render: (r) => when(r.at_ms) },
        { key: 'pc', label: 'PC', render: (r) => r.pc || r.client },
        { key: 'name', label: 'Name' },
      ]} /></div>
    <div class="card"><h2>Channels</h2>${status ? html`<${Table} rows=${status.channels} columns=${[
        { key: 'name', label: 'Channel' },
        { key: 'state', label: 'State', render: (c) => html`<${Tag} value=${c.state} />${c.active ? html` <${Tag} value="active" />` : ''}` },
        { key: 'latency_ms', label: 'Latency', num: true, render: (c) => (c.latency_ms == null ? '' : `${c.latency_ms.toFixed(1)} ms`) },
        { key: 'loss_pct', label: 'Loss', num: true, render: (c) => `${c.loss_pct.toFixed(0)} %` },
      ]} />` : html`<p class="mute">Failover is not configured.</p>`}</div>
    <div class="card"><h2>Recent events</h2>
      <${Table} rows=${[...(events || [])].reverse()} columns=${[
        { key: 'at_ms', label: 'When', render: (r) => when(r.at_ms) },
        { key: 'kind', label: 'What', render: (r) => `${r.source}.${r.kind}` },
        { key: 'message', label: 'Message' },
      ]} /></div>`}
  </div>`;
}

export function Pcs() {
  const [filter, setFilter] = useState('');
  const [pcs, err] = useLoad(() => get('/api/v1/pcs'), [], 15000);
  const f = filter.toLowerCase();
  const rows = (pcs || []).filter((p) => !f || p.name.toLowerCase().includes(f)
    || p.group.toLowerCase().includes(f) || p.addresses.join(' ').includes(f));
  return html`<h1>PCs</h1>
  <div class="toolbar"><input placeholder="Filter by name, group, address" value=${filter}
    onInput=${(e) => setFilter(e.target.value)} /></div>
  <${Err} msg=${err} />
  <div class="card"><${Table} testid="pcs-table" rows=${rows} columns=${[
    { key: 'name', label: 'Name', render: (r) => pcLink(r.name) },
    { key: 'addresses', label: 'Addresses', render: (r) => r.addresses.join(', ') },
    { key: 'group', label: 'Group' },
    { key: 'today_bytes', label: 'Today', num: true, render: (r) => bytes(r.today_bytes) },
    { key: 'month_bytes', label: 'This month', num: true, render: (r) => bytes(r.month_bytes) },
    { key: 'state', label: 'State', render: (r) => html`<${Tag} value=${r.state} />` },
  ]} /></div>`;
}

export function PcPage({ name, me }) {
  const [period, setPeriod] = useState({ kind: 'day' });
  const p = { ...periodParams(period), pc: name };
  const key = JSON.stringify(period);
  const [pcs, e0, reloadPcs] = useLoad(() => get('/api/v1/pcs'), [name], 15000);
  const [traffic] = useLoad(() => get(`/api/v1/traffic${qs(p)}`), [name, key]);
  const [hosts] = useLoad(() => get(`/api/v1/pcs/${encodeURIComponent(name)}/hosts${qs(p)}`), [name, key]);
  const [dns] = useLoad(() => (me.role === 'manager' ? Promise.resolve([]) : get(`/api/v1/queries${qs({ client: name, limit: 100 })}`)), [name]);
  const [unexplained] = useLoad(() => (me.role === 'manager' ? Promise.resolve([]) : get(`/api/v1/unexplained${qs({ pc: name })}`)), [name]);
  const [until, setUntil] = useState('');
  const [reason, setReason] = useState('');
  const [msg, setMsg] = useState(null);
  const pc = (pcs || []).find((x) => x.name === name);
  const mayChange = me.role !== 'auditor';
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
  ${mayChange && html`<div class="card noprint" style="margin-bottom:1rem"><h2>Block this PC</h2>
    <div class="toolbar" style="margin:0">
      <label>until <input type="datetime-local" value=${until} onChange=${(e) => setUntil(e.target.value)} /></label>
      <input placeholder="Reason (shown to the employee)" value=${reason} onInput=${(e) => setReason(e.target.value)} />
      <button class="danger" data-testid="block-pc" onClick=${block}>Block now</button>
      <button class="ghost" data-testid="unblock-pc" onClick=${unblock}>Unblock</button>
    </div></div>`}
  <div class="toolbar"><${PeriodPicker} value=${period} onChange=${setPeriod} /></div>
  <div class="grid">
    <div class="card wide"><h2>Traffic</h2><${TrafficChart} points=${traffic || []} period=${p} testid="pc-traffic" /></div>
    <div class="card wide"><h2>Sites visited</h2><${Table} rows=${hosts || []} columns=${[
      { key: 'host', label: 'Host' },
      { key: 'site', label: 'Site', render: (r) => siteLink(r.site) },
      { key: 'via', label: 'Named by' },
      { key: 'down_bytes', label: 'Down', num: true, render: (r) => bytes(r.down_bytes) },
      { key: 'up_bytes', label: 'Up', num: true, render: (r) => bytes(r.up_bytes) },
    ]} /></div>
    ${me.role !== 'manager' && html`<div class="card wide"><h2>DNS log</h2><${QueryTable} rows=${dns || []} /></div>
    <div class="card wide"><h2>Unexplained traffic</h2><${Table} rows=${unexplained || []}
      empty="None: every flow of this PC is explained by a name it looked up." columns=${[
        { key: 'remote', label: 'Remote', render: (r) => `${r.remote}:${r.port}` },
        { key: 'reason', label: 'Why' },
        { key: 'name', label: 'Claimed name' },
        { key: 'last_ms', label: 'Last seen', render: (r) => when(r.last_ms) },
        { key: 'total', label: 'Traffic', num: true, sortValue: total, render: (r) => bytes(total(r)) },
      ]} /></div>`}
  </div>`;
}

function QueryTable({ rows }) {
  return html`<${Table} testid="queries" rows=${rows} empty="No queries." columns=${[
    { key: 'at_ms', label: 'When', render: (r) => when(r.at_ms) },
    { key: 'pc', label: 'PC', render: (r) => (r.pc ? pcLink(r.pc) : r.client) },
    { key: 'name', label: 'Name' },
    { key: 'qtype', label: 'Type' },
    // Identical queries of a PC within a second are one row (browsers repeat themselves).
    { key: 'count', label: 'Times', num: true, render: (r) => (r.count > 1 ? `×${r.count}` : '') },
    { key: 'verdict', label: 'Verdict', render: (r) => html`<${Tag} value=${r.verdict} />` },
    { key: 'rule', label: 'Rule', render: (r) => r.rule || '' },
    { key: 'latency_us', label: 'ms', num: true, render: (r) => (r.latency_us / 1000).toFixed(1) },
  ]} />`;
}

export function Sites() {
  const [period, setPeriod] = useState({ kind: 'day' });
  const p = periodParams(period);
  const [sites, err] = useLoad(() => get(`/api/v1/sites${qs({ ...p, limit: 500 })}`), [JSON.stringify(period)]);
  return html`<h1>Sites</h1>
  <div class="toolbar"><${PeriodPicker} value=${period} onChange=${setPeriod} /></div>
  <${Err} msg=${err} />
  <div class="card"><${Table} testid="sites-table" rows=${sites || []} columns=${[
    { key: 'site', label: 'Site', render: (r) => siteLink(r.site) },
    { key: 'pcs', label: 'PCs', num: true },
    { key: 'down_bytes', label: 'Down', num: true, render: (r) => bytes(r.down_bytes) },
    { key: 'up_bytes', label: 'Up', num: true, render: (r) => bytes(r.up_bytes) },
  ]} /></div>`;
}

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

export function Queries() {
  const [f, setF] = useState({ client: '', name: '', verdict: '', page: 0 });
  const size = 100;
  const [rows, err] = useLoad(() => get(`/api/v1/queries${qs({
    client: f.client, name: f.name, verdict: f.verdict, limit: size, offset: f.page * size,
  })}`), [JSON.stringify(f)]);
  const set = (k) => (e) => setF({ ...f, [k]: e.target.value, page: 0 });
  return html`<h1>Query log</h1>
  <div class="toolbar">
    <input placeholder="PC or address" value=${f.client} onChange=${set('client')} />
    <input placeholder="Name contains" value=${f.name} onChange=${set('name')} data-testid="query-name" />
    <select value=${f.verdict} onChange=${set('verdict')}>
      <option value="">all verdicts</option><option value="allowed">allowed</option><option value="blocked">blocked</option>
    </select>
    <button class="ghost" disabled=${f.page === 0} onClick=${() => setF({ ...f, page: f.page - 1 })}>Newer</button>
    <button class="ghost" disabled=${(rows || []).length < size} onClick=${() => setF({ ...f, page: f.page + 1 })}>Older</button>
    <a href="/api/v1/queries${qs({ client: f.client, name: f.name, verdict: f.verdict, limit: 100000, format: 'csv' })}">CSV</a>
  </div>
  <${Err} msg=${err} />
  <div class="card"><${QueryTable} rows=${rows || []} /></div>`;
}

// Runs a policy change, then reports it and reloads the view once the daemon applied it.
function useChange(reload) {
  const [msg, setMsg] = useState(null);
  const run = async (fn, done) => {
    setMsg(null);
    try {
      await fn();
      setMsg({ ok: done });
      setTimeout(reload, 1200);
    } catch (e) {
      setMsg({ err: e.message });
    }
  };
  return [msg, run];
}

const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);

function AddRule({ group, pol, change }) {
  const [r, setR] = useState({ action: 'block', kind: 'domains', value: '', schedule: '' });
  const cats = pol.lists.filter((l) => l.category).map((l) => l.name);
  const lists = pol.lists.filter((l) => !l.category).map((l) => l.name);
  const submit = (e) => {
    e.preventDefault();
    const body = { action: r.action, schedule: r.schedule || undefined, [r.kind]: list(r.value) };
    change(() => post(`/api/v1/groups/${encodeURIComponent(group)}/rules`, body),
      `${r.action} ${r.value} for ${group}: saved to office.toml.`);
  };
  const choices = r.kind === 'categories' ? cats : r.kind === 'lists' ? lists : null;
  return html`<form class="toolbar noprint" style="margin:.3rem 0" onSubmit=${submit} data-testid="add-rule-${group}">
    <select value=${r.action} onChange=${(e) => setR({ ...r, action: e.target.value })}>
      <option value="block">block</option><option value="allow">allow</option></select>
    <select value=${r.kind} onChange=${(e) => setR({ ...r, kind: e.target.value, value: '' })}>
      <option value="domains">site</option><option value="categories">category</option><option value="lists">list</option></select>
    ${choices ? html`<select value=${r.value} onChange=${(e) => setR({ ...r, value: e.target.value })}>
        <option value="">choose…</option>${choices.map((c) => html`<option>${c}</option>`)}</select>`
      : html`<input placeholder="example.com, other.com" value=${r.value} onInput=${(e) => setR({ ...r, value: e.target.value })} />`}
    <select value=${r.schedule} onChange=${(e) => setR({ ...r, schedule: e.target.value })}>
      <option value="">always</option>${pol.schedules.map((s) => s.split(':')[0]).map((n) => html`<option value=${n}>during ${n}</option>`)}</select>
    <button type="submit">Add rule</button>
  </form>`;
}

function GroupTree({ groups, parent, pol, edit, change }) {
  const kids = groups.filter((g) => (g.parent || null) === parent);
  if (!kids.length) return null;
  const remove = (g, r) => change(() => del(`/api/v1/groups/${encodeURIComponent(g.name)}/rules/${r.index}`),
    `Rule removed from ${g.name}.`);
  return html`<ul>${kids.map((g) => html`<li><b>${g.name}</b>
    ${g.safe_search !== null && g.safe_search !== undefined ? html` <span class="tag">safe search ${g.safe_search ? 'on' : 'off'}</span>` : ''}
    ${g.pcs.length ? html` <span class="mute">PCs: ${g.pcs.join(', ')}</span>` : ''}
    <ul>${g.rules.map((r) => html`<li><${Tag} value=${r.action === 'block' ? 'blocked' : 'allowed'} />${' '}
      ${`${r.action} ${[...r.lists.map((x) => `list ${x}`), ...r.categories.map((x) => `category ${x}`), ...r.domains, ...r.addresses].join(', ')}${r.schedule ? ` during ${r.schedule}` : ''} `}
      <span class="mute">(line ${r.line})</span>
      ${edit && html`${' '}<button class="ghost x noprint" title="Remove this rule" onClick=${() => remove(g, r)}>✕</button>`}</li>`)}</ul>
    ${edit && html`<${AddRule} group=${g.name} pol=${pol} change=${change} />`}
    <${GroupTree} groups=${groups} parent=${g.name} pol=${pol} edit=${edit} change=${change} /></li>`)}</ul>`;
}

function LimitForm({ pol, change, admin }) {
  const [l, setL] = useState({ kind: 'group', name: '', per: 'day', bytes: '' });
  const names = l.kind === 'group' ? pol.groups.map((g) => g.name) : pol.groups.flatMap((g) => g.pcs);
  const body = (bytes) => ({
    per: l.per, bytes, ...(l.kind === 'company' ? { company: true } : { [l.kind]: l.name }),
  });
  const target = l.kind === 'company' ? 'the company' : l.name;
  return html`<form class="toolbar noprint" onSubmit=${(e) => { e.preventDefault(); change(() => call_put('/api/v1/limits', body(l.bytes)), `Limit for ${target} saved.`); }}>
    <select value=${l.kind} onChange=${(e) => setL({ ...l, kind: e.target.value, name: '' })}>
      <option value="group">group</option><option value="pc">PC</option>${admin && html`<option value="company">company</option>`}</select>
    ${l.kind !== 'company' && html`<select value=${l.name} onChange=${(e) => setL({ ...l, name: e.target.value })}>
      <option value="">choose…</option>${names.map((n) => html`<option>${n}</option>`)}</select>`}
    <select value=${l.per} onChange=${(e) => setL({ ...l, per: e.target.value })}><option>day</option><option>month</option></select>
    <input placeholder="e.g. 2 GB" value=${l.bytes} onInput=${(e) => setL({ ...l, bytes: e.target.value })} style="width:7rem" />
    <button type="submit">Set limit</button>
    <button type="button" class="ghost" onClick=${() => change(() => call_put('/api/v1/limits', body(null)), `Limit for ${target} removed.`)}>Remove</button>
  </form>`;
}

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

function ScheduleForm({ change }) {
  const [s, setS] = useState({ name: '', days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', until: '18:00' });
  const toggle = (d) => setS({ ...s, days: s.days.includes(d) ? s.days.filter((x) => x !== d) : [...s.days, d] });
  return html`<form class="toolbar noprint" onSubmit=${(e) => { e.preventDefault(); change(() => call_put(`/api/v1/schedules/${encodeURIComponent(s.name)}`, { days: s.days, from: s.from, until: s.until }), `Schedule ${s.name} saved.`); }}>
    <input placeholder="name" value=${s.name} onInput=${(e) => setS({ ...s, name: e.target.value })} style="width:8rem" />
    ${DAYS.map((d) => html`<label><input type="checkbox" checked=${s.days.includes(d)} onChange=${() => toggle(d)} />${d}</label>`)}
    <input type="time" value=${s.from} onInput=${(e) => setS({ ...s, from: e.target.value })} />–
    <input type="time" value=${s.until} onInput=${(e) => setS({ ...s, until: e.target.value })} />
    <button type="submit">Save schedule</button>
  </form>`;
}

export function Policy({ me }) {
  const [pol, err, reload] = useLoad(() => get('/api/v1/policy'), [], 10000);
  const [msg, change] = useChange(reload);
  const edit = me.role === 'admin' || me.role === 'manager';
  const [reloads] = useLoad(() => get('/api/v1/events?source=policy&limit=5'), [], 10000);
  const [q, setQ] = useState({ pc: '', domain: '', at: '' });
  const [answer, setAnswer] = useState(null);
  const explain = async (e) => {
    e.preventDefault();
    try {
      setAnswer(await get(`/api/v1/explain${qs({ ...q, at: q.at.replace('T', ' ') })}`));
    } catch (x) {
      setAnswer({ error: x.message });
    }
  };
  const last = (reloads || []).slice(-1)[0];
  const timed = (rows) => html`<${Table} rows=${rows} empty="None." columns=${[
    { key: 'target', label: 'For' }, { key: 'detail', label: 'What' },
    { key: 'until', label: 'Until', render: (r) => r.until || '—' },
    { key: 'active', label: 'Now', render: (r) => html`<${Tag} value=${r.active ? 'active' : 'ended'} />` },
  ]} />`;
  return html`<h1>Policy</h1>
  <${Err} msg=${err || (msg && msg.err)} />
  ${msg && msg.ok && html`<div class="ok" role="status">${msg.ok}</div>`}
  ${last && last.kind === 'reload_failed' && html`<div class="err">The last reload failed (${when(last.at_ms)}); the previous policy stays in force:<pre>${last.message}</pre></div>`}
  <div class="card" style="margin-bottom:1rem"><h2>Test a domain for a PC at a time</h2>
    <form class="toolbar" style="margin:0" onSubmit=${explain}>
      <input placeholder="PC" value=${q.pc} onInput=${(e) => setQ({ ...q, pc: e.target.value })} data-testid="explain-pc" />
      <input placeholder="domain" value=${q.domain} onInput=${(e) => setQ({ ...q, domain: e.target.value })} data-testid="explain-domain" />
      <input type="datetime-local" value=${q.at} onInput=${(e) => setQ({ ...q, at: e.target.value })} />
      <button type="submit">Explain</button>
    </form>
    ${answer && (answer.error ? html`<${Err} msg=${answer.error} />` : html`<p data-testid="explain-answer">
      <${Tag} value=${answer.verdict} /> for ${answer.pc || '?'} (group ${answer.group}) at ${answer.at}:
      ${answer.rule || 'no rule matched'}${answer.matched ? html` — <span class="mute">${answer.matched}</span>` : ''}</p>`)}
  </div>
  ${pol && html`<div class="grid">
    <div class="card tree wide"><h2>Groups (time zone ${pol.time_zone})</h2><${GroupTree} groups=${pol.groups} parent=${null}
      pol=${pol} edit=${edit} change=${change} /></div>
    <div class="card"><h2>Lists and categories</h2><${Table} rows=${pol.lists} columns=${[
      { key: 'name', label: 'Name', render: (l) => html`${l.name} <span class="mute">${l.category ? 'category' : 'list'}</span>` },
      { key: 'description', label: 'Description' },
      { key: 'rules', label: 'Rules', num: true, sortValue: (l) => l.files.reduce((a, f) => a + f.rules, 0), render: (l) => l.files.reduce((a, f) => a + f.rules, 0).toLocaleString() },
      { key: 'modified', label: 'Updated', render: (l) => when(Math.max(...l.files.map((f) => f.modified_ms || 0))) },
    ]} /></div>
    <div class="card"><h2>Schedules</h2>${pol.schedules.length ? html`<ul>${pol.schedules.map((s) => html`<li>${s}</li>`)}</ul>` : html`<p class="mute">None.</p>`}
      ${me.role === 'admin' && html`<${ScheduleForm} change=${change} />`}</div>
    <div class="card"><h2>Traffic limits</h2>${timed(pol.limits)}
      ${edit && html`<${LimitForm} pol=${pol} change=${change} admin=${me.role === 'admin'} />`}</div>
    <div class="card"><h2>Blocked by hand</h2>${timed(pol.blocks)}</div>
    <div class="card"><h2>Timed exceptions</h2>${timed(pol.exceptions)}</div>
  </div>`}
  ${me.role === 'admin' && html`<p class="mute">Policies are the files in the policy directory; changes made here are written into office.toml.</p>`}`;
}

export function Requests({ me }) {
  const [rows, err, reload] = useLoad(() => get('/api/v1/requests'), [], 5000);
  const [hours, setHours] = useState(8);
  const [msg, setMsg] = useState(null);
  const decide = async (r, verdict, wholeGroup) => {
    setMsg(null);
    try {
      const body = verdict === 'approve' ? { hours: Number(hours), whole_group: !!wholeGroup } : {};
      await post(`/api/v1/requests/${r.id}/${verdict}`, body);
      setMsg({ ok: `Request #${r.id} ${verdict === 'approve' ? 'approved' : 'refused'}.` });
      reload();
    } catch (e) {
      setMsg({ err: e.message });
    }
  };
  const may = me.role !== 'auditor';
  return html`<h1>Access requests</h1>
  <div class="toolbar">Approve for <input type="number" min="1" max="744" value=${hours} style="width:5rem"
    onInput=${(e) => setHours(e.target.value)} /> hours</div>
  <${Err} msg=${err || (msg && msg.err)} />
  ${msg && msg.ok && html`<div class="ok" role="status">${msg.ok}</div>`}
  <div class="card"><${Table} testid="requests" rows=${rows || []} empty="No requests." columns=${[
    { key: 'id', label: '#', num: true },
    { key: 'at_ms', label: 'Asked', render: (r) => when(r.at_ms) },
    { key: 'pc', label: 'PC', render: (r) => pcLink(r.pc) },
    { key: 'domain', label: 'Site' },
    { key: 'reason', label: 'Reason' },
    { key: 'blocked_by', label: 'Blocked by' },
    { key: 'state', label: 'State', render: (r) => html`<${Tag} value=${r.state} />${r.until ? html` <span class="mute">until ${r.until}</span>` : ''}${r.decided_by ? html` <span class="mute">by ${r.decided_by}</span>` : ''}` },
    { key: 'act', label: '', render: (r) => (may && r.state === 'pending' ? html`
      <button data-testid="approve-${r.id}" onClick=${() => decide(r, 'approve')}>Approve</button>
      ${me.role === 'admin' && html` <button class="ghost" onClick=${() => decide(r, 'approve', true)}>Approve for group</button>`}
      <button class="ghost" onClick=${() => decide(r, 'refuse')}>Refuse</button>` : '') },
  ]} /></div>`;
}

export function Channels() {
  const [wan, err] = useLoad(() => get('/api/v1/wan'), [], 5000);
  const status = wan && wan.status;
  return html`<h1>Internet channels</h1><${Err} msg=${err} />
  <div class="card" style="margin-bottom:1rem">${status ? html`<p>Active: <b>${status.active || '—'}</b>
    ${status.all_down ? html` <${Tag} value="down" /> every channel is down` : ''} · switches since start: ${status.switches}
    · updated ${when(status.updated_ms)}</p>
    <${Table} rows=${status.channels} columns=${[
      { key: 'name', label: 'Channel' }, { key: 'interface', label: 'Interface' }, { key: 'priority', label: 'Priority', num: true },
      { key: 'state', label: 'State', render: (c) => html`<${Tag} value=${c.state} />${c.active ? html` <${Tag} value="active" />` : ''}` },
      { key: 'since_ms', label: 'Since', render: (c) => when(c.since_ms) },
      { key: 'reason', label: 'Why' },
      { key: 'latency_ms', label: 'Latency', num: true, render: (c) => (c.latency_ms == null ? '' : `${c.latency_ms.toFixed(1)} ms`) },
      { key: 'loss_pct', label: 'Loss', num: true, render: (c) => `${c.loss_pct.toFixed(0)} %` },
      { key: 'bytes_in', label: 'In', num: true, render: (c) => bytes(c.bytes_in) },
      { key: 'bytes_out', label: 'Out', num: true, render: (c) => bytes(c.bytes_out) },
    ]} />` : html`<p class="mute">Failover is not configured ([wan] in officegate.toml).</p>`}</div>
  <div class="card"><h2>Failover history</h2><${Table} rows=${[...((wan && wan.events) || [])].reverse()} columns=${[
    { key: 'at_ms', label: 'When', render: (r) => when(r.at_ms) },
    { key: 'kind', label: 'What' }, { key: 'subject', label: 'Channel' }, { key: 'message', label: 'Message' },
  ]} /></div>`;
}

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

export function History() {
  const [rows, err] = useLoad(() => get('/api/v1/actions?limit=500'), [], 10000);
  return html`<h1>Action history</h1><${Err} msg=${err} />
  <div class="card"><${Table} testid="history" rows=${rows || []} columns=${[
    { key: 'at_ms', label: 'When', render: (r) => when(r.at_ms) },
    { key: 'actor', label: 'Who' }, { key: 'action', label: 'What' }, { key: 'subject', label: 'On' },
    { key: 'details', label: 'Details', render: (r) => html`<code>${JSON.stringify(r.details)}</code>` },
  ]} /></div>`;
}

export function Users({ me }) {
  const [rows, err, reload] = useLoad(() => get('/api/v1/users'), []);
  const [u, setU] = useState({ name: '', password: '', role: 'auditor', scope: '' });
  const [msg, setMsg] = useState(null);
  const add = async (e) => {
    e.preventDefault();
    try {
      await post('/api/v1/users', { name: u.name, password: u.password, role: u.role, scope: u.scope || undefined });
      setMsg({ ok: `User ${u.name} added.` });
      setU({ name: '', password: '', role: 'auditor', scope: '' });
      reload();
    } catch (x) {
      setMsg({ err: x.message });
    }
  };
  return html`<h1>Users</h1><${Err} msg=${err || (msg && msg.err)} />
  ${msg && msg.ok && html`<div class="ok">${msg.ok}</div>`}
  ${me.role === 'admin' && html`<form class="card toolbar" onSubmit=${add}>
    <input placeholder="name" value=${u.name} onInput=${(e) => setU({ ...u, name: e.target.value })} />
    <input type="password" placeholder="password" value=${u.password} onInput=${(e) => setU({ ...u, password: e.target.value })} />
    <select value=${u.role} onChange=${(e) => setU({ ...u, role: e.target.value })}>
      <option>admin</option><option>auditor</option><option>manager</option></select>
    ${u.role === 'manager' && html`<input placeholder="group (scope)" value=${u.scope} onInput=${(e) => setU({ ...u, scope: e.target.value })} />`}
    <button type="submit">Add user</button></form>`}
  <div class="card"><${Table} rows=${rows || []} columns=${[
    { key: 'name', label: 'Name' }, { key: 'role', label: 'Role' }, { key: 'scope', label: 'Scope', render: (r) => r.scope || '' },
  ]} /></div>`;
}
