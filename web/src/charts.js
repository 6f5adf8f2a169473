// uPlot wrappers: theme from CSS variables, the alert marks plugin, a keyboard-usable legend
// and the Data table that is each chart's accessible alternative.

import uPlot from 'uplot';
import { el, localTime, num, short, zoneName } from './format.js';

const SERIES_VARS = 10;
const charts = new Set();

/** The chart colours, read from the CSS variables of the current scheme. */
export function theme() {
  const css = getComputedStyle(document.documentElement);
  const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  const series = [];
  for (let i = 0; i < SERIES_VARS; i++) series.push(v(`--series-${i}`, '#888'));
  return {
    text: v('--chart-text', '#333'),
    axis: v('--chart-axis', '#999'),
    grid: v('--chart-grid', '#eee'),
    single: v('--series-single', series[0]),
    singleFill: v('--series-single-fill', 'transparent'),
    markFill: v('--mark-fill', 'rgba(220,50,50,.15)'),
    markEdge: v('--mark-edge', 'rgba(220,50,50,.6)'),
    font: v('--chart-font', '12px system-ui, sans-serif'),
    series,
  };
}

/** Colour of the i-th series of a multi-series chart. */
export function seriesColor(t, i) {
  return t.series[i % t.series.length];
}

/**
 * Shaded bands over the plot for `getMarks()` = `[[fromMs, toMs], ...]`: drawn on uPlot's
 * drawClear hook, so they sit under the grid and the lines.
 */
export function marksPlugin(getMarks, getTheme) {
  return {
    hooks: {
      drawClear: [
        (u) => {
          const marks = getMarks() || [];
          if (!marks.length) return;
          const t = getTheme();
          const { left, top, width, height } = u.bbox;
          const ctx = u.ctx;
          ctx.save();
          ctx.beginPath();
          ctx.rect(left, top, width, height);
          ctx.clip();
          for (const [from, to] of marks) {
            const x0 = Math.max(left, u.valToPos(from / 1000, 'x', true));
            const x1 = Math.min(left + width, u.valToPos(to / 1000, 'x', true));
            if (!(x1 > x0)) continue;
            ctx.fillStyle = t.markFill;
            ctx.fillRect(x0, top, x1 - x0, height);
            ctx.strokeStyle = t.markEdge;
            ctx.lineWidth = Math.max(1, devicePixelRatio);
            ctx.beginPath();
            ctx.moveTo(Math.round(x0) + 0.5, top);
            ctx.lineTo(Math.round(x0) + 0.5, top + height);
            ctx.moveTo(Math.round(x1) - 0.5, top);
            ctx.lineTo(Math.round(x1) - 0.5, top + height);
            ctx.stroke();
          }
          ctx.restore();
        },
      ],
    },
  };
}

function axisSize(self, values, axisIdx, cycleNum) {
  const axis = self.axes[axisIdx];
  if (cycleNum > 1) return axis._size;
  let size = axis.ticks.size + axis.gap;
  const longest = (values || []).reduce((a, v) => (v.length > a.length ? v : a), '');
  if (longest) {
    self.ctx.font = axis.font[0];
    size += self.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(size) + 4;
}

function yRange(_u, min, max) {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  const pad = (max - min) * 0.08 || Math.abs(max) * 0.1 || 1;
  return [min >= 0 ? 0 : min - pad, max + pad];
}

/**
 * One uPlot chart in `container`. `update()` rebuilds it from data; the same object survives
 * refreshes and theme changes (see `redrawAll`).
 */
export class Chart {
  /**
   * @param {HTMLElement} container
   * @param {{height?: number, onSelect?: (fromMs: number, toMs: number) => void, onCursor?: (idx: number|null) => void}} opts
   */
  constructor(container, opts = {}) {
    this.container = container;
    this.opts = opts;
    this.u = null;
    this.last = null;
    this.hidden = new Set();
    charts.add(this);
    this.resize = new ResizeObserver(() => {
      if (this.u) {
        const w = this.width();
        if (Math.abs(w - this.u.width) > 1) this.u.setSize({ width: w, height: this.height() });
      }
    });
    this.resize.observe(container);
  }

  width() {
    return Math.max(240, Math.floor(this.container.clientWidth || 600));
  }

  height() {
    return this.opts.height || 240;
  }

  /**
   * @param {{times: number[], series: {label: string, values: (number|null)[], color?: string}[],
   *          range: [number, number]|null, yLabel: string, marks?: [number, number][], single?: boolean}} d
   *   times in epoch ms, ascending.
   */
  update(d) {
    this.last = d;
    this.render();
  }

  render() {
    const d = this.last;
    if (!d) return;
    const t = theme();
    if (this.u) { this.u.destroy(); this.u = null; }
    this.container.replaceChildren();
    const marks = d.marks || [];
    this.container.dataset.marks = String(marks.length);
    this.container.dataset.yLabel = d.yLabel;
    const xs = d.times.map((ms) => ms / 1000);
    const self = this;
    const opts = {
      width: this.width(),
      height: this.height(),
      legend: { show: false },
      padding: [12, 28, 0, 0],
      cursor: {
        drag: { x: !!this.opts.onSelect, y: false, setScale: false },
        points: { size: 7 },
      },
      scales: {
        x: {
          time: true,
          range: (u, min, max) => (d.range ? [d.range[0] / 1000, d.range[1] / 1000] : [min, max]),
        },
        y: { range: yRange },
      },
      axes: [
        {
          label: `window end (${zoneName()})`,
          stroke: t.text,
          font: t.font,
          labelFont: t.font,
          grid: { stroke: t.grid, width: 1 },
          ticks: { stroke: t.axis, width: 1 },
        },
        {
          label: d.yLabel,
          stroke: t.text,
          font: t.font,
          labelFont: t.font,
          size: axisSize,
          values: (_u, splits) => splits.map(short),
          grid: { stroke: t.grid, width: 1 },
          ticks: { stroke: t.axis, width: 1 },
        },
      ],
      series: [
        { value: (_u, v) => (v === null ? '—' : localTime(v * 1000)) },
        ...d.series.map((s, i) => ({
          label: s.label,
          stroke: d.single ? t.single : seriesColor(t, i),
          fill: d.single ? t.singleFill : undefined,
          width: 1.5,
          show: !this.hidden.has(s.label),
          value: (_u, v) => num(v),
          points: { size: 4 },
        })),
      ],
      hooks: {
        setSelect: [
          (u) => {
            if (!this.opts.onSelect || u.select.width < 4) return;
            const a = u.posToVal(u.select.left, 'x') * 1000;
            const b = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
            u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
            this.opts.onSelect(Math.round(a / 1000) * 1000, Math.round(b / 1000) * 1000);
          },
        ],
        setCursor: [
          (u) => { if (self.opts.onCursor) self.opts.onCursor(u.cursor.idx ?? null); },
        ],
      },
      plugins: [marksPlugin(() => marks, () => t)],
    };
    this.u = new uPlot(opts, [xs, ...d.series.map((s) => s.values)], this.container);
  }

  /** Shows or hides one series (by label), kept across rebuilds. */
  toggle(label) {
    const show = this.hidden.has(label);
    if (show) this.hidden.delete(label); else this.hidden.add(label);
    if (this.u && this.last) {
      const i = this.last.series.findIndex((s) => s.label === label);
      if (i >= 0) this.u.setSeries(i + 1, { show });
    }
    return show;
  }

  clear() {
    if (this.u) { this.u.destroy(); this.u = null; }
    this.last = null;
    this.container.replaceChildren();
    this.container.dataset.marks = '0';
  }
}

/** Rebuilds every chart with the current theme (the colour scheme changed). */
export function redrawAll() {
  for (const c of charts) c.render();
}

/**
 * Legend as toggle buttons (keyboard usable, aria-pressed). Returns a function that shows
 * the values at a data index next to each label (the cursor's position), or the last value.
 */
export function legend(box, chart, series, colors) {
  box.replaceChildren();
  const valueEls = [];
  series.forEach((s, i) => {
    const value = el('span', { class: 'lv' });
    valueEls.push(value);
    const shown = !chart.hidden.has(s.label);
    const b = el('button', {
      type: 'button',
      class: 'lg',
      'aria-pressed': String(shown),
      title: `${s.label}: press to ${shown ? 'hide' : 'show'}`,
      dataset: { series: s.label },
    }, el('span', { class: 'sw', style: `background:${colors[i]}`, 'aria-hidden': 'true' }), el('span', { class: 'ln', text: s.label }), value);
    b.addEventListener('click', () => {
      const now = chart.toggle(s.label);
      b.setAttribute('aria-pressed', String(now));
      b.title = `${s.label}: press to ${now ? 'hide' : 'show'}`;
    });
    box.append(b);
  });
  const show = (idx) => {
    series.forEach((s, i) => {
      let v = null;
      if (idx === null || idx === undefined) {
        for (let j = s.values.length - 1; j >= 0; j--) if (s.values[j] !== null) { v = s.values[j]; break; }
      } else v = s.values[idx];
      valueEls[i].textContent = num(v);
    });
  };
  show(null);
  return show;
}

/**
 * The Data table: one row per time (`data-t` = epoch ms), one cell per series with
 * `data-series` and `data-value` (raw number, empty for null).
 */
export function dataTable(times, series, timeHeader = 'Window end (local time)') {
  const head = el('tr', {}, el('th', { scope: 'col', text: timeHeader }), ...series.map((s) => el('th', { scope: 'col', text: s.label })));
  const body = el('tbody');
  const frag = document.createDocumentFragment();
  times.forEach((t, i) => {
    const tr = el('tr', { dataset: { t: String(t) } }, el('th', { scope: 'row', text: localTime(t) }));
    for (const s of series) {
      const v = s.values[i];
      tr.append(el('td', { dataset: { series: s.label, value: v === null || v === undefined ? '' : String(v) }, text: num(v) }));
    }
    frag.append(tr);
  });
  body.append(frag);
  return el('table', { class: 'data' }, el('thead', {}, head), body);
}
