// Ingest health from GET /metrics (Prometheus / OpenMetrics text), parsed here in the browser.

import { getMetrics } from './api.js';
import { duration, num } from './format.js';

/** Parses the exposition text into `[{name, labels: {k: v}, value}]`. */
export function parseMetrics(text) {
  const out = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let l;
      while ((l = re.exec(m[3]))) labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    }
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    out.push({ name: m[1], labels, value });
  }
  return out;
}

const pick = (samples, name) => samples.filter((s) => s.name === name);
const sum = (xs) => xs.reduce((a, s) => a + s.value, 0);

/** The numbers the health panel shows (rate needs the previous reading). */
export function healthNumbers(samples) {
  const errors = pick(samples, 'logpulse_ingest_errors_total');
  const byReason = {};
  for (const e of errors) byReason[e.labels.reason || '?'] = (byReason[e.labels.reason || '?'] || 0) + e.value;
  const lag = pick(samples, 'logpulse_consumer_lag');
  const age = pick(samples, 'logpulse_checkpoint_age_seconds');
  return {
    eventsIn: sum(pick(samples, 'logpulse_events_in_total')),
    late: sum(pick(samples, 'logpulse_late_events_total')),
    decode: byReason.decode || 0,
    byReason,
    lag: lag.length ? sum(lag) : null,
    checkpointAge: age.length ? Math.max(...age.map((s) => s.value)) : null,
  };
}

export class Health {
  constructor() {
    this.prev = null;
    this.el = (id) => document.getElementById(id);
  }

  async refresh() {
    let text;
    try {
      text = await getMetrics();
    } catch (e) {
      this.el('health-note').textContent = `Could not read /metrics: ${e.message}`;
      this.el('health-note').className = 'error';
      return;
    }
    const now = performance.now();
    const h = healthNumbers(parseMetrics(text));
    const rate = this.el('health-rate');
    if (this.prev && now > this.prev.at && h.eventsIn >= this.prev.eventsIn) {
      const perSec = (h.eventsIn - this.prev.eventsIn) / ((now - this.prev.at) / 1000);
      rate.textContent = `${num(Math.round(perSec * 10) / 10)} /s`;
      rate.dataset.value = String(perSec);
    } else if (!this.prev || h.eventsIn < this.prev.eventsIn) {
      rate.textContent = '…';
      rate.title = 'needs two readings';
    }
    rate.title = `${num(h.eventsIn)} events decoded in total (logpulse_events_in_total)`;
    this.prev = { at: now, eventsIn: h.eventsIn };
    this.set('health-late', num(h.late), h.late, 'events behind their window\'s close (logpulse_late_events_total)', h.late > 0);
    const reasons = Object.entries(h.byReason).sort().map(([r, n]) => `${r}: ${num(n)}`).join(', ');
    this.set('health-decode', num(h.decode), h.decode, `ingest errors by reason: ${reasons || 'none'}`, h.decode > 0);
    this.set('health-lag', h.lag === null ? 'n/a' : `${num(h.lag)} msg`, h.lag, h.lag === null ? 'no Kafka source (logpulse_consumer_lag)' : 'messages behind the high-water mark, summed over partitions', h.lag > 10000);
    this.set('health-checkpoint', duration(h.checkpointAge), h.checkpointAge, 'oldest lane checkpoint (max of logpulse_checkpoint_age_seconds)', h.checkpointAge > 300);
    const note = this.el('health-note');
    note.className = 'muted';
    note.textContent = reasons ? `Errors by reason: ${reasons}` : 'No ingest errors.';
  }

  set(id, text, value, title, warn) {
    const e = this.el(id);
    e.textContent = text;
    e.title = title;
    e.dataset.value = value === null || value === undefined ? '' : String(value);
    e.classList.toggle('warn', !!warn);
  }
}
