// Every device the gateway knows on the LAN (one per MAC, with all its addresses): the PCs the policy lists and the
// ones it does not (a guest's phone, a PC with a new address), which fall into the group
// the policy names for unknown devices. Placing one in a group is an edit of office.toml.

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get } from '../api.js';
import { bytes, Table, Tag, useLoad, Err, pcLink, total } from '../widgets.js';

export function Devices() {
  const [filter, setFilter] = useState('');
  const [devices, err] = useLoad(() => get('/api/v1/devices'), [], 10000);
  const f = filter.toLowerCase();
  const rows = (devices || []).filter((d) => !f || d.name.toLowerCase().includes(f)
    || d.mac.includes(f) || d.group.toLowerCase().includes(f) || d.addresses.join(' ').includes(f));
  const unlisted = rows.filter((d) => !d.pc).length;
  return html`<h1>Devices</h1>
  <p class="mute">${rows.length} devices, ${unlisted} not listed in the policy (they get the
    rules of the group it names for unknown devices).</p>
  <div class="toolbar"><input placeholder="Filter by name, MAC, group, address" value=${filter}
    onInput=${(e) => setFilter(e.target.value)} /></div>
  <${Err} msg=${err} />
  <div class="card"><${Table} testid="devices-table" rows=${rows} columns=${[
    { key: 'name', label: 'Name', render: (r) => (r.pc ? pcLink(r.pc) : r.name) },
    { key: 'mac', label: 'MAC', render: (r) => r.mac || '—' },
    { key: 'dhcp_name', label: 'DHCP name', render: (r) => r.dhcp_name || '—' },
    { key: 'addresses', label: 'Addresses', render: (r) => r.addresses.join(', ') },
    { key: 'pc', label: 'In the policy', render: (r) => (r.pc ? 'yes' : html`<${Tag} value="unlisted" />`) },
    { key: 'group', label: 'Group' },
    { key: 'traffic', label: 'Traffic', num: true, render: (r) => bytes(total(r)) },
    { key: 'state', label: 'State', render: (r) => html`<${Tag} value=${r.state} />` },
    // New connections it sent with another device's address: counted as its own.
    { key: 'spoofed', label: 'Forged addresses', num: true, render: (r) => (r.spoofed ? html`<${Tag} value="spoofing" /> ${r.spoofed}` : '—') },
  ]} /></div>`;
}
