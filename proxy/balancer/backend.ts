/**
 * One backend: an address of a store's node with its connection pool and the balancer's per-backend
 * state (latency estimate, active health, passive outlier state). The pool mutates it; pickers
 * only read `inFlight` and `ewma`.
 */
import { UpstreamPool } from '../http1/pool.ts';
import type { UpstreamDispatcher } from '../http1/types.ts';
import type { BalancerOptions } from './config.ts';
import { originFor, type ParsedEndpoint, type ResolvedAddress } from './discovery.ts';
import { PeakEwma } from './ewma.ts';
import { HealthState } from './health.ts';
import { OutlierState } from './outlier.ts';
import type { Clock } from './random.ts';
import type { Backend, BackendState } from './types.ts';

/** The balancer's backend: the contract's {@link Backend} plus what the pool tracks about it. */
export class BackendNode implements Backend {
  readonly id: string;
  readonly origin: string;
  readonly hostHeader: string;
  /** TLS SNI (the endpoint's hostname), undefined for plain HTTP or an IP endpoint. */
  readonly servername: string | undefined;
  readonly zone: string | undefined;
  readonly dispatcher: UpstreamDispatcher;
  /** The endpoint URL this address came from. */
  readonly endpoint: string;
  readonly address: string;
  readonly ewma: PeakEwma;
  readonly health: HealthState;
  readonly outlier: OutlierState;
  state: BackendState = 'pending';
  inFlight = 0;
  /** Attempts finished, and those that failed (no headers, or 5xx). */
  attempts = 0;
  failures = 0;
  /** Set when discovery removed the address: no new picks, closed once idle. */
  draining = false;

  constructor(store: string, ep: ParsedEndpoint, addr: ResolvedAddress, opts: BalancerOptions, clock: Clock) {
    this.origin = originFor(ep, addr);
    this.id = ep.literal ? `${store}/${ep.hostHeader}` : `${store}/${ep.hostHeader}@${addr.address}`;
    this.hostHeader = ep.hostHeader;
    this.servername = ep.protocol === 'https:' && !ep.literal ? ep.hostname : undefined;
    this.zone = ep.zone;
    this.endpoint = ep.url;
    this.address = addr.address;
    this.dispatcher = createBackendDispatcher(this.origin, this.servername, opts.connection);
    this.ewma = new PeakEwma(clock, opts.ewma);
    this.health = new HealthState(opts.healthCheck.rise, opts.healthCheck.fall);
    this.outlier = new OutlierState(opts.outlier);
  }

  /** Recomputes `state` at clock time `now`: draining, else ejected, else the health status. */
  refreshState(now: number): BackendState {
    this.state = this.draining ? 'draining' : this.outlier.isEjected(now) ? 'ejected' : this.health.status;
    return this.state;
  }
}

/**
 * The connection pool of one backend. Connections older than the maximum age are retired
 * (after their current request) so traffic re-spreads after nodes join or DNS changes; SNI keeps
 * the endpoint's name although the origin is an IP.
 */
export function createBackendDispatcher(
  origin: string,
  servername: string | undefined,
  c: BalancerOptions['connection'],
): UpstreamDispatcher {
  return new UpstreamPool(origin, {
    connections: c.connections,
    maxConnectionAgeMs: c.maxConnectionAgeMs,
    keepAliveTimeoutMs: c.keepAliveTimeoutMs,
    connectTimeoutMs: c.connectTimeoutMs,
    servername,
  });
}
