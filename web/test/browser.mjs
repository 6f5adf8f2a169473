// Browser test of the logpulse page against a real worker (headless Debian chromium, playwright-core).
//
// Environment: LOGPULSE_URL (http://127.0.0.1:PORT), ARTIFACTS (folder for screenshots),
// FROM_MS, TO_MS (the data's time range), RULE (a rule with several hosts and a value),
// ALERT (an alert known to be firing); optional TZ, LOGPULSE_TOKEN (bearer token),
// CHROMIUM (default /usr/bin/chromium).
// Exit 0 = pass; otherwise the first failure is printed and the exit code is 1.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') throw new Error(`environment variable ${name} is required`);
  return v;
};

const BASE = env('LOGPULSE_URL').replace(/\/+$/, '');
const ARTIFACTS = env('ARTIFACTS');
const FROM = Number(env('FROM_MS'));
const TO = Number(env('TO_MS'));
const RULE = env('RULE');
const ALERT = env('ALERT');
const TOKEN = process.env.LOGPULSE_TOKEN || '';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = Number(process.env.STEP_TIMEOUT_MS || 30000);
const VIEWS = ['machine', 'sum', 'avg'];

mkdirSync(ARTIFACTS, { recursive: true });
if (!(TO > FROM)) throw new Error(`FROM_MS (${FROM}) must be before TO_MS (${TO})`);

let checks = 0;
function ok(what) {
  checks++;
  console.log(`ok ${checks} - ${what}`);
}
function fail(what) {
  throw new Error(what);
}

async function sql(text) {
  const headers = { 'Content-Type': 'text/plain' };
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  const r = await fetch(`${BASE}/api/sql`, { method: 'POST', headers, body: text });
  const body = await r.text();
  if (!r.ok) fail(`POST /api/sql answered ${r.status}: ${body}\n${text}`);
  return JSON.parse(body);
}

const quote = (s) => `'${String(s).replace(/'/g, "''")}'`;
const inRange = (from, to) =>
  `window_end > to_timestamp_millis(${Math.floor(from)}) AND window_end <= to_timestamp_millis(${Math.ceil(to)})`;

/** Expected numbers per view: Map(`${t}|${series}` → row) and the set of times. */
async function expected(rule, from, to) {
  const where = `rule = ${quote(rule)} AND ${inRange(from, to)}`;
  const machine = await sql(
    `SELECT window_end, host, sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max,
            sum(sum) / CAST(sum(count) AS DOUBLE) AS avg
     FROM machine_view WHERE ${where} GROUP BY window_end, host`,
  );
  const sum = await sql(`SELECT window_end, count, sum, min, max, avg, hosts FROM sum_view WHERE ${where}`);
  const avg = await sql(`SELECT window_end, count, sum, min, max, avg, hosts FROM avg_view WHERE ${where}`);
  const index = (rows, label) => {
    const m = new Map();
    for (const r of rows) m.set(`${Date.parse(r.window_end)}|${label(r)}`, r);
    return m;
  };
  return {
    machine: index(machine, (r) => r.host),
    sum: index(sum, () => 'sum'),
    avg: index(avg, () => 'avg'),
    hosts: new Set(machine.map((r) => r.host)),
  };
}

function close(a, b) {
  if (a === b) return true;
  return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
}

async function readTable(page, view) {
  const box = `#view-${view}`;
  const open = await page.$eval(`${box} details`, (d) => d.open);
  if (!open) await page.click(`${box} details > summary`);
  await page.waitForSelector(`${box} table.data tbody tr`, { timeout: TIMEOUT });
  return page.$$eval(`${box} table.data tbody tr`, (rows) =>
    rows.map((r) => ({
      t: Number(r.dataset.t),
      cells: [...r.querySelectorAll('td')].map((td) => ({ series: td.dataset.series, value: td.dataset.value })),
    })));
}

/** Every number in each view's Data table equals the SQL's, and no SQL row is missing. */
async function compareViews(page, rule, metric, from, to) {
  const want = await expected(rule, from, to);
  if (!want.hosts.size) fail(`no rows in machine_view for rule ${rule} in (${from}, ${to}]: the test data is missing`);
  for (const view of VIEWS) {
    const rows = await readTable(page, view);
    const table = want[view];
    let compared = 0;
    const seenSeries = new Set();
    for (const row of rows) {
      for (const c of row.cells) {
        seenSeries.add(c.series);
        const exp = table.get(`${row.t}|${c.series}`);
        const expValue = exp ? exp[metric] : null;
        if (c.value === '') {
          if (expValue !== null && expValue !== undefined) {
            fail(`${view} view, ${metric}, window_end ${row.t}, ${c.series}: the page shows no value, SQL says ${expValue}`);
          }
          continue;
        }
        const got = Number(c.value);
        if (expValue === null || expValue === undefined) {
          fail(`${view} view, ${metric}, window_end ${row.t}, ${c.series}: the page shows ${got}, SQL has no value`);
        }
        if (!close(got, expValue)) {
          fail(`${view} view, ${metric}, window_end ${row.t}, ${c.series}: the page shows ${got}, SQL says ${expValue}`);
        }
        compared++;
      }
    }
    // Nothing the SQL has for the series shown is missing from the page.
    const times = new Set(rows.map((r) => r.t));
    for (const [k, r] of table) {
      const [t, series] = k.split('|');
      if (!seenSeries.has(series) || r[metric] === null) continue;
      if (!times.has(Number(t))) fail(`${view} view, ${metric}: window_end ${t} (${series}) is in SQL but not in the Data table`);
    }
    if (view === 'machine') {
      const wantSeries = Math.min(10, want.hosts.size);
      if (seenSeries.size !== wantSeries) {
        fail(`machine view shows ${seenSeries.size} hosts, expected the top ${wantSeries} of ${want.hosts.size}`);
      }
    }
    if (!compared) fail(`${view} view, ${metric}: no numbers to compare`);
    ok(`${view} view, ${metric}: ${compared} numbers match /api/sql`);
  }
}

async function waitViews(page, rule, metric, from, to) {
  for (const view of VIEWS) {
    let sel = `#view-${view}[data-state=ready][data-rule="${rule}"][data-metric="${metric}"]`;
    if (from !== undefined) sel += `[data-from="${Math.floor(from)}"][data-to="${Math.ceil(to)}"]`;
    try {
      await page.waitForSelector(sel, { timeout: TIMEOUT });
    } catch {
      const state = await page.$eval(`#view-${view}`, (e) => `${JSON.stringify({ ...e.dataset })} ${e.querySelector('.note')?.textContent}`);
      fail(`the ${view} view did not become ready for ${rule}/${metric}: ${state}`);
    }
    const canvases = await page.$$(`#view-${view} .chart canvas`);
    if (!canvases.length) fail(`the ${view} view has no canvas`);
  }
}

async function main() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const problems = [];
  let allowDdlError = false;
  const tz = process.env.TZ && /^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/.test(process.env.TZ) ? process.env.TZ : undefined;
  const contextOptions = { viewport: { width: 1440, height: 1000 }, timezoneId: tz, colorScheme: 'light' };

  async function newPage(options) {
    const context = await browser.newContext(options);
    if (TOKEN) await context.addInitScript((t) => localStorage.setItem('logpulse.token', t), TOKEN);
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const url = m.location()?.url || '';
      if (allowDdlError && (url.endsWith('/api/sql') || /status of 40[03]/.test(m.text()))) return;
      problems.push(`console error: ${m.text()} ${url}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => {
      // A request cut short by a newer one (rule switch) is not a failure of the page.
      if (r.failure()?.errorText === 'net::ERR_ABORTED') return;
      problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`);
    });
    page.on('response', (r) => {
      if (r.status() < 400) return;
      if (allowDdlError && r.url().endsWith('/api/sql') && r.request().method() === 'POST') return;
      problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
    });
    return page;
  }

  const checkProblems = (when) => {
    if (problems.length) fail(`${when}:\n  ${problems.join('\n  ')}`);
  };

  const page = await newPage(contextOptions);
  try {
    // 1. The page loads.
    await page.goto(`${BASE}/#from=${FROM}&to=${TO}`, { waitUntil: 'load' });
    if ((await page.title()) !== 'logpulse') fail(`title is "${await page.title()}"`);
    await page.waitForSelector('#rule-search');
    await page.waitForFunction(() => !document.body.classList.contains('loading') && document.getElementById('status').textContent.startsWith('Updated'));
    const scheme = await page.$eval('meta[name=color-scheme]', (m) => m.content);
    if (scheme !== 'light dark') fail(`color-scheme meta is "${scheme}"`);
    checkProblems('loading the page');
    ok('the page loads without console errors or failed requests');

    // 2. Pick RULE through the picker: type, choose from the list.
    await page.click('#rule-search');
    await page.fill('#rule-search', RULE);
    const option = `#rule-list li[data-rule="${RULE}"]`;
    await page.waitForSelector(option, { state: 'visible' });
    await page.click(option);
    await page.waitForFunction((r) => new URLSearchParams(location.hash.slice(1)).get('rule') === r, RULE);
    await waitViews(page, RULE, 'count', FROM, TO);
    ok(`picking ${RULE} draws the three views`);
    const countLabel = await page.$eval('#view-machine .chart', (e) => e.dataset.yLabel);
    if (!/^matches per .+ window/.test(countLabel)) fail(`the count y axis label is "${countLabel}"`);
    await compareViews(page, RULE, 'count', FROM, TO);

    // Switch the metric to avg through the UI.
    await page.click('#metric label[for="metric-avg"]');
    await waitViews(page, RULE, 'avg', FROM, TO);
    if (new URLSearchParams((await page.evaluate(() => location.hash)).slice(1)).get('metric') !== 'avg') fail('metric=avg is not in the hash');
    await compareViews(page, RULE, 'avg', FROM, TO);
    const avgLabel = await page.$eval('#view-machine .chart', (e) => e.dataset.yLabel);
    if (!avgLabel.endsWith('(avg)')) fail(`the avg y axis label is "${avgLabel}"`);
    ok(`y axis labels: "${countLabel}", "${avgLabel}"`);

    // The legend filters: pressing a host hides it, pressing again shows it.
    const firstHost = page.locator('#view-machine .legend button').first();
    await firstHost.click();
    if ((await firstHost.getAttribute('aria-pressed')) !== 'false') fail('pressing a legend entry did not hide the host');
    await firstHost.click();
    if ((await firstHost.getAttribute('aria-pressed')) !== 'true') fail('pressing a legend entry again did not show the host');
    ok('the machine legend hides and shows hosts');

    for (const view of VIEWS) {
      await page.locator(`#view-${view}`).screenshot({ path: join(ARTIFACTS, `${view}.png`) });
    }
    ok('machine.png, sum.png, avg.png saved');

    // 4. The SQL box: an error for DDL, a table (and a chart) for a SELECT.
    allowDdlError = true;
    await page.fill('#sql-input', 'CREATE TABLE t (a INT)');
    await page.click('#sql-run');
    await page.waitForSelector('#sql-error[role=alert]:not([hidden])');
    await page.waitForSelector('#sql-result[data-state=error]', { state: 'attached' });
    const ddlMessage = (await page.textContent('#sql-error')).trim();
    if (!ddlMessage) fail('the SQL error is empty');
    allowDdlError = false;
    ok(`DDL is refused in the page: "${ddlMessage}"`);
    await page.fill('#sql-input', `SELECT window_end, host, count, avg FROM machine_view WHERE rule = ${quote(RULE)} AND ${inRange(FROM, TO)} ORDER BY window_end, host LIMIT 200`);
    await page.click('#sql-run');
    await page.waitForSelector('#sql-result[data-state=ready]', { state: 'attached' });
    if (!(await page.isHidden('#sql-error'))) fail('the SQL error is still shown after a good SELECT');
    const sqlRows = await page.$$eval('#sql-table table.rows tbody tr', (r) => r.length);
    if (!sqlRows) fail('the SELECT shows no rows');
    const sqlCanvas = await page.$$('#sql-chart canvas');
    if (!sqlCanvas.length) fail('the SELECT with a time column shows no chart');
    ok(`a SELECT shows a table of ${sqlRows} rows and a chart`);

    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(ARTIFACTS, 'page.png'), fullPage: true });
    ok('page.png saved');

    // The charts are redrawn when the colour scheme flips.
    await page.$eval('#view-sum .chart canvas', (c) => { c.dataset.old = '1'; });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.waitForFunction(() => !document.querySelector('#view-sum .chart canvas')?.dataset.old);
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.emulateMedia({ colorScheme: 'light' });
    ok(`the charts are redrawn when the colour scheme changes (dark background ${bg})`);

    // 3. The firing alert: listed, and clicking it opens its rule's chart with its windows marked.
    const link = page.locator(`#alerts a.alert-link[data-alert="${ALERT}"]`).first();
    try {
      await link.waitFor({ state: 'visible' });
    } catch {
      fail(`the firing alert ${ALERT} is not in the alerts list: ${await page.textContent('#alerts')}`);
    }
    const href = await link.getAttribute('href');
    const target = new URLSearchParams(href.replace(/^#/, ''));
    const alertRule = target.get('rule');
    await link.click();
    await page.waitForFunction((h) => location.hash === h, href);
    await waitViews(page, alertRule, target.get('metric') || 'count', Number(target.get('from')), Number(target.get('to')));
    const marks = await page.$eval('#view-machine .chart', (e) => Number(e.dataset.marks || 0));
    if (!(marks > 0)) fail(`the alert's chart has no marked windows (data-marks=${marks})`);
    for (const view of VIEWS) {
      const n = await page.$eval(`#view-${view} .chart`, (e) => Number(e.dataset.marks || 0));
      if (!(n > 0)) fail(`the ${view} view has no marked windows`);
    }
    if (await page.isHidden('#mark-info')) fail('the marked span is not described');
    const host = target.get('host');
    if (host) {
      const labels = await page.$$eval('#view-machine .legend button', (b) => b.map((x) => x.dataset.series));
      if (labels.length !== 1 || labels[0] !== host) fail(`the alert's host filter ${host} is not applied: ${labels.join(', ')}`);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'alert.png'), fullPage: false });
    ok(`clicking alert ${ALERT} opens ${alertRule} with ${marks} marked span(s); alert.png saved`);
    checkProblems('using the page');

    // 5. The dark page.
    const dark = await newPage({ ...contextOptions, colorScheme: 'dark' });
    await dark.goto(`${BASE}/#rule=${encodeURIComponent(RULE)}&from=${FROM}&to=${TO}`, { waitUntil: 'load' });
    await waitViews(dark, RULE, 'count', FROM, TO);
    const darkBg = await dark.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const lightBg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    if (darkBg === lightBg) fail(`the dark scheme has the light background ${darkBg}`);
    await dark.screenshot({ path: join(ARTIFACTS, 'page-dark.png'), fullPage: true });
    ok('page-dark.png saved (dark theme follows prefers-color-scheme)');
    checkProblems('the dark page');
  } catch (e) {
    await page.screenshot({ path: join(ARTIFACTS, 'failure.png'), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await browser.close();
  }
  console.log(`${checks} passed, 0 failed`);
}

main().catch((e) => {
  console.error(`FAIL: ${e.message}`);
  console.log(`${checks} passed, 1 failed`);
  process.exit(1);
});
