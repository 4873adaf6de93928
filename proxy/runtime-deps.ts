/**
 * prom-client and undici classes the sidecar uses (undici only for health checks: requests go
 * through its own client, proxy/http1/), loaded from the modules that define them
 * rather than from the packages' entry points. Every injected pod runs a sidecar, so its idle
 * memory counts: `import 'prom-client'` also loads the Pushgateway (https, zlib), Summary
 * (tdigest) and cluster aggregation, ~17 MB RSS; `import 'undici'` also loads fetch, WebSocket,
 * caches, mocks and proxy agents, ~13 MB more than its Pool and Client. Measured with
 * `process.memoryUsage().rss` after import, Node 24. Same classes, same types (the packages'
 * own declarations); type-only imports of the packages stay as they are.
 *
 * undici's entry point also mixes its request API (`request`, `stream`, …) into
 * `Dispatcher.prototype` (undici/index.js: `Object.assign(Dispatcher.prototype, api)`); this
 * module does the same, once, so `client.request()` works as with `import 'undici'`.
 * test/unit/proxy/runtime-deps.test.ts checks these are the package's own classes and API.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

/** `Counter`, as exported by the package (prom-client/lib/counter.js). */
export const Counter = require('prom-client/lib/counter.js') as typeof PromClient.Counter;
/** `Gauge`, as exported by the package (prom-client/lib/gauge.js). */
export const Gauge = require('prom-client/lib/gauge.js') as typeof PromClient.Gauge;
/** `Histogram`, as exported by the package (prom-client/lib/histogram.js). */
export const Histogram = require('prom-client/lib/histogram.js') as typeof PromClient.Histogram;
/** `Registry`, as exported by the package (prom-client/lib/registry.js). */
export const Registry = require('prom-client/lib/registry.js') as typeof PromClient.Registry;
/**
 * `collectDefaultMetrics`, as exported by the package (prom-client/lib/defaultMetrics.js): the
 * process_* and nodejs_* metrics. It loads only its metric modules (lib/metrics/*), Gauge,
 * Counter, Histogram and the builtins perf_hooks, v8 and fs; not the Pushgateway, Summary or
 * cluster modules. Its process_cpu_* module (lib/metrics/processCpuTotal.js) also loads
 * @opentelemetry/api, 51 modules, only for exemplars, which the sidecar leaves off: ~2 MB VmRSS,
 * most of what the default metrics add to the idle built sidecar (+1-3 MB, Node 24).
 */
export const collectDefaultMetrics =
  require('prom-client/lib/defaultMetrics.js') as typeof PromClient.collectDefaultMetrics;
const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as typeof Undici.Dispatcher;
if (!('request' in Dispatcher.prototype)) {
  Object.assign(Dispatcher.prototype, require('undici/lib/api/index.js') as object);
}

/** `Client`, as exported by the package (undici/lib/dispatcher/client.js). */
export const Client = require('undici/lib/dispatcher/client.js') as typeof Undici.Client;
