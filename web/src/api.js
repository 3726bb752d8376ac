// The admin API as the UI uses it: same-origin fetches carrying the session cookie, the
// CSRF token echoed on every change, errors turned into readable messages, and what the
// logged-in user may call (`may`, from GET /api/v1/me).

let csrf = null;

export function setCsrf(token) {
  csrf = token || null;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  const r = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!r.ok) {
    const msg = data && data.error ? data.error : `${r.status} ${r.statusText}`;
    if (r.status === 401) window.dispatchEvent(new CustomEvent('og-logged-out'));
    throw new ApiError(r.status, msg);
  }
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body ?? {});
export const del = (path) => call('DELETE', path);
export const put = (path, body) => call('PUT', path, body);

// Query string from an object, leaving out empty values.
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

// What this user may call: GET /api/v1/me lists, in `may`, "METHOD /path/template" for
// every route open to the user's role, templates exactly as the server routes them
// ("POST /api/v1/pcs/{pc}/block"). The server keeps the role rules; the UI only asks, so
// a nav entry, a form or a button shows when its route is open and never drifts from
// what the server enforces. A manager's handlers still keep them to their department:
// `may` says the route is open to the role, not that every PC or group is theirs.
export function may(me, route) {
  return !!me && Array.isArray(me.may) && me.may.includes(route);
}

// Office-wide figures (traffic, sites, the report over time, without `pc=`): a user with
// a scope (a department manager) is refused them even where the route is open to the
// role, since the handler wants one of their own PCs named.
export function officeWide(me, route) {
  return may(me, route) && !me.scope;
}
