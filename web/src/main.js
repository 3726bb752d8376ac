// Officegate admin UI: log-in, the navigation, and a hash router over the pages (one file
// each under pages/). Preact + htm (no JSX step; esbuild only bundles), Chart.js for charts.
//
// What a user sees follows `may` from GET /api/v1/me (see api.js): a nav entry, a page, a
// form or a button is there when the route behind it is open to the user's role. The UI
// keeps no copy of the role rules.

import { html, render } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import { get, post, setCsrf, may, officeWide } from './api.js';
import { Dashboard } from './pages/dashboard.js';
import { Pcs } from './pages/pcs.js';
import { Devices } from './pages/devices.js';
import { PcPage } from './pages/pc.js';
import { Sites } from './pages/sites.js';
import { SitePage } from './pages/site.js';
import { Queries } from './pages/queries.js';
import { Requests } from './pages/requests.js';
import { Policy } from './pages/policy.js';
import { Channels } from './pages/channels.js';
import { Reports } from './pages/reports.js';
import { History } from './pages/history.js';
import { Users } from './pages/users.js';

// Every page: its hash (`#/<path>/<arg>`), its nav label (none for the pages reached by a
// link, one PC's or one site's), whether it is open to this user — the routes it reads —
// and its view. In nav order.
const PAGES = [
  { path: '', label: 'Dashboard', open: () => true, view: (me) => html`<${Dashboard} me=${me} />` },
  { path: 'pcs', label: 'PCs', open: (me) => may(me, 'GET /api/v1/pcs'), view: (me) => html`<${Pcs} me=${me} />` },
  { path: 'devices', label: 'Devices', open: (me) => may(me, 'GET /api/v1/devices'), view: (me) => html`<${Devices} me=${me} />` },
  { path: 'pc', open: (me) => may(me, 'GET /api/v1/pcs/{pc}/hosts'), view: (me, arg) => html`<${PcPage} name=${arg} me=${me} key=${arg} />` },
  // The sites of the whole office: not for a manager, though the route is open to them
  // for their own PCs (`officeWide`).
  { path: 'sites', label: 'Sites', open: (me) => officeWide(me, 'GET /api/v1/sites'), view: () => html`<${Sites} />` },
  { path: 'site', open: (me) => may(me, 'GET /api/v1/sites/{site}/pcs'), view: (me, arg) => html`<${SitePage} name=${arg} key=${arg} />` },
  { path: 'queries', label: 'Query log', open: (me) => may(me, 'GET /api/v1/queries'), view: () => html`<${Queries} />` },
  { path: 'requests', label: 'Requests', open: (me) => may(me, 'GET /api/v1/requests'), view: (me) => html`<${Requests} me=${me} />` },
  { path: 'policy', label: 'Policy', open: (me) => may(me, 'GET /api/v1/policy'), view: (me) => html`<${Policy} me=${me} />` },
  { path: 'channels', label: 'Channels', open: (me) => may(me, 'GET /api/v1/wan'), view: () => html`<${Channels} />` },
  {
    path: 'reports',
    label: 'Reports',
    open: (me) => may(me, 'GET /api/v1/report') && officeWide(me, 'GET /api/v1/traffic'),
    view: () => html`<${Reports} />`,
  },
  { path: 'history', label: 'History', open: (me) => may(me, 'GET /api/v1/actions'), view: () => html`<${History} />` },
  { path: 'users', label: 'Users', open: (me) => may(me, 'GET /api/v1/users'), view: (me) => html`<${Users} me=${me} />` },
];

// Whether this browser has logged in here and not out since. The session cookie is
// HttpOnly, so script cannot see it; and asking GET /api/v1/me without one is a 401 that
// the browser logs as an error on every first visit. With no hint the log-in form comes
// at once; with one, /me says whether the session still holds (after an idle expiry that
// is the one 401, and the hint goes).
const HINT = 'og-logged-in';
const hint = {
  has: () => { try { return localStorage.getItem(HINT) === '1'; } catch { return false; } },
  set: () => { try { localStorage.setItem(HINT, '1'); } catch { /* private mode: ask /me no more */ } },
  clear: () => { try { localStorage.removeItem(HINT); } catch { /* nothing stored */ } },
};

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
      const session = await post('/api/v1/login', { name, password });
      setCsrf(session.csrf);
      // What the user may do comes from /me alone (`may`), whatever the log-in answers.
      const me = await get('/api/v1/me');
      setCsrf(me.csrf || session.csrf);
      hint.set();
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

function NotOpen({ me }) {
  return html`<h1>Not open to you</h1>
  <p class="mute" data-testid="not-open">This page is not open to your role (${me.role}).</p>`;
}

function page(hash, me) {
  const [, first, second] = hash.split('/');
  const arg = second ? decodeURIComponent(second) : '';
  const p = PAGES.find((x) => x.path === (first || '')) || PAGES[0];
  return p.open(me) ? p.view(me, arg) : html`<${NotOpen} me=${me} />`;
}

function App() {
  const [me, setMe] = useState(hint.has() ? undefined : null);
  const hash = useHash();
  useEffect(() => {
    if (hint.has()) {
      get('/api/v1/me').then((m) => { setCsrf(m.csrf); setMe(m); }, () => { hint.clear(); setMe(null); });
    }
    const out = () => { hint.clear(); setMe(null); };
    window.addEventListener('og-logged-out', out);
    return () => window.removeEventListener('og-logged-out', out);
  }, []);
  if (me === undefined) return html`<p style="padding:2rem">Loading…</p>`;
  if (me === null) return html`<${Login} onIn=${setMe} />`;
  const logout = async () => {
    try { await post('/api/v1/logout'); } catch { /* the session is gone either way */ }
    hint.clear();
    setCsrf(null);
    setMe(null);
  };
  const here = `#/${hash.split('/')[1] || ''}`;
  return html`<div class="shell">
    <nav class="side">
      <div class="brand">Officegate</div>
      ${PAGES.filter((p) => p.label && p.open(me)).map(({ path, label }) => {
        const href = `#/${path}`;
        return html`<a href=${href} class=${here === href || (href !== '#/' && here.startsWith(href.slice(0, -1)) && here.length <= href.length) ? 'on' : ''}>${label}</a>`;
      })}
      <div class="who" data-testid="who">${me.name}<br /><span>${me.role}${me.scope ? ` of ${me.scope}` : ''}</span><br />
        <button class="ghost" onClick=${logout}>Log out</button></div>
    </nav>
    <main class="content">${page(hash, me)}</main>
  </div>`;
}

// index.html's "Loading Officegate…" stands in #app until this script runs. Preact keeps
// what it finds there unless its first render happens to reuse it (the log-in form does
// not), so it goes first.
const root = document.getElementById('app');
root.replaceChildren();
render(html`<${App} />`, root);
