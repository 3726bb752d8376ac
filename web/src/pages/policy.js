// The policy: test a domain for a PC at a time, the group tree with its rules (adding and
// removing them), lists and categories, schedules, traffic limits, blocks and exceptions.
// Each form shows when its route is open to the user (`may`); the handlers keep a manager
// to their department's groups and PCs.

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get, post, put, del, qs, may } from '../api.js';
import { when, Table, Tag, useLoad, Err } from '../widgets.js';

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

// `edit`: { add, remove }, whether the user may add rules to a group and remove them.
function GroupTree({ groups, parent, pol, edit, change }) {
  const kids = groups.filter((g) => (g.parent || null) === parent);
  if (!kids.length) return null;
  const remove = (g, r) => change(() => del(`/api/v1/groups/${encodeURIComponent(g.name)}/rules/${r.index}?id=${encodeURIComponent(r.id)}`),
    `Rule removed from ${g.name}.`);
  return html`<ul>${kids.map((g) => html`<li><b>${g.name}</b>
    ${g.safe_search !== null && g.safe_search !== undefined ? html` <span class="tag">safe search ${g.safe_search ? 'on' : 'off'}</span>` : ''}
    ${g.pcs.length ? html` <span class="mute">PCs: ${g.pcs.join(', ')}</span>` : ''}
    <ul>${g.rules.map((r) => html`<li><${Tag} value=${r.action === 'block' ? 'blocked' : 'allowed'} />${' '}
      ${`${r.action} ${[...r.lists.map((x) => `list ${x}`), ...r.categories.map((x) => `category ${x}`), ...r.domains, ...r.addresses].join(', ')}${r.schedule ? ` during ${r.schedule}` : ''} `}
      <span class="mute">(line ${r.line})</span>
      ${edit.remove && html`${' '}<button class="ghost x noprint" title="Remove this rule" onClick=${() => remove(g, r)}>✕</button>`}</li>`)}</ul>
    ${edit.add && html`<${AddRule} group=${g.name} pol=${pol} change=${change} />`}
    <${GroupTree} groups=${groups} parent=${g.name} pol=${pol} edit=${edit} change=${change} /></li>`)}</ul>`;
}

function LimitForm({ pol, change, company }) {
  const [l, setL] = useState({ kind: 'group', name: '', per: 'day', bytes: '' });
  const names = l.kind === 'group' ? pol.groups.map((g) => g.name) : pol.groups.flatMap((g) => g.pcs);
  const body = (bytes) => ({
    per: l.per, bytes, ...(l.kind === 'company' ? { company: true } : { [l.kind]: l.name }),
  });
  const target = l.kind === 'company' ? 'the company' : l.name;
  return html`<form class="toolbar noprint" data-testid="limit-form" onSubmit=${(e) => { e.preventDefault(); change(() => put('/api/v1/limits', body(l.bytes)), `Limit for ${target} saved.`); }}>
    <select value=${l.kind} onChange=${(e) => setL({ ...l, kind: e.target.value, name: '' })}>
      <option value="group">group</option><option value="pc">PC</option>${company && html`<option value="company">company</option>`}</select>
    ${l.kind !== 'company' && html`<select value=${l.name} onChange=${(e) => setL({ ...l, name: e.target.value })}>
      <option value="">choose…</option>${names.map((n) => html`<option>${n}</option>`)}</select>`}
    <select value=${l.per} onChange=${(e) => setL({ ...l, per: e.target.value })}><option>day</option><option>month</option></select>
    <input placeholder="e.g. 2 GB" value=${l.bytes} onInput=${(e) => setL({ ...l, bytes: e.target.value })} style="width:7rem" />
    <button type="submit">Set limit</button>
    <button type="button" class="ghost" onClick=${() => change(() => put('/api/v1/limits', body(null)), `Limit for ${target} removed.`)}>Remove</button>
  </form>`;
}

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

function ScheduleForm({ change }) {
  const [s, setS] = useState({ name: '', days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', until: '18:00' });
  const toggle = (d) => setS({ ...s, days: s.days.includes(d) ? s.days.filter((x) => x !== d) : [...s.days, d] });
  return html`<form class="toolbar noprint" data-testid="schedule-form" onSubmit=${(e) => { e.preventDefault(); change(() => put(`/api/v1/schedules/${encodeURIComponent(s.name)}`, { days: s.days, from: s.from, until: s.until }), `Schedule ${s.name} saved.`); }}>
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
  const edit = {
    add: may(me, 'POST /api/v1/groups/{group}/rules'),
    remove: may(me, 'DELETE /api/v1/groups/{group}/rules/{index}'),
  };
  const limits = may(me, 'PUT /api/v1/limits');
  // A company-wide limit is the same PUT /api/v1/limits with `company: true` in its body,
  // which the server grants admins only: no route of its own for `may` to name, so this
  // one choice still asks the role.
  const company = me.role === 'admin';
  const events = may(me, 'GET /api/v1/events');
  const [reloads] = useLoad(() => (events ? get('/api/v1/events?source=policy&limit=5') : Promise.resolve([])), [], 10000);
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
  ${may(me, 'GET /api/v1/explain') && html`<div class="card" style="margin-bottom:1rem"><h2>Test a domain for a PC at a time</h2>
    <form class="toolbar" style="margin:0" onSubmit=${explain}>
      <input placeholder="PC" value=${q.pc} onInput=${(e) => setQ({ ...q, pc: e.target.value })} data-testid="explain-pc" />
      <input placeholder="domain" value=${q.domain} onInput=${(e) => setQ({ ...q, domain: e.target.value })} data-testid="explain-domain" />
      <input type="datetime-local" value=${q.at} onInput=${(e) => setQ({ ...q, at: e.target.value })} />
      <button type="submit">Explain</button>
    </form>
    ${answer && (answer.error ? html`<${Err} msg=${answer.error} />` : html`<p data-testid="explain-answer">
      <${Tag} value=${answer.verdict} /> for ${answer.pc || '?'} (group ${answer.group}) at ${answer.at}:
      ${answer.rule || 'no rule matched'}${answer.matched ? html` — <span class="mute">${answer.matched}</span>` : ''}</p>`)}
  </div>`}
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
      ${may(me, 'PUT /api/v1/schedules/{name}') && html`<${ScheduleForm} change=${change} />`}</div>
    <div class="card"><h2>Traffic limits</h2>${timed(pol.limits)}
      ${limits && html`<${LimitForm} pol=${pol} change=${change} company=${company} />`}</div>
    <div class="card"><h2>Blocked by hand</h2>${timed(pol.blocks)}</div>
    <div class="card"><h2>Timed exceptions</h2>${timed(pol.exceptions)}</div>
  </div>`}
  ${(edit.add || limits) && html`<p class="mute">Policies are the files in the policy directory; changes made here are written into office.toml.</p>`}`;
}
