/**
 * The contract between the proxy's request path and load balancing. The request path asks a
 * store's {@link BackendPool} for a backend per attempt and reports how the attempt went; the
 * pool owns discovery, health, outlier ejection, zones and the per-backend connection pools.
 * Pickers (one file per algorithm) never do I/O and never look at health: the pool filters.
 */
import type { ProxyTimeouts, StoreSpec } from '../config/types.ts';
import type { UpstreamDispatcher } from '../http1/types.ts';

export type BackendState = 'pending' | 'healthy' | 'unhealthy' | 'ejected' | 'draining';

/** One address of a store's node. */
export interface Backend {
  /** Stable id, e.g. "minio/127.0.0.1:9001". */
  readonly id: string;
  /** Origin to dispatch to (scheme://ip:port). */
  readonly origin: string;
  /** Host header / TLS SNI to present (the endpoint's hostname, not the resolved IP). */
  readonly hostHeader: string;
  readonly zone: string | undefined;
  /** This backend's connection pool (proxy/http1/pool.ts, with a max connection age). */
  readonly dispatcher: UpstreamDispatcher;
  state: BackendState;
  /** Requests currently in flight to this backend (maintained by the pool via start/finish). */
  inFlight: number;
}

/** How one attempt ended, as seen before or at response headers. */
export interface AttemptOutcome {
  /** HTTP status of the response headers, if any arrived. */
  status?: number;
  /**
   * Failure before headers: connect refused/reset, timeout before headers; 'client' when the
   * client's side ended the attempt (it hung up, stalled or sent a bad body): says nothing
   * about the backend; 'queued' when no connection of ours to it came free in time (our own
   * limit: nothing was sent, so it may be retried like a refused connection, but it says nothing
   * against the backend either).
   */
  failure?: 'connect' | 'queued' | 'reset' | 'timeout' | 'client' | 'other';
  /** Time from dispatch to response headers (ms) — the latency signal, never the body time. */
  headersMs?: number;
  /**
   * Time spent sending the request body (ms), if known. An upload's response headers arrive only
   * after its body, so the balancer subtracts this to keep a large PUT from marking a node slow.
   */
  uploadMs?: number;
  /**
   * Request body size (bytes), if any. When a large body was sent and `uploadMs` is unknown, the
   * balancer skips the latency sample rather than learning the client's upload speed.
   */
  requestBodyBytes?: number;
}

/** One store's pool of backends. */
export interface BackendPool {
  readonly store: string;
  /**
   * Picks a backend for one attempt, or undefined when none can take traffic. `exclude` lists
   * backends already tried by this request (retries go elsewhere).
   */
  pick(exclude?: ReadonlySet<Backend>): Backend | undefined;
  /** Marks an attempt started (in-flight +1). Call exactly once per dispatched attempt. */
  start(backend: Backend): void;
  /** Marks an attempt ended (in-flight -1) and feeds latency, passive health and ejection. */
  finish(backend: Backend, outcome: AttemptOutcome): void;
  /** JSON-able view for /debug/backends. */
  snapshot(): unknown;
  close(): Promise<void>;
}

/** Builds a store's pool; the balancer provides the production one (proxy/balancer/balancer.ts). */
export type PoolFactory = (store: StoreSpec, timeouts: ProxyTimeouts) => BackendPool;
