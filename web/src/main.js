// Officegate admin UI: log-in, the navigation, and a hash router over the pages.
// Preact + htm (no JSX step; esbuild only bundles), Chart.js for charts.

import { html, render } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import { get, post, setCsrf } from './api.js';
import {
  Dashboard, Pcs, PcPage, Sites, SitePage, Queries, Policy, Requests, Channels, Reports, History, Users,
} from './pages.js';

const NAV = [
  ['#/', 'Dashboard', null],
  ['#/pcs', 'PCs', null],
  ['#/sites', 'Sites', ['admin', 'auditor']],
  ['#/queries', 'Query log', ['admin', 'auditor']],
  ['#/requests', 'Requests', null],
  ['#/policy', 'Policy', ['admin', 'auditor', 'manager']],
  ['#/channels', 'Channels', ['admin', 'auditor']],
  ['#/reports', 'Reports', ['admin', 'auditor']],
  ['#/history', 'History', ['admin', 'auditor']],
  ['#/users', 'Users', ['admin', 'auditor']],
];

function useHash() {
  const [hash, setHash] = useState(window.location.hash || '#/');
  useEffect(() => {
    const on = () => setHash(window.location.hash || '#/');
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function Login({ onIn }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [err, setErr] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setErr(null);
    try {
      const me = await post('/api/v1/login', { name, password });
      setCsrf(me.csrf);
      onIn(me);
    } catch (x) {
      setErr(x.message);
    }
  };
  return html`<form class="card login" onSubmit=${submit}>
    <h1>Officegate</h1>
    ${err && html`<div class="err" role="alert">${err}</div>`}
    <input name="name" placeholder="User" autocomplete="username" value=${name} onInput=${(e) => setName(e.target.value)} />
    <input name="password" type="password" placeholder="Password" autocomplete="current-password" value=${password}
      onInput=${(e) => setPassword(e.target.value)} />
    <button type="submit">Log in</button>
  </form>`;
}

function page(hash, me) {
  const [, first, second] = hash.split('/');
  const arg = second ? decodeURIComponent(second) : '';
  switch (first) {
    case 'pcs': return html`<${Pcs} me=${me} />`;
    case 'pc': return html`<${PcPage} name=${arg} me=${me} key=${arg} />`;
    case 'sites': return html`<${Sites} />`;
    case 'site': return html`<${SitePage} name=${arg} key=${arg} />`;
    case 'queries': return html`<${Queries} />`;
    case 'requests': return html`<${Requests} me=${me} />`;
    case 'policy': return html`<${Policy} me=${me} />`;
    case 'channels': return html`<${Channels} />`;
    case 'reports': return html`<${Reports} />`;
    case 'history': return html`<${History} />`;
    case 'users': return html`<${Users} me=${me} />`;
    default: return html`<${Dashboard} me=${me} />`;
  }
}

function App() {
  const [me, setMe] = useState(undefined);
  const hash = useHash();
  useEffect(() => {
    get('/api/v1/me').then((m) => { setCsrf(m.csrf); setMe(m); }, () => setMe(null));
    const out = () => setMe(null);
    window.addEventListener('og-logged-out', out);
    return () => window.removeEventListener('og-logged-out', out);
  }, []);
  if (me === undefined) return html`<p style="padding:2rem">Loading…</p>`;
  if (me === null) return html`<${Login} onIn=${setMe} />`;
  const logout = async () => {
    try { await post('/api/v1/logout'); } catch { /* the session is gone either way */ }
    setCsrf(null);
    setMe(null);
  };
  const here = `#/${hash.split('/')[1] || ''}`;
  return html`<div class="shell">
    <nav class="side">
      <div class="brand">Officegate</div>
      ${NAV.filter(([, , roles]) => !roles || roles.includes(me.role)).map(([href, label]) => html`
        <a href=${href} class=${here === href || (href !== '#/' && here.startsWith(href.slice(0, -1)) && here.length <= href.length) ? 'on' : ''}>${label}</a>`)}
      <div class="who" data-testid="who">${me.name}<br /><span>${me.role}${me.scope ? ` of ${me.scope}` : ''}</span><br />
        <button class="ghost" onClick=${logout}>Log out</button></div>
    </nav>
    <main class="content">${page(hash, me)}</main>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
