/**
 * What the proxy wires in: a pool factory (its `PoolFactory` hook), the retrying attempt runner
 * (its `AttemptRunner` hook), the `/debug/backends` admin route and the balancer metrics on the
 * proxy's registry. One {@link Balancer} per proxy; it knows every pool it made, for the debug
 * view and the per-backend gauges.
 */
import type { ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { ProxyTimeouts, StoreSpec } from '../config/types.ts';
import type { AttemptRunner } from '../pipeline/attempt.ts';
import { resolveBalancerOptions, type BalancerDefaults } from './config.ts';
import { BalancerMetrics } from './metrics.ts';
import { StorePool, type PoolDeps, type PoolSnapshot } from './pool.ts';
import { createRetryRunner } from './runner.ts';

/** Options of {@link Balancer}. */
export interface BalancerInit {
  /** The proxy's metrics registry; no balancer metrics without one. */
  registry?: Registry;
  /** The sidecar's own zone (PodPolicyDocument.zone). */
  localZone?: string | undefined;
  /** Sidecar-wide defaults (connections, retries, test-speed health checks). */
  defaults?: BalancerDefaults;
  /** Test and benchmark hooks (clock, random, resolver, prober). */
  deps?: Omit<PoolDeps, 'localZone' | 'observer'>;
}

/** The balancer as the proxy sees it. */
export class Balancer {
  readonly metrics: BalancerMetrics | undefined;
  readonly runner: AttemptRunner;
  readonly #init: BalancerInit;
  readonly #pools = new Set<StorePool>();

  constructor(init: BalancerInit = {}) {
    this.#init = init;
    this.metrics = init.registry ? new BalancerMetrics(init.registry, () => this.pools()) : undefined;
    this.runner = createRetryRunner(this.metrics);
  }

  /**
   * Builds one store's pool (the proxy's `PoolFactory` signature). The proxy's backend connect
   * timeout applies unless the defaults set one. Throws a CONFIG BalancerError on bad options.
   */
  readonly poolFactory = (store: StoreSpec, timeouts: ProxyTimeouts): StorePool => {
    const defaults = this.#init.defaults ?? {};
    const connection = {
      ...(timeouts.backendConnectMs > 0 ? { connectTimeoutMs: timeouts.backendConnectMs } : {}),
      ...defaults.connection,
    };
    const options = resolveBalancerOptions(store, { ...defaults, connection });
    const pool = StorePool.create(store, options, {
      ...this.#init.deps,
      localZone: this.#init.localZone,
      ...(this.metrics ? { observer: this.metrics } : {}),
    });
    for (const p of this.#pools) if (p.closed) this.#pools.delete(p);
    this.#pools.add(pool);
    return pool;
  };

  /** The open pools. */
  pools(): StorePool[] {
    return [...this.#pools].filter((p) => !p.closed);
  }

  /** The /debug/backends document. */
  snapshot(): { stores: PoolSnapshot[] } {
    return { stores: this.pools().map((p) => p.snapshot()) };
  }

  /** The `/debug/backends` admin route (JSON). */
  readonly debugHandler = (_req: unknown, res: ServerResponse): void => {
    const text = JSON.stringify(this.snapshot(), null, 2);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
}
