// Every device the gateway knows on the LAN (one per MAC, with all its addresses): the PCs the policy lists and the
// ones it does not (a guest's phone, a PC with a new address), which fall into the group
// the policy names for unknown devices. An admin names a device and places it in a group
// here: the server writes it into office.toml as a PC known by its MAC, checked first.

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get, put, may } from '../api.js';
import { bytes, when, Table, Tag, useLoad, Err, pcLink, total } from '../widgets.js';

// The form that names the device `d` and puts it in a group.
function PlaceForm({ d, groups, onDone, onCancel }) {
  const [name, setName] = useState(d.pc || d.dhcp_name || '');
  const [group, setGroup] = useState(d.pc ? d.group : '');
  const [err, setErr] = useState(null);
  const save = async (e) => {
    e.preventDefault();
    setErr(null);
    try {
      await put(`/api/v1/devices/${encodeURIComponent(d.mac)}`, { name, group: group || undefined });
      onDone(`${name} (${d.mac}) is placed in ${group || 'default'}; its rules apply within a second.`);
    } catch (x) {
      setErr(x.message);
    }
  };
  return html`<form class="card" data-testid="place-device" onSubmit=${save} style="margin-bottom:1rem">
    <h2>Place device ${d.mac}</h2>
    <p class="mute">Written into office.toml as a PC known by its MAC: every address it takes is this PC.</p>
    <${Err} msg=${err} />
    <div class="toolbar" style="margin:0">
      <input name="name" placeholder="PC name" value=${name} onInput=${(e) => setName(e.target.value)} required />
      <select name="group" value=${group} onChange=${(e) => setGroup(e.target.value)}>
        <option value="">default (no rules)</option>
        ${groups.map((g) => html`<option value=${g}>${g}</option>`)}
      </select>
      <button type="submit">Save</button>
      <button type="button" class="ghost" onClick=${onCancel}>Cancel</button>
    </div></form>`;
}

export function Devices({ me }) {
  const [filter, setFilter] = useState('');
  const [placing, setPlacing] = useState(null);
  const [done, setDone] = useState(null);
  const canPlace = may(me, 'PUT /api/v1/devices/{mac}');
  const [devices, err, reload] = useLoad(() => get('/api/v1/devices'), [], 10000);
  const [policy] = useLoad(() => (canPlace ? get('/api/v1/policy') : Promise.resolve(null)), [canPlace]);
  const groups = ((policy && policy.groups) || []).map((g) => g.name);
  const f = filter.toLowerCase();
  const rows = (devices || []).filter((d) => !f || d.name.toLowerCase().includes(f)
    || d.mac.includes(f) || d.group.toLowerCase().includes(f) || d.addresses.join(' ').includes(f));
  const unlisted = rows.filter((d) => !d.pc).length;
  const placed = (msg) => {
    setPlacing(null);
    setDone(msg);
    setTimeout(reload, 1500);
  };
  const columns = [
    { key: 'name', label: 'Name', render: (r) => (r.pc ? pcLink(r.pc) : r.name) },
    { key: 'mac', label: 'MAC', render: (r) => r.mac || '—' },
    { key: 'dhcp_name', label: 'DHCP name', render: (r) => r.dhcp_name || '—' },
    { key: 'addresses', label: 'Addresses', render: (r) => r.addresses.join(', ') },
    { key: 'pc', label: 'In the policy', render: (r) => (r.pc ? 'yes' : html`<${Tag} value="unlisted" />`) },
    { key: 'group', label: 'Group' },
    { key: 'first_seen_ms', label: 'First seen', render: (r) => when(r.first_seen_ms) },
    { key: 'last_seen_ms', label: 'Last seen', render: (r) => when(r.last_seen_ms) },
    { key: 'traffic', label: 'Traffic', num: true, render: (r) => bytes(total(r)) },
    { key: 'state', label: 'State', render: (r) => html`<${Tag} value=${r.state} />` },
    // New connections it sent with another device's address: counted as its own.
    { key: 'spoofed', label: 'Forged addresses', num: true, render: (r) => (r.spoofed ? html`<${Tag} value="spoofing" /> ${r.spoofed}` : '—') },
  ];
  if (canPlace) {
    columns.push({
      key: 'place',
      label: '',
      render: (r) => (r.mac ? html`<button class="ghost" data-testid=${`place-${r.mac}`}
        onClick=${() => { setDone(null); setPlacing(r); }}>${r.pc ? 'Edit' : 'Place'}</button>` : ''),
    });
  }
  return html`<h1>Devices</h1>
  <p class="mute">${rows.length} devices, ${unlisted} not listed in the policy (they get the
    rules of the group it names for unknown devices).</p>
  <div class="toolbar"><input placeholder="Filter by name, MAC, group, address" value=${filter}
    onInput=${(e) => setFilter(e.target.value)} /></div>
  <${Err} msg=${err} />
  ${done && html`<div class="ok" role="status">${done}</div>`}
  ${placing && html`<${PlaceForm} d=${placing} groups=${groups} key=${placing.mac}
    onDone=${placed} onCancel=${() => setPlacing(null)} />`}
  <div class="card"><${Table} testid="devices-table" rows=${rows} columns=${columns} /></div>`;
}
