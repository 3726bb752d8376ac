// The sites the office used in a period, with how many PCs and how much traffic.

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get, qs } from '../api.js';
import { bytes, Table, PeriodPicker, periodParams, useLoad, Err, siteLink } from '../widgets.js';

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
