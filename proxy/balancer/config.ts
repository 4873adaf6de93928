/**
 * Balancer options: the store's `balancing` spec (proxy/config/types.ts) plus sidecar-wide
 * connection and retry settings, resolved against defaults and validated once, at the edge.
 * Everything below takes a {@link BalancerOptions} and never re-checks it.
 */
import { parseStatusRanges, type StatusRanges } from '../config/status-ranges.ts';
import { unsetButAws } from '../config/provider.ts';
import type { BalancingAlgorithm, StoreSpec } from '../config/types.ts';
import { BalancerError, BalancerErrors } from './errors.ts';

/** Per-backend connection pool settings (proxy/http1/pool.ts). */
export interface ConnectionOptions {
  /** Upstream connections per backend; null = unbounded. */
  connections: number | null;
  /**
   * Maximum age of an upstream connection: older connections are
   * retired after their current request, so new nodes and DNS changes get traffic.
   */
  maxConnectionAgeMs: number;
  keepAliveTimeoutMs: number;
  connectTimeoutMs: number;
}

/** Retry settings (./retry.ts, ./retry-budget.ts). */
export interface RetryOptions {
  /** Attempts per request including the first. */
  maxAttempts: number;
  budgetPercent: number;
  budgetMinPerSecond: number;
  budgetWindowMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/** Everything one store's pool needs, resolved. */
export interface BalancerOptions {
  algorithm: BalancingAlgorithm;
  healthCheck: {
    path: string;
    /** As configured, e.g. `200-399`; {@link healthy} is what the prober reads. */
    expectStatus: string;
    healthy: StatusRanges;
    intervalMs: number;
    timeoutMs: number;
    rise: number;
    fall: number;
  };
  outlier: {
    consecutive5xx: number;
    consecutiveConnectFailures: number;
    baseEjectionMs: number;
    maxEjectionMs: number;
    maxEjectionPercent: number;
    panicThresholdPercent: number;
  };
  ewma: {
    decayMs: number;
    initialMs: number;
    peakSensitivity: number;
    minSampleWeight: number;
    failurePenaltyMs: number;
  };
  /** Re-resolve hostnames this often; undefined = follow the DNS TTL (clamped). */
  dnsRefreshMs: number | undefined;
  /**
   * An address keeps its backend this long after it last appeared in a DNS answer (0: only the
   * latest answer's addresses are backends). See pool.ts #sync.
   */
  dnsAddressRetentionMs: number;
  connection: ConnectionOptions;
  retry: RetryOptions;
}

/** Sidecar-wide settings that are not per store (from the proxy's own config). */
export interface BalancerDefaults {
  connection?: Partial<ConnectionOptions>;
  retry?: Partial<RetryOptions>;
  /** Overrides for tests and the benchmark (short intervals). */
  healthCheck?: Partial<Omit<BalancerOptions['healthCheck'], 'healthy'>>;
  outlier?: Partial<BalancerOptions['outlier']>;
  ewma?: Partial<BalancerOptions['ewma']>;
}

/**
 * What a probe asks for and which answers are healthy, by the store's software. MinIO (and a store
 * of unset provider, as before providers had a say here, unless its endpoints are all AWS's):
 * its liveness endpoint, 2xx/3xx. Any
 * other store has no such endpoint that every deployment answers: the root, where an answer that
 * is not a server error shows the node's S3 service up (anonymous ListBuckets is refused with 403
 * by AWS, VAST and most Ceph setups; a node that is up but cannot serve answers 500 or 503).
 */
function providerHealthCheck(store: StoreSpec): { path: string; expectStatus: string } {
  const minio = store.provider === 'minio' || (store.provider === undefined && !unsetButAws(store));
  return minio
    ? { path: '/minio/health/live', expectStatus: '200-399' }
    : { path: '/', expectStatus: '200-499' };
}

const DEFAULTS: Omit<BalancerOptions, 'healthCheck'> & {
  healthCheck: Omit<BalancerOptions['healthCheck'], 'path' | 'expectStatus' | 'healthy'>;
} = {
  algorithm: 'peak-ewma',
  healthCheck: { intervalMs: 5_000, timeoutMs: 2_000, rise: 2, fall: 3 },
  outlier: {
    consecutive5xx: 5,
    consecutiveConnectFailures: 3,
    baseEjectionMs: 30_000,
    maxEjectionMs: 300_000,
    maxEjectionPercent: 50,
    panicThresholdPercent: 50,
  },
  // Linkerd's decay (10 s); a spike is taken whole (sensitivity 1) as Finagle does; a busy node
  // forgets a spike within ~50 samples (minSampleWeight, see ewma.ts).
  ewma: {
    decayMs: 10_000,
    initialMs: 10,
    peakSensitivity: 1,
    minSampleWeight: 0.05,
    failurePenaltyMs: 1_000,
  },
  dnsRefreshMs: undefined,
  // Off, as Envoy's strict DNS: each answer replaces the last. A headless Service's pod that
  // left keeps no backend, and its IP, handed to another pod, gets no request. A store whose
  // DNS answers a few nodes at a time (S3: 8 of many; some round-robin DNS: one) sets it, as
  // the AWS CRT's host resolver keeps an address 30 s after its last answer.
  dnsAddressRetentionMs: 0,
  connection: {
    connections: 128,
    maxConnectionAgeMs: 60_000,
    keepAliveTimeoutMs: 4_000,
    connectTimeoutMs: 2_000,
  },
  // Finagle's budget: 20% extra load over 10 s, at least 10 retries per second.
  retry: {
    maxAttempts: 3,
    budgetPercent: 0.2,
    budgetMinPerSecond: 10,
    budgetWindowMs: 10_000,
    backoffBaseMs: 5,
    backoffMaxMs: 200,
  },
};

const ALGORITHMS: readonly BalancingAlgorithm[] = ['round-robin', 'least-in-flight', 'peak-ewma'];

/** Resolves and validates one store's options; throws a CONFIG {@link BalancerError}. */
export function resolveBalancerOptions(store: StoreSpec, defaults: BalancerDefaults = {}): BalancerOptions {
  const b = store.balancing ?? {};
  const healthCheck = {
    ...providerHealthCheck(store),
    ...DEFAULTS.healthCheck,
    ...defaults.healthCheck,
    ...b.healthCheck,
  };
  const healthy = parseStatusRanges(healthCheck.expectStatus);
  if (typeof healthy === 'string')
    throw new BalancerError(
      BalancerErrors.CONFIG,
      `store ${store.name}: healthCheck.expectStatus ${healthy}`,
    );
  const opts: BalancerOptions = {
    algorithm: b.algorithm ?? DEFAULTS.algorithm,
    healthCheck: { ...healthCheck, healthy },
    outlier: { ...DEFAULTS.outlier, ...defaults.outlier, ...b.outlier },
    ewma: { ...DEFAULTS.ewma, ...defaults.ewma },
    dnsRefreshMs: b.dnsRefreshMs,
    dnsAddressRetentionMs: b.dnsAddressRetentionMs ?? DEFAULTS.dnsAddressRetentionMs,
    connection: { ...DEFAULTS.connection, ...defaults.connection },
    retry: { ...DEFAULTS.retry, ...defaults.retry },
  };
  // An ejection never lasts less than its base: a base set above the default maximum raises it.
  if (b.outlier?.baseEjectionMs !== undefined && defaults.outlier?.maxEjectionMs === undefined)
    opts.outlier.maxEjectionMs = Math.max(opts.outlier.maxEjectionMs, opts.outlier.baseEjectionMs);
  validate(store.name, opts);
  return opts;
}

function validate(store: string, o: BalancerOptions): void {
  const fail = (what: string): never => {
    throw new BalancerError(BalancerErrors.CONFIG, `store ${store}: ${what}`);
  };
  const positive = (v: number, what: string): void => {
    if (!(Number.isFinite(v) && v > 0)) fail(`${what} must be a positive number, got ${v}`);
  };
  const count = (v: number, what: string): void => {
    if (!(Number.isInteger(v) && v >= 1)) fail(`${what} must be an integer >= 1, got ${v}`);
  };
  const percent = (v: number, what: string): void => {
    if (!(v >= 0 && v <= 100)) fail(`${what} must be within 0..100, got ${v}`);
  };
  if (!ALGORITHMS.includes(o.algorithm)) fail(`unknown algorithm ${String(o.algorithm)}`);
  if (typeof o.healthCheck.path !== 'string' || !/^\/[!-~]*$/.test(o.healthCheck.path))
    fail('healthCheck.path must start with / and hold visible ASCII only');
  positive(o.healthCheck.intervalMs, 'healthCheck.intervalMs');
  positive(o.healthCheck.timeoutMs, 'healthCheck.timeoutMs');
  count(o.healthCheck.rise, 'healthCheck.rise');
  count(o.healthCheck.fall, 'healthCheck.fall');
  count(o.outlier.consecutive5xx, 'outlier.consecutive5xx');
  count(o.outlier.consecutiveConnectFailures, 'outlier.consecutiveConnectFailures');
  positive(o.outlier.baseEjectionMs, 'outlier.baseEjectionMs');
  positive(o.outlier.maxEjectionMs, 'outlier.maxEjectionMs');
  if (o.outlier.maxEjectionMs < o.outlier.baseEjectionMs)
    fail('outlier.maxEjectionMs must be >= baseEjectionMs');
  percent(o.outlier.maxEjectionPercent, 'outlier.maxEjectionPercent');
  percent(o.outlier.panicThresholdPercent, 'outlier.panicThresholdPercent');
  positive(o.ewma.decayMs, 'ewma.decayMs');
  positive(o.ewma.initialMs, 'ewma.initialMs');
  if (!(o.ewma.peakSensitivity > 0 && o.ewma.peakSensitivity <= 1))
    fail('ewma.peakSensitivity must be in (0, 1]');
  if (o.dnsRefreshMs !== undefined) positive(o.dnsRefreshMs, 'dnsRefreshMs');
  if (!(Number.isFinite(o.dnsAddressRetentionMs) && o.dnsAddressRetentionMs >= 0))
    fail(`dnsAddressRetentionMs must be >= 0, got ${o.dnsAddressRetentionMs}`);
  if (o.connection.connections !== null) count(o.connection.connections, 'connection.connections');
  positive(o.connection.maxConnectionAgeMs, 'connection.maxConnectionAgeMs');
  positive(o.connection.keepAliveTimeoutMs, 'connection.keepAliveTimeoutMs');
  positive(o.connection.connectTimeoutMs, 'connection.connectTimeoutMs');
  count(o.retry.maxAttempts, 'retry.maxAttempts');
  if (!(o.retry.budgetPercent >= 0)) fail('retry.budgetPercent must be >= 0');
  if (!(o.retry.budgetMinPerSecond >= 0)) fail('retry.budgetMinPerSecond must be >= 0');
  positive(o.retry.budgetWindowMs, 'retry.budgetWindowMs');
  if (!(o.retry.backoffBaseMs >= 0 && o.retry.backoffMaxMs >= o.retry.backoffBaseMs)) {
    fail('retry.backoffBaseMs must be >= 0 and <= backoffMaxMs');
  }
}
