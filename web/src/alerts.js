// Firing alerts: each is a link to its rule's chart, with the alert's windows marked.

import { duration, el, localTime, num } from './format.js';
import { toHash, defaults } from './state.js';

const SEVERITY = { critical: 0, page: 0, error: 1, warning: 2, warn: 2, info: 3 };
const MAX_SHOWN = 200;

/** `[held_from, window_end]` in ms: the span of the alert's current streak of windows. */
export function alertSpan(a, rule) {
  const end = Date.parse(a.window_end);
  let start = a.held_from ? Date.parse(a.held_from) : NaN;
  if (!Number.isFinite(start) && rule) {
    start = end - rule.window_ms - Math.max(0, (a.streak || 1) - 1) * rule.slide_ms;
  }
  if (!Number.isFinite(start)) start = end - 60e3;
  return [start, end];
}

/** The hash that opens an alert's rule chart around its marked windows. */
export function alertHash(a, rule, ruleAlert, currentMetric) {
  const [start, end] = alertSpan(a, rule);
  const step = rule ? rule.slide_ms || rule.window_ms : 60e3;
  const pad = Math.max((end - start) / 4, 5 * step);
  const s = defaults();
  s.rule = a.rule || (ruleAlert && ruleAlert.rule) || '';
  s.range = 'custom';
  s.from = Math.floor((start - pad) / 1000) * 1000;
  s.to = Math.ceil((end + pad) / 1000) * 1000;
  s.host = a.host || '';
  s.key = a.key || '';
  s.mark = [[start, end]];
  if (rule && rule.value !== null && currentMetric) s.metric = currentMetric;
  const view = ruleAlert && ruleAlert.view;
  s.view = ['machine', 'sum', 'avg'].includes(view) ? view : 'machine';
  return toHash(s);
}

/**
 * Renders the firing alerts into #alerts-list.
 * @param {object[]} alerts  from GET /api/alerts
 * @param {{rules: object[], alerts: object[]}} ruleSet  from GET /api/rules
 */
export function renderAlerts(alerts, ruleSet, currentMetric) {
  const list = document.getElementById('alerts-list');
  const count = document.getElementById('alerts-count');
  const note = document.getElementById('alerts-note');
  const rules = new Map((ruleSet?.rules || []).map((r) => [r.name, r]));
  const ruleAlerts = new Map((ruleSet?.alerts || []).map((a) => [a.name, a]));
  const firing = alerts.filter((a) => a.state === 'firing');
  const pending = alerts.length - firing.length;
  firing.sort((a, b) =>
    (SEVERITY[a.severity] ?? 9) - (SEVERITY[b.severity] ?? 9)
    || String(a.since || a.window_end).localeCompare(String(b.since || b.window_end))
    || a.alert.localeCompare(b.alert) || String(a.host).localeCompare(String(b.host)));
  count.textContent = String(firing.length);
  count.className = firing.length ? 'badge hot' : 'badge';
  note.textContent = [
    firing.length ? '' : 'No alerts firing.',
    pending ? `${pending} pending.` : '',
    firing.length > MAX_SHOWN ? `Showing the first ${MAX_SHOWN}.` : '',
  ].filter(Boolean).join(' ');
  const now = Date.now();
  list.replaceChildren(...firing.slice(0, MAX_SHOWN).map((a) => {
    const ruleAlert = ruleAlerts.get(a.alert);
    const ruleName = a.rule || ruleAlert?.rule || '';
    const rule = rules.get(ruleName);
    const where = [a.host && `host ${a.host}`, a.key && `key ${a.key}`].filter(Boolean).join(' · ');
    const since = a.since ? Date.parse(a.since) : NaN;
    const sinceText = Number.isFinite(since)
      ? `since ${localTime(since)} (${duration((now - since) / 1000)} ago)`
      : `${a.streak} window${a.streak === 1 ? '' : 's'} in a row`;
    const href = rule || ruleName ? alertHash({ ...a, rule: ruleName }, rule, ruleAlert, currentMetric) : '#';
    const link = el('a', {
      class: 'alert-link',
      href,
      'aria-current': href === location.hash ? 'true' : undefined,
      dataset: { alert: a.alert, rule: ruleName, host: a.host || '', key: a.key || '' },
    },
    el('span', { class: `sev sev-${a.severity || 'none'}`, text: a.severity || 'alert' }),
    el('strong', { text: a.alert }),
    el('span', { class: 'muted', text: ` ${ruleName}${where ? ' · ' + where : ''}` }));
    return el('li', {}, link,
      el('div', { class: 'alert-meta' },
        el('span', { text: `value ${num(a.value)}` }),
        el('span', { text: sinceText }),
        el('span', { class: 'muted', text: `last window ${localTime(Date.parse(a.window_end))}` })));
  }));
}
