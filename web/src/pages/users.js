// The users of the admin UI and their roles; an admin adds new ones here.

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get, post, may } from '../api.js';
import { Table, useLoad, Err } from '../widgets.js';

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
  ${may(me, 'POST /api/v1/users') && html`<form class="card toolbar" data-testid="add-user" onSubmit=${add}>
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
