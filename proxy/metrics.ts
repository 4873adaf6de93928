/**
 * Every metric of the proxy, in one registry per proxy instance (never prom-client's global one,
 * so tests and several proxies in one process do not collide). Base units (seconds, bytes);
 * counters end in `_total`. Label values are bounded: operation names come from the authorizer's
 * fixed set, status is a class (2xx…5xx), backend is a live backend's id (its series are dropped
 * when it leaves every pool: {@link ProxyMetrics.forgetBackend}).
 */
import type { Counter as CounterType, Gauge as GaugeType, Metric } from 'prom-client';
import { droppedLogLines } from './log.ts';
import { collectDefaultMetrics } from './default-metrics.ts';
import { CounterFamily, HistogramFamily, type CounterSeries, type HistogramSeries } from './metric-series.ts';
import { Counter, Gauge, Registry } from './runtime-deps.ts';

let processMetrics: Metric[] | undefined;

/**
 * How often prom-client's event-loop delay monitor samples the loop, ms (nodejs_eventloop_lag_*).
 * Its default, 10 ms, wakes an idle sidecar 100 times a second: 1.2–1.7 % of a core here, against
 * 0.3–0.6 % at 100 ms (bench/proxy/PERFORMANCE.md, "Session 8"); the CPU and latency of requests
 * measured the same. Each reading is a whole interval between the monitor's wake-ups, so it
 * includes the period (an idle loop reads ~0.1 s): a stall shows as the excess over it, up to one
 * period short, and one shorter than the period only when it overlaps a wake-up.
 */
export const EVENT_LOOP_SAMPLING_MS = 100;

/**
 * prom-client's default metrics (process_resident_memory_bytes, process_cpu_seconds_total,
 * process_open_fds, nodejs_heap_size_used_bytes, nodejs_eventloop_lag_seconds,
 * nodejs_gc_duration_seconds, …; standard names, no prefix). They describe the process, not one
 * proxy, so they are made once per process and the same metric objects are registered in every
 * proxy's registry: one event-loop delay monitor and one GC observer however many proxies run
 * (collectDefaultMetrics per registry would add both again each time and never remove them).
 */
function defaultMetrics(): Metric[] {
  if (processMetrics === undefined) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLING_MS });
    // Typed as MetricObject[], but it returns the registered metric objects themselves.
    processMetrics = registry.getMetricsAsArray() as unknown as Metric[];
  }
  return processMetrics;
}

const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** The proxy's metrics; see the module doc. */
export class ProxyMetrics {
  readonly registry = new Registry();
  // The series every request updates are ours (proxy/metric-series.ts: no per-call hashing);
  // the rest are prom-client's own.
  readonly requests = new CounterFamily({
    name: 'sluice_proxy_requests_total',
    help:
      'Requests answered, by S3 operation, status class and backend ("none" when not forwarded, ' +
      '"draining" when the backend was leaving its pool meanwhile: gone from DNS, or replaced by a reload).',
    labelNames: ['operation', 'status_class', 'backend'],
  }).registerIn(this.registry);
  readonly errors = new Counter({
    name: 'sluice_proxy_errors_total',
    help: 'Errors the proxy answered itself (or aborted with), by S3 error code and source.',
    labelNames: ['code', 'source'] as const,
    registers: [this.registry],
  });
  readonly duration = new HistogramFamily({
    name: 'sluice_proxy_request_duration_seconds',
    help: 'Time from request headers received to the last response byte written, by operation.',
    labelNames: ['operation'],
    buckets: LATENCY_BUCKETS,
  }).registerIn(this.registry);
  readonly backendHeaders = new HistogramFamily({
    name: 'sluice_proxy_backend_response_headers_seconds',
    help: 'Time from dispatch to the backend response headers, by backend.',
    labelNames: ['backend'],
    buckets: LATENCY_BUCKETS,
  }).registerIn(this.registry);
  readonly receivedBytes = new CounterFamily({
    name: 'sluice_proxy_received_bytes_total',
    help: 'Request body bytes forwarded to backends.',
  })
    .registerIn(this.registry)
    .series();
  readonly sentBytes = new CounterFamily({
    name: 'sluice_proxy_sent_bytes_total',
    help: 'Response body bytes from backends written to clients.',
  })
    .registerIn(this.registry)
    .series();
  /** Requests being handled now; read into sluice_proxy_in_flight_requests at each scrape. */
  inFlightCount = 0;
  readonly inFlight: GaugeType = new Gauge({
    name: 'sluice_proxy_in_flight_requests',
    help: 'Requests currently being handled.',
    registers: [this.registry],
    collect: (): void => this.inFlight.set(this.inFlightCount),
  });
  /** Process-wide count at this registry's last scrape (the count is stdout's, one per process). */
  private droppedLogLinesSeen = droppedLogLines();
  readonly logLinesDropped: CounterType = new Counter({
    name: 'sluice_proxy_log_lines_dropped_total',
    help: 'Log lines dropped because stdout did not take them (a stalled log collector).',
    registers: [this.registry],
    collect: (): void => {
      const now = droppedLogLines();
      this.logLinesDropped.inc(now - this.droppedLogLinesSeen);
      this.droppedLogLinesSeen = now;
    },
  });
  readonly credentialReloads = new Counter({
    name: 'sluice_proxy_credential_reloads_total',
    help: 'Credential (and policy) file reloads, by result.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly ready = new Gauge({
    name: 'sluice_proxy_ready',
    help: '1 while the proxy accepts traffic, 0 while starting or draining.',
    registers: [this.registry],
  });

  constructor() {
    for (const metric of defaultMetrics()) this.registry.registerMetric(metric);
  }

  /**
   * A backend is gone from every pool (proxy/balancer/metrics.ts): its series go with it, so
   * backends that come and go (a hostname's rotating IPs) do not add series for ever.
   */
  forgetBackend(backend: string): void {
    this.requests.removeWhere('backend', backend);
    this.backendHeaders.removeWhere('backend', backend);
  }

  /** The requests_total series for one (operation, status class, backend). */
  requestsOf(operation: string, statusClass: string, backend: string): CounterSeries {
    return this.requests.series(operation, statusClass, backend);
  }

  /** The request-duration series for one operation. */
  durationOf(operation: string): HistogramSeries {
    return this.duration.series(operation);
  }

  /** The backend-headers series for one backend. */
  backendHeadersOf(backend: string): HistogramSeries {
    return this.backendHeaders.series(backend);
  }
}

const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** "2xx" etc; "0xx" for a request that got no status (client gone, aborted). */
export function statusClass(status: number): string {
  return STATUS_CLASSES[Math.floor(status / 100)] ?? '0xx';
}
