// The page's state, kept in the URL hash so a view can be linked and reloaded:
// #rule=latency&metric=avg&range=1h  or  #rule=latency&from=MS&to=MS&top=10&host=h&key=k&mark=MS-MS&view=machine

export const RANGES = { '15m': 15 * 60e3, '1h': 3600e3, '6h': 6 * 3600e3, '24h': 24 * 3600e3 };
export const METRICS = ['count', 'sum', 'avg', 'min', 'max'];
export const VIEWS = ['machine', 'sum', 'avg'];
const DEFAULTS = { rule: '', metric: 'count', range: '1h', from: null, to: null, top: 10, host: '', key: '', mark: [], view: '' };

export function defaults() {
  return { ...DEFAULTS, mark: [] };
}

/** Parses `#a=b&...` into a state (unknown or malformed parts fall back to defaults). */
export function parseHash(hash) {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const s = defaults();
  s.rule = p.get('rule') || '';
  if (METRICS.includes(p.get('metric'))) s.metric = p.get('metric');
  const from = Number(p.get('from'));
  const to = Number(p.get('to'));
  if (p.has('from') && p.has('to') && Number.isFinite(from) && Number.isFinite(to) && to > from) {
    s.range = 'custom';
    s.from = from;
    s.to = to;
  } else if (p.get('range') in RANGES) {
    s.range = p.get('range');
  }
  const top = parseInt(p.get('top'), 10);
  if (top > 0 && top <= 1000) s.top = top;
  s.host = p.get('host') || '';
  s.key = p.get('key') || '';
  s.mark = (p.get('mark') || '')
    .split(',')
    .map((m) => m.split('-').map(Number))
    .filter((m) => m.length === 2 && m.every(Number.isFinite) && m[1] > m[0]);
  if (VIEWS.includes(p.get('view'))) s.view = p.get('view');
  return s;
}

/** The hash for a state (defaults left out). */
export function toHash(s) {
  const p = new URLSearchParams();
  if (s.rule) p.set('rule', s.rule);
  if (s.metric !== 'count') p.set('metric', s.metric);
  if (s.range === 'custom') {
    p.set('from', String(s.from));
    p.set('to', String(s.to));
  } else if (s.range !== DEFAULTS.range) p.set('range', s.range);
  if (s.top !== DEFAULTS.top) p.set('top', String(s.top));
  if (s.host) p.set('host', s.host);
  if (s.key) p.set('key', s.key);
  if (s.mark.length) p.set('mark', s.mark.map(([a, b]) => `${a}-${b}`).join(','));
  if (s.view) p.set('view', s.view);
  return '#' + p.toString();
}

/** `[from, to]` in epoch ms: the custom range, or the last N before `now`. */
export function timeRange(s, now = Date.now()) {
  if (s.range === 'custom') return [s.from, s.to];
  return [now - RANGES[s.range], now];
}
