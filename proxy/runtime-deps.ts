/**
 * prom-client classes the sidecar uses, loaded from the modules that define them rather than from
 * the package's entry point. Every injected pod runs a sidecar, so its idle memory counts:
 * `import 'prom-client'` also loads the Pushgateway (https, zlib), Summary (tdigest) and cluster
 * aggregation, ~17 MB RSS. Measured with `process.memoryUsage().rss` after import, Node 24. Same
 * classes, same types (the package's own declarations); type-only imports stay as they are.
 *
 * The sidecar loads no undici at all: requests and health checks both use its own HTTP/1.1
 * client (proxy/http1/); undici's Client alone added ~4 MiB to every idle sidecar
 * (bench/proxy/PERFORMANCE.md, Memory). test/unit/proxy/runtime-deps.test.ts checks both.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

const require = createRequire(import.meta.url);

/** `Counter`, as exported by the package (prom-client/lib/counter.js). */
export const Counter = require('prom-client/lib/counter.js') as typeof PromClient.Counter;
/** `Gauge`, as exported by the package (prom-client/lib/gauge.js). */
export const Gauge = require('prom-client/lib/gauge.js') as typeof PromClient.Gauge;
/** `Histogram`, as exported by the package (prom-client/lib/histogram.js). */
export const Histogram = require('prom-client/lib/histogram.js') as typeof PromClient.Histogram;
/** `Registry`, as exported by the package (prom-client/lib/registry.js). */
export const Registry = require('prom-client/lib/registry.js') as typeof PromClient.Registry;
