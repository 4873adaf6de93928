/**
 * proxy/metric-series.ts against prom-client itself: the same updates into a prom-client metric
 * and into ours, each in a registry of its own, must scrape to the same text (a dashboard or an
 * alert written for one reads the other), including label escaping, removal and metrics without
 * labels.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CounterFamily, HistogramFamily } from '../../../proxy/metric-series.ts';
import { ProxyMetrics } from '../../../proxy/metrics.ts';
import { Counter, Histogram, Registry } from '../../../proxy/runtime-deps.ts';

const BUCKETS = [0.001, 0.01, 0.1, 1, 10];

void test('a counter family scrapes as a prom-client counter does', async () => {
  const theirs = new Registry();
  const ours = new Registry();
  const config = { name: 'x_total', help: 'Things, by "kind" \\ and where.', labelNames: ['kind', 'where'] };
  const c = new Counter({ ...config, registers: [theirs] });
  const f = new CounterFamily(config).registerIn(ours);
  const updates: [string, string, number][] = [
    ['a', 'here', 1],
    ['b', 'there', 2.5],
    ['a', 'here', 3],
    ['quote"back\\slash\nnewline', 'x', 1],
    ['a', 'there', 0],
  ];
  for (const [kind, where, by] of updates) {
    c.labels(kind, where).inc(by);
    f.series(kind, where).inc(by);
  }
  assert.equal(await ours.metrics(), await theirs.metrics());
  assert.match(await ours.metrics(), /^x_total\{kind="a",where="here"\} 4$/m);

  c.remove('a', 'here');
  c.remove('a', 'there');
  f.removeWhere('kind', 'a');
  assert.equal(await ours.metrics(), await theirs.metrics());
  assert.doesNotMatch(await ours.metrics(), /kind="a"/);

  // Removed by the second label: the first level's map emptied is dropped too.
  c.remove('b', 'there');
  f.removeWhere('where', 'there');
  assert.equal(await ours.metrics(), await theirs.metrics());
});

void test('a counter ignores negative and non-finite amounts instead of throwing', () => {
  const s = new CounterFamily({ name: 'y_total', help: 'h' }).series();
  s.inc(2);
  s.inc(-1);
  s.inc(NaN);
  s.inc(Infinity);
  assert.equal(s.value, 2);
});

void test('a counter without labels scrapes at 0 before any update, as prom-client does', async () => {
  const theirs = new Registry();
  const ours = new Registry();
  new Counter({ name: 'bytes_total', help: 'Bytes.', registers: [theirs] });
  const f = new CounterFamily({ name: 'bytes_total', help: 'Bytes.' }).registerIn(ours);
  assert.equal(await ours.metrics(), await theirs.metrics());
  f.series().inc(4096);
  assert.match(await ours.metrics(), /^bytes_total 4096$/m);
});

void test('a histogram family scrapes as a prom-client histogram does, JSON included', async () => {
  const theirs = new Registry();
  const ours = new Registry();
  const config = { name: 'lat_seconds', help: 'Latency.', labelNames: ['op'] };
  const h = new Histogram({ ...config, buckets: BUCKETS, registers: [theirs] });
  const f = new HistogramFamily({ ...config, buckets: [...BUCKETS].reverse() }).registerIn(ours);
  // On a bound, between bounds, below the first, above the last, and 0.
  const observations: [string, number][] = [
    ['get', 0.01],
    ['get', 0.02],
    ['put', 0.0001],
    ['get', 42],
    ['put', 0],
    ['get', 1],
  ];
  for (const [op, v] of observations) {
    h.labels(op).observe(v);
    f.series(op).observe(v);
  }
  assert.equal(await ours.metrics(), await theirs.metrics());
  assert.match(await ours.metrics(), /^lat_seconds_bucket\{le="0.01",op="get"\} 1$/m);
  assert.match(await ours.metrics(), /^lat_seconds_bucket\{le="\+Inf",op="get"\} 4$/m);
  // prom-client's values also carry an empty exemplar slot (null or undefined); ours none.
  const withoutExemplars = (json: unknown): unknown =>
    JSON.parse(JSON.stringify(json, (k, v: unknown) => (k === 'exemplar' ? undefined : v)));
  assert.deepEqual(
    withoutExemplars(await ours.getMetricsAsJSON()),
    withoutExemplars(await theirs.getMetricsAsJSON()),
  );

  h.remove('put');
  f.removeWhere('op', 'put');
  assert.equal(await ours.metrics(), await theirs.metrics());
});

void test('a histogram ignores NaN and infinities', () => {
  const s = new HistogramFamily({ name: 'z', help: 'h', labelNames: ['a'], buckets: BUCKETS }).series('x');
  s.observe(NaN);
  s.observe(-Infinity);
  s.observe(0.5);
  assert.equal(s.count, 1);
  assert.equal(s.sum, 0.5);
});

void test("the proxy's request-path series scrape under their documented names", async () => {
  const m = new ProxyMetrics();
  m.requestsOf('GetObject', '2xx', '10.0.0.1:9000').inc();
  m.requestsOf('GetObject', '2xx', '10.0.0.1:9000').inc();
  m.durationOf('GetObject').observe(0.003);
  m.backendHeadersOf('10.0.0.1:9000').observe(0.002);
  m.sentBytes.inc(4096);
  m.inFlightCount = 3;
  const text = await m.registry.metrics();
  assert.match(
    text,
    /^sluice_proxy_requests_total\{operation="GetObject",status_class="2xx",backend="10\.0\.0\.1:9000"\} 2$/m,
  );
  assert.match(
    text,
    /^sluice_proxy_request_duration_seconds_bucket\{le="0\.005",operation="GetObject"\} 1$/m,
  );
  assert.match(
    text,
    /^sluice_proxy_backend_response_headers_seconds_count\{backend="10\.0\.0\.1:9000"\} 1$/m,
  );
  assert.match(text, /^sluice_proxy_sent_bytes_total 4096$/m);
  assert.match(text, /^sluice_proxy_received_bytes_total 0$/m);
  assert.match(text, /^sluice_proxy_in_flight_requests 3$/m);
  assert.match(text, /^sluice_proxy_log_lines_dropped_total 0$/m);
  m.forgetBackend('10.0.0.1:9000');
  assert.doesNotMatch(await m.registry.metrics(), /10\.0\.0\.1:9000/);
});

void test('after registry.resetMetrics() a kept series without labels still counts; labelled ones go', async () => {
  const m = new ProxyMetrics();
  m.sentBytes.inc(10);
  m.requestsOf('GetObject', '2xx', 'b').inc();
  m.registry.resetMetrics();
  m.sentBytes.inc(5);
  const text = await m.registry.metrics();
  assert.match(text, /^sluice_proxy_sent_bytes_total 5$/m);
  assert.doesNotMatch(text, /^sluice_proxy_requests_total\{/m);
});
