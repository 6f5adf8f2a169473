// Wiring: state in the URL hash, the 10 s refresh loop, the controls in the header.

import { ApiError, allowTokenPrompt, getAlerts, getRules, onTokenNeeded } from './api.js';
import { renderAlerts } from './alerts.js';
import { redrawAll } from './charts.js';
import { el, fromLocalInput, localTime, span, toLocalInput } from './format.js';
import { Health } from './health.js';
import { RulePicker } from './picker.js';
import { SqlBox } from './sql.js';
import { parseHash, timeRange, toHash } from './state.js';
import { Views, metricsFor } from './views.js';
import './style.css';

const REFRESH_MS = 10_000;
const $ = (id) => document.getElementById(id);

let state = parseHash(location.hash);
let ruleSet = null;
let lastAlerts = [];
let paused = false;
let timer = null;
let refreshing = null;

const views = new Views(change);
const picker = new RulePicker((name) => change({ rule: name, host: '', key: '', mark: [], view: '' }));
const health = new Health();
new SqlBox();

function currentRule() {
  return ruleSet?.rules.find((r) => r.name === state.rule) || null;
}

/** Applies a change from the controls: new hash (a history entry), then reload the views. */
function change(patch) {
  const next = { ...state, ...patch };
  if (patch.range && patch.range !== 'custom') { next.from = null; next.to = null; }
  if (next.range === 'custom' && !(next.to > next.from)) return;
  state = next;
  const hash = toHash(state);
  if (hash !== location.hash) history.pushState(null, '', hash);
  syncControls();
  loadViews();
}

function pageError(message) {
  const b = $('page-error');
  b.hidden = !message;
  b.textContent = message || '';
}

function syncControls() {
  const rule = currentRule();
  if (rule && !metricsFor(rule).includes(state.metric)) state.metric = 'count';
  picker.setCurrent(state.rule);
  $('range').value = state.range;
  $('custom-range').hidden = state.range !== 'custom';
  if (state.range === 'custom' && !$('custom-range').contains(document.activeElement)) {
    $('from').value = toLocalInput(state.from);
    $('to').value = toLocalInput(state.to);
  }
  $('rule-title').textContent = rule ? rule.name : state.rule ? `Unknown rule ${state.rule}` : 'No rule chosen';
  $('rule-info').textContent = rule
    ? [
      `stream ${rule.stream}`,
      `window ${span(rule.window_ms)}${rule.slide_ms !== rule.window_ms ? `, slide ${span(rule.slide_ms)}` : ''}`,
      rule.value ? `value ${rule.value}` : 'counts matches',
      rule.group_by.length ? `grouped by ${rule.group_by.join(', ')}` : '',
    ].filter(Boolean).join(' · ')
    : ruleSet && state.rule ? 'This rule is not in the rule set in force.' : 'Pick a rule above to see its windows.';
  $('rule-info').title = rule ? rule.definition || '' : '';
  views.syncControls(state, rule);
}

async function loadViews() {
  const rule = currentRule();
  if (!rule) { views.clear(); return; }
  await views.load(state, rule, timeRange(state));
}

async function loadRules() {
  try {
    ruleSet = await getRules();
    picker.setRules(ruleSet.rules);
    const problems = [];
    if (ruleSet.reload_error) problems.push(`The last rule reload failed (older rules still in force): ${ruleSet.reload_error}`);
    if (!ruleSet.rules.length) problems.push('The worker has no rules.');
    pageError(problems.join(' '));
    $('rule-picker').title = `rule set version ${ruleSet.version || '?'}`;
  } catch (e) {
    pageError(`Could not load the rules: ${e.message}`);
  }
}

async function loadAlerts() {
  try {
    lastAlerts = await getAlerts();
    renderAlerts(lastAlerts, ruleSet, state.metric);
  } catch (e) {
    $('alerts-note').replaceChildren(el('span', { class: 'error', text: `Could not load alerts: ${e.message}` }));
  }
}

/** One refresh of everything; overlapping calls share the running one. */
function refresh() {
  refreshing ??= (async () => {
    $('status').textContent = 'Loading…';
    document.body.classList.add('loading');
    await loadRules();
    if (!state.rule && ruleSet?.rules.length) {
      state.rule = ruleSet.rules[0].name;
      history.replaceState(null, '', toHash(state));
    }
    syncControls();
    await Promise.all([loadViews(), loadAlerts(), health.refresh()]);
    $('status').textContent = `Updated ${localTime(Date.now()).slice(11)}${paused ? ' · paused' : ''}`;
    document.body.classList.remove('loading');
  })().finally(() => { refreshing = null; });
  return refreshing;
}

function schedule() {
  clearInterval(timer);
  timer = null;
  if (!paused) timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
}

// Header controls.
$('range').addEventListener('change', () => {
  const v = $('range').value;
  if (v === 'custom') {
    const [from, to] = timeRange(state);
    $('from').value = toLocalInput(from);
    $('to').value = toLocalInput(to);
    $('custom-range').hidden = false;
    $('from').focus();
  } else change({ range: v });
});
function applyCustom() {
  const from = fromLocalInput($('from').value);
  const to = fromLocalInput($('to').value);
  const to$ = $('to');
  if (!(Number.isFinite(from) && Number.isFinite(to) && to > from)) {
    to$.setCustomValidity('"To" must be after "From".');
    to$.reportValidity();
    return;
  }
  to$.setCustomValidity('');
  change({ range: 'custom', from, to });
}
$('custom-apply').addEventListener('click', applyCustom);
for (const id of ['from', 'to']) $(id).addEventListener('keydown', (e) => { if (e.key === 'Enter') applyCustom(); });

$('refresh-toggle').addEventListener('click', () => {
  paused = !paused;
  const b = $('refresh-toggle');
  b.setAttribute('aria-pressed', String(paused));
  b.textContent = paused ? 'Resume' : 'Pause';
  b.title = paused ? 'Auto-refresh is paused' : 'Auto-refresh every 10 s';
  $('status').textContent = paused ? 'Auto-refresh paused' : 'Auto-refresh on';
  schedule();
  if (!paused) refresh();
});
$('refresh-now').addEventListener('click', () => { allowTokenPrompt(); refresh(); });

// Back/forward, links (alerts) and hand-edited hashes.
window.addEventListener('hashchange', () => {
  state = parseHash(location.hash);
  syncControls();
  loadViews();
  renderAlerts(lastAlerts, ruleSet, state.metric);
  if (state.view) views.reveal(state.view);
});

// Colours come from CSS variables: redraw when the scheme flips.
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => redrawAll());

// 401 → ask for a token.
onTokenNeeded((reason) => new Promise((resolve, reject) => {
  const dialog = $('auth-dialog');
  const input = $('auth-token');
  const error = $('auth-error');
  error.hidden = !reason;
  error.textContent = reason || '';
  input.value = '';
  $('auth-form').onsubmit = (e) => {
    e.preventDefault();
    const t = input.value.trim();
    if (!t) return;
    dialog.onclose = null;
    dialog.close();
    resolve(t);
  };
  // Escape closes the dialog without a token: the calls fail with the 401's message.
  dialog.onclose = () => reject(new ApiError(401, 'unauthorized', 'a bearer token is required (press Refresh to enter one)'));
  if (!dialog.open) dialog.showModal();
  input.focus();
}));

window.addEventListener('unhandledrejection', (e) => {
  if (e.reason instanceof ApiError) { pageError(e.reason.message); e.preventDefault(); }
});

refresh().then(() => {
  if (state.view) views.reveal(state.view);
  // A second reading soon, so lines/s shows without waiting a whole refresh period.
  setTimeout(() => health.refresh(), 3000);
});
schedule();
