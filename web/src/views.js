// The chosen rule's three views (per host, sum over hosts, average over hosts), the metric
// switch and the top / host / key filters.

import { getSeries } from './api.js';
import { Chart, dataTable, legend } from './charts.js';
import { el, localTime, num, span } from './format.js';
import { METRICS } from './state.js';

const TITLES = { machine: 'per host', sum: 'sum over hosts', avg: 'average over hosts' };

/** The y axis label: what a point means, with its unit. */
export function yLabel(rule, metric) {
  if (metric === 'count') {
    const w = span(rule.window_ms);
    return rule.slide_ms && rule.slide_ms !== rule.window_ms
      ? `matches per ${w} window (slide ${span(rule.slide_ms)})`
      : `matches per ${w} window`;
  }
  return `${rule.value || 'value'} (${metric})`;
}

/** The metrics a rule offers: only count for a counting rule. */
export function metricsFor(rule) {
  return rule && rule.value !== null && rule.value !== undefined ? METRICS : ['count'];
}

export class Views {
  /** @param {(patch: object) => void} change  applies a state change (from the controls). */
  constructor(change) {
    this.change = change;
    this.seq = 0;
    this.hostsSeen = new Set();
    this.views = {};
    for (const name of ['machine', 'sum', 'avg']) {
      const box = document.getElementById(`view-${name}`);
      const v = {
        name,
        box,
        chartEl: box.querySelector('.chart'),
        legendEl: box.querySelector('.legend'),
        note: box.querySelector('.note'),
        details: box.querySelector('details'),
        tableWrap: box.querySelector('.table-wrap'),
        data: null,
        showValues: null,
      };
      v.chart = new Chart(v.chartEl, {
        height: name === 'machine' ? 300 : 220,
        onSelect: (from, to) => change({ range: 'custom', from, to }),
        onCursor: (idx) => v.showValues && v.showValues(idx),
      });
      // The Data table is built when opened (and kept up to date while open).
      v.details.addEventListener('toggle', () => this.renderTable(v));
      this.views[name] = v;
    }
    this.controls = document.getElementById('view-controls');
    this.metricOpts = document.querySelector('#metric .metric-opts');
    this.top = document.getElementById('top');
    this.host = document.getElementById('host');
    this.hostOptions = document.getElementById('host-options');
    this.key = document.getElementById('key');
    this.top.addEventListener('change', () => change({ top: Number(this.top.value) }));
    this.host.addEventListener('change', () => change({ host: this.host.value.trim() }));
    this.key.addEventListener('change', () => change({ key: this.key.value }));
    document.getElementById('mark-clear').addEventListener('click', () => change({ mark: [] }));
  }

  /** Shows the controls for `rule` and the state (without loading). */
  syncControls(state, rule) {
    this.controls.hidden = !rule;
    if (!rule) return;
    const offered = metricsFor(rule);
    const current = [...this.metricOpts.querySelectorAll('input')].map((i) => i.value).join();
    if (current !== offered.join()) {
      this.metricOpts.replaceChildren(
        ...offered.map((m) => el('span', { class: 'radio' },
          el('input', { type: 'radio', name: 'metric', id: `metric-${m}`, value: m, onchange: () => this.change({ metric: m }) }),
          el('label', { for: `metric-${m}`, text: m }))),
      );
    }
    for (const input of this.metricOpts.querySelectorAll('input')) input.checked = input.value === state.metric;
    if (![...this.top.options].some((o) => Number(o.value) === state.top)) this.top.append(el('option', { text: String(state.top) }));
    this.top.value = String(state.top);
    if (document.activeElement !== this.host) this.host.value = state.host;
    this.setKeys([], state.key);
    const markInfo = document.getElementById('mark-info');
    markInfo.hidden = !state.mark.length;
    if (state.mark.length) {
      document.getElementById('mark-text').textContent =
        'Marked: ' + state.mark.map(([a, b]) => `${localTime(a)} – ${localTime(b)}`).join(', ');
    }
    for (const v of Object.values(this.views)) v.box.classList.toggle('focus', state.view === v.name);
  }

  setKeys(keys, selected) {
    const all = new Set([...[...this.key.options].map((o) => o.value), ...keys].filter(Boolean));
    if (selected) all.add(selected);
    const want = ['', ...[...all].sort()];
    const have = [...this.key.options].map((o) => o.value);
    if (want.join('\n') !== have.join('\n')) {
      this.key.replaceChildren(...want.map((k) => el('option', { value: k, text: k || 'all keys (merged)' })));
    }
    this.key.value = selected || '';
  }

  clear() {
    this.seq++;
    for (const v of Object.values(this.views)) {
      v.chart.clear();
      v.data = null;
      v.legendEl && v.legendEl.replaceChildren();
      v.tableWrap.replaceChildren();
      v.note.textContent = '';
      v.box.dataset.state = 'idle';
      v.box.removeAttribute('aria-busy');
    }
  }

  /** Loads and draws the three views for `rule` over `[from, to]`. */
  async load(state, rule, [from, to]) {
    const seq = ++this.seq;
    const metric = metricsFor(rule).includes(state.metric) ? state.metric : 'count';
    const common = { rule: rule.name, metric, from: Math.floor(from), to: Math.ceil(to), host: state.host, key: state.key };
    const jobs = Object.values(this.views).map(async (v) => {
      v.box.dataset.state = v.data ? 'refreshing' : 'loading';
      v.box.setAttribute('aria-busy', 'true');
      if (!v.data) v.note.textContent = 'Loading…';
      try {
        const params = { ...common, view: v.name, top: v.name === 'machine' ? state.top : undefined };
        const res = await getSeries(params);
        if (seq !== this.seq) return;
        this.render(v, res, { rule, metric, from, to, state });
        if (v.name === 'machine') this.noteKeysAndHosts(res, state);
      } catch (e) {
        if (seq !== this.seq) return;
        v.chart.clear();
        v.data = null;
        if (v.legendEl) v.legendEl.replaceChildren();
        v.tableWrap.replaceChildren();
        v.note.replaceChildren(el('span', { class: 'error', role: 'alert', text: `Could not load: ${e.message}` }));
        v.box.dataset.state = 'error';
      } finally {
        if (seq === this.seq) v.box.removeAttribute('aria-busy');
      }
    });
    await Promise.all(jobs);
  }

  noteKeysAndHosts(res, state) {
    this.setKeys(res.keys || [], state.key);
    for (const s of res.series || []) this.hostsSeen.add(s.label);
    if (state.host) this.hostsSeen.add(state.host);
    const have = [...this.hostOptions.options].map((o) => o.value).join('\n');
    const want = [...this.hostsSeen].sort();
    if (have !== want.join('\n')) this.hostOptions.replaceChildren(...want.map((h) => el('option', { value: h })));
  }

  render(v, res, { rule, metric, from, to, state }) {
    const times = res.times || [];
    const series = (res.series || []).filter((s) => Array.isArray(s.values));
    const hasData = times.length > 0 && series.some((s) => s.values.some((x) => x !== null));
    if (v.box.dataset.rule !== rule.name) v.chart.hidden.clear();
    Object.assign(v.box.dataset, { rule: rule.name, metric, from: String(Math.floor(from)), to: String(Math.ceil(to)) });
    if (!hasData) {
      v.chart.clear();
      v.data = null;
      if (v.legendEl) v.legendEl.replaceChildren();
      v.tableWrap.replaceChildren();
      const filter = [state.host && `host ${state.host}`, state.key && `key ${state.key}`].filter(Boolean).join(', ');
      v.note.replaceChildren(el('span', { class: 'empty', text: `No data in this range${filter ? ` for ${filter}` : ''}.` }));
      v.box.dataset.state = 'empty';
      return;
    }
    v.data = { times, series };
    const label = yLabel(rule, metric);
    v.chartEl.setAttribute('aria-label', `${rule.name}, ${TITLES[v.name]}: ${label}, ${series.length} series, ${times.length} windows; numbers in the Data table below`);
    v.chart.update({
      times,
      series,
      range: [from, to],
      yLabel: label,
      marks: state.mark,
      single: v.name !== 'machine',
    });
    if (v.legendEl) {
      const colors = series.map((_, i) => `var(--series-${i % 10})`);
      v.showValues = legend(v.legendEl, v.chart, series, colors);
      const total = res.hosts_total;
      const hosts = `${num(total)} host${total === 1 ? '' : 's'}`; // with a key filter: hosts with that key
      v.note.textContent = state.host
        ? `Host ${state.host} only.`
        : total !== undefined
          ? `${series.length === total ? 'All' : `Top ${series.length} of`} ${hosts}, ordered by value. Press a host to hide or show it.`
          : '';
    } else {
      const last = [...series[0].values].reverse().find((x) => x !== null);
      v.note.textContent = `Latest: ${num(last)} · ${times.length} window${times.length === 1 ? '' : 's'}`;
    }
    v.box.dataset.state = 'ready';
    this.renderTable(v);
  }

  renderTable(v) {
    if (!v.details.open || !v.data) return;
    v.tableWrap.replaceChildren(dataTable(v.data.times, v.data.series));
  }

  /** Scrolls the focused view into sight (after an alert was opened). */
  reveal(name) {
    const v = this.views[name] || this.views.machine;
    v.box.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }
}
