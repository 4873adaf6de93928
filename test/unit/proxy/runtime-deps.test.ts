/**
 * proxy/runtime-deps.ts loads prom-client classes from the modules that define them; these must
 * be the very classes the package exports. The sidecar must load no undici at all. Run in a
 * child process so this test's own imports cannot load the packages first. prom-client's default metrics
 * (process_*, nodejs_*) come the same way and must reach every proxy's registry.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import type { Registry as PromRegistry } from 'prom-client';
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
});

void test("collectDefaultMetrics registers prom-client's default metrics: the same names, types and help", async () => {
  const ours = await import('../../../proxy/default-metrics.ts');
  const prom = await import('prom-client');
  const describe = async (collect: (r: PromRegistry) => void) => {
    const registry = new prom.Registry();
    collect(registry);
    const metrics = await registry.getMetricsAsJSON();
    return metrics
      .map((m) => ({ name: m.name, type: m.type, help: m.help }))
      .sort((a, b) => a.name.localeCompare(b.name));
  };
  const theirs = await describe((register) =>
    prom.collectDefaultMetrics({ register, eventLoopMonitoringPrecision: 100 }),
  );
  const mine = await describe((register) =>
    ours.collectDefaultMetrics({ register, eventLoopMonitoringPrecision: 100 }),
  );
  assert.ok(theirs.some((m) => m.name === 'process_cpu_seconds_total'));
  assert.deepEqual(mine, theirs);
});

void test('process_cpu_* count the CPU the process used, user and system adding up to the total', async () => {
  const { collectDefaultMetrics } = await import('../../../proxy/default-metrics.ts');
  const { Registry } = await import('prom-client');
  const register = new Registry();
  collectDefaultMetrics({ register, eventLoopMonitoringPrecision: 100 });
  const value = async (name: string) => (await register.getSingleMetric(name)!.get()).values[0]!.value;
  const start = process.cpuUsage();
  while (process.cpuUsage(start).user < 50_000); // 50 ms of user CPU, however busy the machine
  const user = await value('process_cpu_user_seconds_total');
  const system = await value('process_cpu_system_seconds_total');
  const total = await value('process_cpu_seconds_total');
  assert.ok(user >= 0.05, `user ${user}`);
  // Each get() of the user counter reads the CPU again; the other two keep the last reading.
  assert.ok(Math.abs(total - (user + system)) < 1e-9, `${total} = ${user} + ${system}`);
});

void test("the proxy's default metrics load neither prom-client's entry point, @opentelemetry/api, Pushgateway, Summary, cluster nor zlib", () => {
  const out = run(`
    const { ProxyMetrics } = await import('./proxy/metrics.ts');
    const { createRequire } = await import('node:module');
    const m = new ProxyMetrics();
    const prom = Object.keys(createRequire(import.meta.url).cache)
      .filter((p) => p.includes('/node_modules/prom-client/'))
      .map((p) => p.slice(p.indexOf('/node_modules/prom-client/') + '/node_modules/prom-client/'.length));
    const builtins = process.moduleLoadList.filter((n) => /^NativeModule (zlib|cluster|https)$/.test(n));
    const otel = Object.keys(createRequire(import.meta.url).cache).filter((p) => p.includes('/@opentelemetry/')).length;
    console.log(JSON.stringify({ prom, otel, builtins, rss: m.registry.getSingleMetric('process_resident_memory_bytes') !== undefined }));
  `);
  const r = JSON.parse(out) as { prom: string[]; otel: number; builtins: string[]; rss: boolean };
  assert.equal(r.rss, true, 'ProxyMetrics registers the default metrics');
  assert.ok(r.prom.includes('lib/metrics/gc.js'), r.prom.join(' '));
  for (const heavy of [
    'index.js',
    'lib/defaultMetrics.js',
    'lib/metrics/processCpuTotal.js',
    'lib/pushgateway.js',
    'lib/summary.js',
    'lib/cluster.js',
  ]) {
    assert.ok(!r.prom.includes(heavy), `${heavy} loaded`);
  }
  assert.equal(r.otel, 0, '@opentelemetry/api loaded');
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

void test('a JSON config or policy loads no yaml package; YAML text still parses, loading it then', () => {
  const out = run(`
    const { createRequire } = await import('node:module');
    const { parseDocumentText } = await import('./proxy/config/parse.ts');
    const yamlModules = () => Object.keys(createRequire(import.meta.url).cache).filter((p) => p.includes('/node_modules/yaml/')).length;
    const json = parseDocumentText('{"listen": "127.0.0.1:7480", "grants": []}', 'policy.json');
    const afterJson = yamlModules();
    const yaml = parseDocumentText('listen: 127.0.0.1:7480\\ngrants: []\\n', 'proxy.yaml');
    console.log(JSON.stringify({ json, afterJson, yaml, afterYaml: yamlModules() }));
  `);
  const r = JSON.parse(out) as { json: unknown; afterJson: number; yaml: unknown; afterYaml: number };
  assert.deepEqual(r.json, { listen: '127.0.0.1:7480', grants: [] });
  assert.equal(r.afterJson, 0, 'yaml loaded for JSON');
  assert.deepEqual(r.yaml, r.json);
  assert.ok(r.afterYaml > 0, 'yaml parsed the YAML');
});
