// Browser steps for the lab tests (tests/integration/lab_ui.rs): headless Debian
// Chromium driven by playwright-core. The Rust test runs each step with `node` inside a
// lab namespace (an admin's laptop or an employee's PC), so the browser's packets go
// through the lab like any PC's, and checks what the step prints.
//
// usage: node browser.mjs <step> '<json params>'
// Every step saves screenshots in params.shots (the test's artefacts) and prints one JSON
// line with what it saw; a failed expectation exits non-zero with a screenshot of the page.

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
  console.log(JSON.stringify(out));
} catch (e) {
  try { await snap('failed'); } catch { /* the page may be gone */ }
  console.error(`browser step ${step} failed: ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
