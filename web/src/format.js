// Number, time and duration formatting shared by the views.

const full = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });
const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

/** A number for a table cell or legend: grouping, at most 3 decimals, '—' for null. */
export function num(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (typeof v !== 'number') return String(v);
  const a = Math.abs(v);
  if (a !== 0 && a < 0.001) return v.toExponential(2);
  return full.format(v);
}

/** A short number for axis ticks: 1.2K, 3.4M. */
export function short(v) {
  if (v === null || v === undefined) return '';
  return Math.abs(v) >= 10000 ? compact.format(v) : full.format(+v.toPrecision(6));
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** Local date and time, `YYYY-MM-DD HH:MM:SS`. */
export function localTime(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Value for an `<input type="datetime-local" step="1">`. */
export function toLocalInput(ms) {
  return localTime(ms).replace(' ', 'T');
}

/** Epoch ms of a datetime-local value, or NaN. */
export function fromLocalInput(s) {
  if (!s) return NaN;
  return new Date(s).getTime();
}

/** `60000` → `1m`, `90000` → `90s`, `3600000` → `1h`. */
export function span(ms) {
  if (ms % 86400000 === 0) return `${ms / 86400000}d`;
  if (ms % 3600000 === 0) return `${ms / 3600000}h`;
  if (ms % 60000 === 0) return `${ms / 60000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A duration in seconds for people: `42 s`, `3 min 5 s`, `2 h 10 min`. */
export function duration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—';
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** The local time zone's name, for axis labels. */
export function zoneName() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'local'; } catch { return 'local'; }
}

/** Creates an element: `el('td', {class: 'x', dataset: {v: 1}}, 'text', child)`. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
