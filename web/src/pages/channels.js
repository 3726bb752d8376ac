// The internet channels (failover): each channel's state, latency, loss and bytes, and the
// history of switches.

import { html } from 'htm/preact';
import { get } from '../api.js';
import { bytes, when, Table, Tag, useLoad, Err } from '../widgets.js';

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
