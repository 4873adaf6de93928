/**
 * prom-client's default metrics (process_*, nodejs_*) without loading the package's entry point
 * or @opentelemetry/api; see ./runtime-deps.ts for why the sidecar picks prom-client's modules.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import { Counter } from './runtime-deps.ts';

const require = createRequire(import.meta.url);

/**
 * prom-client's default metrics, the process_* and nodejs_* ones, registered in `register` as the
 * package's `collectDefaultMetrics` does (prom-client/lib/defaultMetrics.js): the same metric
 * modules (lib/metrics/*), in its order, with the same configuration. They load Gauge, Counter,
 * Histogram and the builtins perf_hooks, v8 and fs; not the Pushgateway, Summary or cluster
 * modules. process_cpu_* alone is made here: the package's module for it loads
 * @opentelemetry/api (see registerProcessCpuMetrics). test/unit/proxy/runtime-deps.test.ts
 * checks the names, types and help match the package's.
 */
export function collectDefaultMetrics(config: {
  register: PromClient.Registry;
  eventLoopMonitoringPrecision: number;
}): void {
  registerProcessCpuMetrics(config.register);
  for (const name of DEFAULT_METRIC_MODULES) {
    const register = require(`prom-client/lib/metrics/${name}.js`) as DefaultMetricModule;
    register(config.register, config);
  }
}

type DefaultMetricModule = (registry: PromClient.Registry, config: object) => void;

/** lib/defaultMetrics.js's list after processCpuTotal (processResources: Node ≥ 17, so always). */
const DEFAULT_METRIC_MODULES = [
  'processStartTime',
  'osMemoryHeap',
  'processOpenFileDescriptors',
  'processMaxFileDescriptors',
  'eventLoopLag',
  'processResources',
  'processHandles',
  'processRequests',
  'heapSizeAndUsed',
  'heapSpacesSizeAndUsed',
  'version',
  'gc',
];

/**
 * process_cpu_user_seconds_total, process_cpu_system_seconds_total and process_cpu_seconds_total,
 * as prom-client's own module makes them (lib/metrics/processCpuTotal.js: same names, help and
 * values). That module also loads @opentelemetry/api, 51 modules, for exemplars the sidecar
 * leaves off: ~0.8 MiB RSS in every idle sidecar (bench/proxy/PERFORMANCE.md, session 11).
 */
function registerProcessCpuMetrics(registry: PromClient.Registry): void {
  let last = process.cpuUsage();
  const system = new Counter({
    name: 'process_cpu_system_seconds_total',
    help: 'Total system CPU time spent in seconds.',
    registers: [],
  });
  const total = new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registers: [],
  });
  // One collect() sets all three from one reading, so they always agree (as prom-client does).
  // Registered first, then the other two: the exposition's order is prom-client's.
  const user = new Counter({
    name: 'process_cpu_user_seconds_total',
    help: 'Total user CPU time spent in seconds.',
    registers: [registry],
    collect() {
      const now = process.cpuUsage();
      const userMicros = now.user - last.user;
      const systemMicros = now.system - last.system;
      last = now;
      user.inc(userMicros / 1e6);
      system.inc(systemMicros / 1e6);
      total.inc((userMicros + systemMicros) / 1e6);
    },
  });
  registry.registerMetric(system);
  registry.registerMetric(total);
}
