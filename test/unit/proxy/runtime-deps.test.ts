/**
 * proxy/runtime-deps.ts loads prom-client classes from the modules that define them; these must
 * be the very classes the package exports. The sidecar must load no undici at all. Run in a
 * child process so this test's own imports cannot load the packages first. prom-client's default metrics
 * (process_*, nodejs_*) come the same way and must reach every proxy's registry.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function run(script: string): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  }).trim();
}

void test('the sidecar loads no undici: the server, balancer and health checks use proxy/http1/', () => {
  const out = run(`
    await import('./proxy/server.ts');
    await import('./proxy/balancer/health-check.ts');
    await import('./proxy/cli.ts');
    const { createRequire } = await import('node:module');
    const undici = Object.keys(createRequire(import.meta.url).cache).filter((p) => p.includes('/node_modules/undici/'));
    console.log(JSON.stringify({ undici: undici.length }));
  `);
  assert.deepEqual(JSON.parse(out), { undici: 0 });
});

void test('the sidecar loads neither tls, http2 nor zlib until an https backend needs tls (proxy/node-builtins.ts)', () => {
  const out = run(`
    const loaded = () => process.moduleLoadList.filter((n) => /^NativeModule (tls|http2|zlib)$/.test(n)).map((n) => n.slice(13));
    await import('./proxy/cli.ts');
    await import('./proxy/server.ts');
    const atStart = loaded();
    (await import('./proxy/node-builtins.ts')).loadTls();
    console.log(JSON.stringify({ atStart, afterTls: loaded() }));
  `);
  assert.deepEqual(JSON.parse(out), { atStart: [], afterTls: ['tls'] });
});

void test('they are the classes the packages export', async () => {
  const deps = await import('../../../proxy/runtime-deps.ts');
  const prom = await import('prom-client');
  assert.equal(deps.Counter, prom.Counter);
  assert.equal(deps.Gauge, prom.Gauge);
  assert.equal(deps.Histogram, prom.Histogram);
  assert.equal(deps.Registry, prom.Registry);
  assert.equal(deps.collectDefaultMetrics, prom.collectDefaultMetrics);
});

void test("the proxy's default metrics load neither prom-client's entry point nor Pushgateway, Summary, cluster or zlib", () => {
  const out = run(`
    const { ProxyMetrics } = await import('./proxy/metrics.ts');
    const { createRequire } = await import('node:module');
    const m = new ProxyMetrics();
    const prom = Object.keys(createRequire(import.meta.url).cache)
      .filter((p) => p.includes('/node_modules/prom-client/'))
      .map((p) => p.slice(p.indexOf('/node_modules/prom-client/') + '/node_modules/prom-client/'.length));
    const builtins = process.moduleLoadList.filter((n) => /^NativeModule (zlib|cluster|https)$/.test(n));
    console.log(JSON.stringify({ prom, builtins, rss: m.registry.getSingleMetric('process_resident_memory_bytes') !== undefined }));
  `);
  const r = JSON.parse(out) as { prom: string[]; builtins: string[]; rss: boolean };
  assert.equal(r.rss, true, 'ProxyMetrics registers the default metrics');
  assert.ok(r.prom.includes('lib/defaultMetrics.js'), r.prom.join(' '));
  for (const heavy of ['index.js', 'lib/pushgateway.js', 'lib/summary.js', 'lib/cluster.js']) {
    assert.ok(!r.prom.includes(heavy), `${heavy} loaded`);
  }
  assert.deepEqual(r.builtins, []);
});

/** The value of an unlabelled sample `name` in a text exposition, or undefined. */
function sample(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

void test("ProxyMetrics' registry serves the process and Node.js metrics, shared by every proxy", async () => {
  const { ProxyMetrics } = await import('../../../proxy/metrics.ts');
  const a = new ProxyMetrics();
  const b = new ProxyMetrics();
  // nodejs_eventloop_lag_seconds is set by a setImmediate that a scrape schedules, so the value
  // shows in the next scrape (prom-client's behaviour); our setImmediate runs after that one.
  await a.registry.metrics();
  await new Promise((resolve) => setImmediate(resolve));
  const text = await a.registry.metrics();

  const rss = sample(text, 'process_resident_memory_bytes');
  assert.ok(rss !== undefined && rss > 8 * 1024 * 1024, `process_resident_memory_bytes ${rss}`);
  const lag = sample(text, 'nodejs_eventloop_lag_seconds');
  assert.ok(lag !== undefined && lag > 0 && lag < 60, `nodejs_eventloop_lag_seconds ${lag}`);
  const cpu = sample(text, 'process_cpu_seconds_total');
  assert.ok(cpu !== undefined && cpu > 0, `process_cpu_seconds_total ${cpu}`);
  const fds = sample(text, 'process_open_fds');
  const maxFds = sample(text, 'process_max_fds');
  assert.ok(fds !== undefined && maxFds !== undefined && fds > 0 && fds <= maxFds, `fds ${fds}/${maxFds}`);
  const heap = sample(text, 'nodejs_heap_size_used_bytes');
  assert.ok(heap !== undefined && heap > 0, `nodejs_heap_size_used_bytes ${heap}`);
  assert.match(text, /^# TYPE nodejs_gc_duration_seconds histogram$/m);
  // The proxy's own metrics are still there, and the names carry no prefix.
  assert.match(text, /^# TYPE sluice_proxy_requests_total counter$/m);
  assert.doesNotMatch(text, /^sluice_(process|nodejs)_/m);

  // One set of process metrics (one event-loop monitor, one GC observer) for every proxy.
  for (const name of [
    'process_resident_memory_bytes',
    'nodejs_eventloop_lag_seconds',
    'nodejs_gc_duration_seconds',
  ]) {
    const m = a.registry.getSingleMetric(name);
    assert.ok(m !== undefined, name);
    assert.equal(b.registry.getSingleMetric(name), m, name);
  }
});

void test('the event-loop delay monitor samples every EVENT_LOOP_SAMPLING_MS, not prom-client’s 10 ms', async () => {
  const { ProxyMetrics, EVENT_LOOP_SAMPLING_MS } = await import('../../../proxy/metrics.ts');
  const m = new ProxyMetrics();
  await m.registry.metrics(); // a scrape resets the histogram
  await new Promise((resolve) => setTimeout(resolve, 4 * EVENT_LOOP_SAMPLING_MS));
  const text = await m.registry.metrics();
  // Each sample is a whole interval between the monitor's wake-ups: on an idle loop about the
  // sampling period (0 when nothing was sampled, ~0.01 s at prom-client's default).
  const p50 = sample(text, 'nodejs_eventloop_lag_p50_seconds');
  assert.ok(
    p50 !== undefined && p50 >= (EVENT_LOOP_SAMPLING_MS / 1000) * 0.9 && p50 < 5,
    `nodejs_eventloop_lag_p50_seconds ${p50}`,
  );
});
