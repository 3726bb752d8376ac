// Browser steps for the lab tests (tests/integration/lab_ui.rs): headless Debian
// Chromium driven by playwright-core. The Rust test runs each step with `node` inside a
// lab namespace (an admin's laptop or an employee's PC), so the browser's packets go
// through the lab like any PC's, and checks what the step prints.
//
// usage: node browser.mjs <step> '<json params>'
// Every step saves screenshots in params.shots (the test's artefacts) and prints one JSON
// line with what it saw; a failed expectation exits non-zero with a screenshot of the page.
// Any console error, uncaught exception or failed request of the admin UI (params.ui) fails
// the step too: a 404 for an asset or a refused API call is a bug even when the page looks
// right. (The block page the employee steps visit answers 403 by design: not the UI.)

import { chromium } from 'playwright-core';

const [step, raw] = process.argv.slice(2);
const p = JSON.parse(raw || '{}');
const CHROMIUM = process.env.OG_CHROMIUM || '/usr/lib/chromium/chromium';
const TIMEOUT = 15000;

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  // Root in a namespace: Chromium's own sandbox needs user namespaces it cannot make here.
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
const page = await context.newPage();
page.setDefaultTimeout(TIMEOUT);

// The UI's own traffic and messages: what the listeners below watch.
const ours = (url) => !!p.ui && url.startsWith(p.ui);
const problems = [];
let inflight = 0;
page.on('console', (m) => {
  if (m.type() === 'error' && ours(page.url())) problems.push(`console error: ${m.text()} (${m.location().url || page.url()})`);
});
page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
page.on('request', (r) => { if (ours(r.url())) inflight += 1; });
page.on('requestfinished', (r) => { if (ours(r.url())) inflight -= 1; });
page.on('requestfailed', (r) => {
  if (!ours(r.url())) return;
  inflight -= 1;
  // Aborted: the page itself dropped it (left the page, the browser closing), no failure.
  const why = r.failure() ? r.failure().errorText : '';
  if (!why.includes('ERR_ABORTED')) problems.push(`request failed: ${r.method()} ${r.url()}: ${why}`);
});
page.on('response', (r) => {
  if (ours(r.url()) && r.status() >= 400) problems.push(`${r.status()} for ${r.request().method()} ${r.url()}`);
});

// Until the UI has had nothing in flight for ~0.6 s (the pages load on show, then poll).
async function settle() {
  let quiet = 0;
  for (let i = 0; i < 100 && quiet < 4; i += 1) {
    await page.waitForTimeout(150);
    quiet = inflight <= 0 ? quiet + 1 : 0;
  }
}

let shot = 0;
const snap = async (name) => {
  shot += 1;
  await page.screenshot({ path: `${p.shots}/${p.prefix || step}-${shot}-${name}.png`, fullPage: true });
};

async function login() {
  await page.goto(`${p.ui}/`);
  await page.fill('input[name=name]', p.user);
  await page.fill('input[name=password]', p.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=who]');
  // The UI and nothing beside it (index.html's loading line once stayed above it).
  const stray = await page.$$eval('#app > *', (els) => els.length - 1);
  if (stray) problems.push(`${stray} stray element(s) beside the UI in #app`);
}

// Share of a canvas's pixels in the chart's first colour (#2457d6, solid or translucent):
// an empty chart draws only axes and grid in greys.
async function inked(testid) {
  return page.$eval(`canvas[data-testid="${testid}"]`, (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      const [r, g, b, a] = [d[i], d[i + 1], d[i + 2], d[i + 3]];
      if (a > 0 && b > r + 60 && b > g + 40) n += 1;
    }
    return n / (c.width * c.height);
  });
}

const steps = {
  // Log in, see the dashboard with charts drawn from real traffic.
  async dashboard() {
    await login();
    await page.waitForSelector('[data-testid=top-pcs] tbody tr');
    // Charts are drawn once their data is in; poll until both have ink.
    let traffic = 0;
    let pie = 0;
    for (let i = 0; i < 30 && (traffic < 0.001 || pie < 0.01); i += 1) {
      await page.waitForTimeout(300);
      traffic = await inked('traffic-chart');
      pie = await inked('pcs-pie');
    }
    const rows = await page.$$eval('[data-testid=top-pcs] tbody tr', (trs) => trs.map((tr) => tr.innerText));
    const label = (id) => page.getAttribute(`canvas[data-testid="${id}"]`, 'aria-label');
    await snap('dashboard');
    return {
      traffic_ink: traffic, pie_ink: pie, top_pcs: rows,
      traffic_label: await label('traffic-chart'), pie_label: await label('pcs-pie'), down: await page.textContent('[data-testid=kpi-down]') };
  },
  // Block (or unblock) a PC from its page.
  async block_pc() {
    await login();
    await page.goto(`${p.ui}/#/pc/${p.pc}`);
    await page.fill('input[placeholder^=Reason]', p.reason || '');
    await page.click(p.unblock ? '[data-testid=unblock-pc]' : '[data-testid=block-pc]');
    await page.waitForSelector('[role=status]');
    const msg = await page.textContent('[role=status]');
    await page.waitForTimeout(1800);
    await snap(p.unblock ? 'unblocked' : 'blocked');
    return { message: msg };
  },
  // An employee opens a blocked site over HTTP, reads the block page and asks for access.
  async request_access() {
    const r = await page.goto(p.url);
    const text = await page.textContent('main');
    await snap('block-page');
    await page.fill('textarea[name=reason]', p.reason);
    await page.click('button[type=submit]');
    await page.waitForSelector('text=Request sent');
    const sent = await page.textContent('main');
    await snap('request-sent');
    return { status: r.status(), text, sent };
  },
  // The employer blocks a site for a group on the policy page.
  async add_rule() {
    await login();
    await page.goto(`${p.ui}/#/policy`);
    const form = `[data-testid="add-rule-${p.group}"]`;
    await page.waitForSelector(form);
    await page.fill(`${form} input`, p.site);
    await page.click(`${form} button[type=submit]`);
    await page.waitForSelector('[role=status]');
    const msg = await page.textContent('[role=status]');
    await page.waitForSelector(`text=${p.site}`);
    await page.waitForTimeout(1500);
    await snap('rule-added');
    return { message: msg };
  },
  // The admin names a device on the Devices page and places it in a group.
  async place_device() {
    await login();
    await page.goto(`${p.ui}/#/devices`);
    const button = `[data-testid="place-${p.mac}"]`;
    await page.waitForSelector(button);
    await snap('devices');
    await page.click(button);
    const form = '[data-testid=place-device]';
    await page.fill(`${form} input[name=name]`, p.name);
    await page.selectOption(`${form} select[name=group]`, p.group);
    await page.click(`${form} button[type=submit]`);
    await page.waitForSelector('[role=status]');
    const msg = await page.textContent('[role=status]');
    // The table shows it under its new name once the edit is applied.
    await page.waitForSelector(`[data-testid=devices-table] a:text-is("${p.name}")`);
    const row = await page.$eval(`[data-testid=devices-table] tr:has(a:text-is("${p.name}"))`, (tr) => tr.innerText);
    await snap('placed');
    return { message: msg, row };
  },
  // The admin approves the request from the queue.
  async approve() {
    await login();
    await page.goto(`${p.ui}/#/requests`);
    const button = `[data-testid=approve-${p.id}]`;
    await page.waitForSelector(button);
    await snap('queue');
    await page.click(button);
    await page.waitForSelector('[role=status]');
    const msg = await page.textContent('[role=status]');
    await page.waitForSelector('[data-testid=requests] .tag.approved');
    await snap('approved');
    return { message: msg };
  },
  // Log in as params.user and open every page of the UI: the nav's entries, and for each
  // page its title, whether it is open to this user, and the data-testid of what it shows
  // (forms, buttons, tables) once its data is in. Pages the nav does not offer are opened
  // too: they must say they are not open, without asking the API.
  async tour() {
    await login();
    await settle();
    const nav = await page.$$eval('nav.side a', (as) => as.map((a) => a.textContent.trim()));
    const hashes = ['#/', '#/pcs', '#/devices', `#/pc/${encodeURIComponent(p.pc)}`, '#/sites', `#/site/${encodeURIComponent(p.site)}`,
      '#/queries', '#/requests', '#/policy', '#/channels', '#/reports', '#/history', '#/users'];
    const pages = {};
    for (const hash of hashes) {
      await page.goto(`${p.ui}/${hash}`);
      await page.waitForSelector('main.content h1');
      await settle();
      const name = hash.split('/')[1] || 'dashboard';
      pages[name] = await page.$eval('main.content', (m) => ({
        title: m.querySelector('h1').textContent.trim(),
        open: !m.querySelector('[data-testid=not-open]'),
        testids: [...new Set([...m.querySelectorAll('[data-testid]')].map((e) => e.getAttribute('data-testid')))],
      }));
      await snap(name);
    }
    return { nav, pages };
  },
  // Open a page and report what it shows.
  async open() {
    const r = await page.goto(p.url);
    await snap('open');
    return { status: r.status(), title: await page.title(), text: await page.textContent('body') };
  },
};

try {
  if (!steps[step]) throw new Error(`unknown step ${step}`);
  const out = await steps[step]();
  await settle();
  if (problems.length) throw new Error(`the UI logged errors or failed requests:\n  ${problems.join('\n  ')}`);
  console.log(JSON.stringify(out));
} catch (e) {
  try { await snap('failed'); } catch { /* the page may be gone */ }
  console.error(`browser step ${step} failed: ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
