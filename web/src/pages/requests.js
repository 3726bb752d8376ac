// Access requests from the block page: approve for some hours (or for the PC's whole group)
// or refuse; the queue refreshes on its own.

import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { get, post, may } from '../api.js';
import { when, Table, Tag, useLoad, Err, pcLink } from '../widgets.js';

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
  const approve = may(me, 'POST /api/v1/requests/{id}/approve');
  const refuse = may(me, 'POST /api/v1/requests/{id}/refuse');
  // Approving for the PC's whole group is the same route with `whole_group` in its body,
  // which the server grants admins only: no route of its own for `may` to name, so this
  // one choice still asks the role.
  const wholeGroup = approve && me.role === 'admin';
  return html`<h1>Access requests</h1>
  ${approve && html`<div class="toolbar">Approve for <input type="number" min="1" max="744" value=${hours} style="width:5rem"
    onInput=${(e) => setHours(e.target.value)} /> hours</div>`}
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
    { key: 'act', label: '', render: (r) => (r.state === 'pending' ? html`
      ${approve && html`<button data-testid="approve-${r.id}" onClick=${() => decide(r, 'approve')}>Approve</button>`}
      ${wholeGroup && html` <button class="ghost" data-testid="approve-group-${r.id}" onClick=${() => decide(r, 'approve', true)}>Approve for group</button>`}
      ${refuse && html` <button class="ghost" data-testid="refuse-${r.id}" onClick=${() => decide(r, 'refuse')}>Refuse</button>`}` : '') },
  ]} /></div>`;
}
