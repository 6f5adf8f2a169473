// The SQL box: POST /api/sql, a table of the rows, and a chart when a time column is present.

import { postSql } from './api.js';
import { Chart, dataTable, legend } from './charts.js';
import { el, num } from './format.js';

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
const MAX_ROWS = 2000;
const MAX_PIVOT = 10;

/**
 * How to chart rows, or null: the time column (all its values RFC 3339 strings; `window_end`
 * preferred), numeric columns as series, and, when exactly one other string column is left,
 * one series per value of it (at most 10).
 */
export function chartPlan(rows) {
  if (!rows.length) return null;
  const cols = Object.keys(rows[0]);
  const kind = {};
  for (const c of cols) {
    let k = null;
    for (const r of rows) {
      const v = r[c];
      if (v === null || v === undefined) continue;
      const vk = typeof v === 'number' ? 'num' : typeof v === 'string' ? (RFC3339.test(v) ? 'time' : 'str') : 'other';
      if (k === null) k = vk;
      else if (k !== vk) { k = k === 'time' && vk === 'str' ? 'str' : 'other'; if (k === 'other') break; }
    }
    kind[c] = k;
  }
  const times = cols.filter((c) => kind[c] === 'time');
  if (!times.length) return null;
  const time = times.includes('window_end') ? 'window_end' : times[0];
  const nums = cols.filter((c) => kind[c] === 'num');
  if (!nums.length) return null;
  const strs = cols.filter((c) => kind[c] === 'str');
  return { time, nums, pivot: strs.length === 1 ? strs[0] : null };
}

/** `{times, series, dropped}` for a plan. Rows with the same time (and pivot value) keep the last. */
export function chartData(rows, plan) {
  const times = [...new Set(rows.map((r) => r[plan.time]).filter(Boolean).map((t) => Date.parse(t)))].sort((a, b) => a - b);
  const at = new Map(times.map((t, i) => [t, i]));
  let groups = [null];
  let dropped = 0;
  if (plan.pivot) {
    const seen = [];
    for (const r of rows) if (!seen.includes(r[plan.pivot])) seen.push(r[plan.pivot]);
    dropped = Math.max(0, seen.length - MAX_PIVOT);
    groups = seen.slice(0, MAX_PIVOT);
  }
  const series = [];
  for (const g of groups) {
    for (const c of plan.nums) {
      const label = g === null ? c : plan.nums.length > 1 ? `${g ?? '(null)'} · ${c}` : String(g ?? '(null)');
      series.push({ label, values: new Array(times.length).fill(null), group: g, col: c });
    }
  }
  for (const r of rows) {
    const i = at.get(Date.parse(r[plan.time]));
    if (i === undefined) continue;
    for (const s of series) {
      if (plan.pivot && r[plan.pivot] !== s.group) continue;
      if (r[s.col] !== null && r[s.col] !== undefined) s.values[i] = r[s.col];
    }
  }
  return { times, series: series.map(({ label, values }) => ({ label, values })), dropped };
}

function rowsTable(rows) {
  const cols = Object.keys(rows[0] || {});
  const shown = rows.slice(0, MAX_ROWS);
  const body = el('tbody');
  for (const r of shown) {
    body.append(el('tr', {}, ...cols.map((c) => {
      const v = r[c];
      const isNum = typeof v === 'number';
      return el('td', {
        class: isNum ? 'n' : undefined,
        dataset: { col: c, value: v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v) },
        text: v === null ? 'NULL' : isNum ? num(v) : typeof v === 'object' ? JSON.stringify(v) : String(v),
      });
    })));
  }
  return el('table', { class: 'rows' }, el('thead', {}, el('tr', {}, ...cols.map((c) => el('th', { scope: 'col', text: c })))), body);
}

export class SqlBox {
  constructor() {
    this.form = document.getElementById('sql-form');
    this.input = document.getElementById('sql-input');
    this.run = document.getElementById('sql-run');
    this.status = document.getElementById('sql-status');
    this.error = document.getElementById('sql-error');
    this.result = document.getElementById('sql-result');
    this.table = document.getElementById('sql-table');
    this.chartBox = document.getElementById('sql-chart-box');
    this.legendEl = document.getElementById('sql-legend');
    this.showValues = null;
    this.chart = new Chart(document.getElementById('sql-chart'), {
      height: 260,
      onCursor: (idx) => this.showValues && this.showValues(idx),
    });
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.execute(); });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); this.execute(); }
    });
  }

  async execute() {
    const text = this.input.value.trim();
    if (!text) return;
    this.run.disabled = true;
    this.result.dataset.state = 'loading';
    this.result.setAttribute('aria-busy', 'true');
    this.status.textContent = 'Running…';
    this.error.hidden = true;
    const started = performance.now();
    try {
      const rows = await postSql(text);
      const ms = Math.round(performance.now() - started);
      this.show(Array.isArray(rows) ? rows : [rows], ms);
    } catch (e) {
      this.chart.clear();
      this.chartBox.hidden = true;
      this.table.replaceChildren();
      this.error.textContent = e.message;
      this.error.hidden = false;
      this.status.textContent = e.status ? `HTTP ${e.status}${e.kind ? ` (${e.kind})` : ''}` : '';
      this.result.dataset.state = 'error';
    } finally {
      this.run.disabled = false;
      this.result.removeAttribute('aria-busy');
    }
  }

  show(rows, ms) {
    this.status.textContent = `${num(rows.length)} row${rows.length === 1 ? '' : 's'} in ${num(ms)} ms${rows.length > MAX_ROWS ? `, first ${num(MAX_ROWS)} shown` : ''}`;
    if (!rows.length) {
      this.table.replaceChildren(el('p', { class: 'empty', text: 'The query returned no rows.' }));
      this.chart.clear();
      this.chartBox.hidden = true;
      this.result.dataset.state = 'empty';
      return;
    }
    const plan = chartPlan(rows);
    this.chartBox.hidden = !plan;
    if (plan) {
      const { times, series, dropped } = chartData(rows, plan);
      this.chart.hidden = new Set();
      this.chart.update({
        times,
        series,
        range: null,
        yLabel: plan.pivot ? `${plan.nums.join(', ')} by ${plan.pivot}${dropped ? ` (first ${MAX_PIVOT})` : ''}` : plan.nums.join(', '),
        marks: [],
      });
      this.showValues = legend(this.legendEl, this.chart, series, series.map((_, i) => `var(--series-${i % 10})`));
      this.chartBox.dataset.time = plan.time;
      const details = el('details', {}, el('summary', { text: 'Data' }), el('div', { class: 'table-wrap' }, dataTable(times, series, `${plan.time} (local time)`)));
      this.table.replaceChildren(rowsTable(rows), details);
    } else {
      this.chart.clear();
      this.table.replaceChildren(rowsTable(rows));
    }
    this.result.dataset.state = 'ready';
  }
}
