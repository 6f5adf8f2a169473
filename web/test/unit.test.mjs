// Unit tests of the page's pure functions (node --test; no browser, no worker).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { alertHash, alertSpan } from '../src/alerts.js';
import { healthNumbers, parseMetrics } from '../src/health.js';
import { chartData, chartPlan } from '../src/sql.js';
import { parseHash, timeRange, toHash } from '../src/state.js';

test('the hash round-trips and falls back to defaults', () => {
  const s = parseHash('#rule=lat%20ency&metric=avg&from=1000&to=2000&top=5&host=h1&key=status%3D500&mark=1100-1500&view=sum');
  assert.equal(s.rule, 'lat ency');
  assert.equal(s.metric, 'avg');
  assert.equal(s.range, 'custom');
  assert.deepEqual([s.from, s.to], [1000, 2000]);
  assert.equal(s.top, 5);
  assert.equal(s.key, 'status=500');
  assert.deepEqual(s.mark, [[1100, 1500]]);
  assert.equal(s.view, 'sum');
  assert.deepEqual(parseHash(toHash(s)), s);
  const d = parseHash('#metric=median&from=5&to=1&top=-1&range=2y');
  assert.equal(d.metric, 'count');
  assert.equal(d.range, '1h');
  assert.equal(d.top, 10);
  assert.equal(toHash(d), '#');
  assert.deepEqual(timeRange(parseHash('#range=15m'), 1_000_000), [100_000, 1_000_000]);
});

test('the metrics text is parsed as the health panel needs it', () => {
  const text = `# HELP logpulse_events_in_total Events decoded.
# TYPE logpulse_events_in Counter
logpulse_events_in_total{stream="app"} 100
logpulse_events_in_total{stream="b\\"x"} 23
logpulse_late_events_total 4
logpulse_ingest_errors_total{reason="decode"} 7
logpulse_ingest_errors_total{reason="too_long"} 2
logpulse_consumer_lag{topic="t",partition="0"} 10
logpulse_consumer_lag{topic="t",partition="1"} 5
logpulse_checkpoint_age_seconds{lane="a"} 3.5
logpulse_checkpoint_age_seconds{lane="b"} 12.25
# EOF
`;
  const samples = parseMetrics(text);
  assert.equal(samples[1].labels.stream, 'b"x');
  const h = healthNumbers(samples);
  assert.equal(h.eventsIn, 123);
  assert.equal(h.late, 4);
  assert.equal(h.decode, 7);
  assert.deepEqual(h.byReason, { decode: 7, too_long: 2 });
  assert.equal(h.lag, 15);
  assert.equal(h.checkpointAge, 12.25);
  const empty = healthNumbers(parseMetrics('logpulse_events_in_total{stream="a"} 1\n'));
  assert.equal(empty.lag, null);
  assert.equal(empty.checkpointAge, null);
  assert.equal(empty.decode, 0);
});

test('an alert marks held_from .. window_end, or its streak when held_from is missing', () => {
  const rule = { name: 'r', window_ms: 60_000, slide_ms: 60_000, value: null };
  const a = { alert: 'hot', rule: 'r', host: 'h', key: '', window_end: '2026-11-26T10:30:00Z', streak: 3 };
  const end = Date.parse(a.window_end);
  assert.deepEqual(alertSpan(a, rule), [end - 180_000, end]);
  assert.deepEqual(alertSpan({ ...a, held_from: '2026-11-26T10:00:00Z' }, rule), [Date.parse('2026-11-26T10:00:00Z'), end]);
  const s = parseHash(alertHash({ ...a, held_from: '2026-11-26T10:00:00Z' }, rule, { view: 'sum' }, 'avg'));
  assert.equal(s.rule, 'r');
  assert.equal(s.host, 'h');
  assert.equal(s.metric, 'count'); // a counting rule offers only count
  assert.equal(s.view, 'sum');
  assert.ok(s.from < Date.parse('2026-11-26T10:00:00Z') && s.to > end);
  assert.deepEqual(s.mark, [[Date.parse('2026-11-26T10:00:00Z'), end]]);
});

test('SQL rows: a time column charts numeric columns, one string column pivots (at most 10)', () => {
  assert.equal(chartPlan([{ host: 'a', n: 1 }]), null);
  const rows = [
    { window_start: '2026-11-26T10:00:00Z', window_end: '2026-11-26T10:01:00.000Z', host: 'a', count: 1, note: null },
    { window_start: '2026-11-26T10:00:00Z', window_end: '2026-11-26T10:01:00.000Z', host: 'b', count: 2, note: null },
    { window_start: '2026-11-26T10:01:00Z', window_end: '2026-11-26T10:02:00.000Z', host: 'a', count: 3, note: null },
  ];
  const plan = chartPlan(rows);
  assert.deepEqual(plan, { time: 'window_end', nums: ['count'], pivot: 'host' });
  const d = chartData(rows, plan);
  assert.deepEqual(d.times, [Date.parse('2026-11-26T10:01:00Z'), Date.parse('2026-11-26T10:02:00Z')]);
  assert.deepEqual(d.series, [{ label: 'a', values: [1, 3] }, { label: 'b', values: [2, null] }]);
  const many = [];
  for (let i = 0; i < 12; i++) many.push({ t: '2026-11-26T10:00:00Z', g: `g${i}`, v: i, w: 1 });
  const p2 = chartPlan(many);
  assert.equal(p2.pivot, 'g');
  const d2 = chartData(many, p2);
  assert.equal(d2.dropped, 2);
  assert.equal(d2.series.length, 20);
  assert.equal(d2.series[0].label, 'g0 · v');
  const two = chartPlan([{ t: '2026-11-26T10:00:00Z', a: 'x', b: 'y', v: 1 }]);
  assert.equal(two.pivot, null);
});
