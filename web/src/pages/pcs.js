// The PCs: every PC the user may see (a manager's are their department's), filterable,
// with today's and this month's traffic and its state.

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get } from '../api.js';
import { bytes, Table, Tag, useLoad, Err, pcLink } from '../widgets.js';

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
