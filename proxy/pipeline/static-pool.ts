/**
 * A minimal {@link BackendPool}: one connection pool per configured endpoint, plain round-robin, no
 * health checks, no DNS re-resolution. It stands in until the balancer's pool (proxy/balancer/)
 * lands; the proxy takes pools from a {@link PoolFactory}, so swapping is one argument.
 */
import { UpstreamPool, type UpstreamPoolOptions } from '../http1/pool.ts';
import type { Backend, BackendPool } from '../balancer/types.ts';
import type { ProxyTimeouts, StoreSpec } from '../config/types.ts';

/** Builds a store's pool. The balancer provides the production one. */
export type PoolFactory = (store: StoreSpec, timeouts: ProxyTimeouts) => BackendPool;

/** Connection pool options of the stand-in pool (the balancer has its own, per store). */
export function dispatcherOptions(timeouts: ProxyTimeouts): UpstreamPoolOptions {
  return {
    connections: null,
    connectTimeoutMs: timeouts.backendConnectMs,
    keepAliveTimeoutMs: 4_000,
    maxConnectionAgeMs: 0,
  };
}

/** The stand-in pool factory: round-robin over every endpoint. */
export const createStaticPool: PoolFactory = (store, timeouts) => {
  const backends: Backend[] = store.endpoints.map((e) => {
    const u = new URL(e.url);
    return {
      id: `${store.name}/${u.host}`,
      origin: u.origin,
      hostHeader: u.host,
      zone: e.zone,
      dispatcher: new UpstreamPool(u.origin, dispatcherOptions(timeouts)),
      state: 'healthy',
      inFlight: 0,
    };
  });
  let next = 0;
  return {
    store: store.name,
    pick(exclude) {
      for (let i = 0; i < backends.length; i++) {
        const b = backends[(next + i) % backends.length]!;
        if (exclude?.has(b)) continue;
        next = (next + i + 1) % backends.length;
        return b;
      }
      return undefined;
    },
    start(b) {
      b.inFlight++;
    },
    finish(b) {
      b.inFlight--;
    },
    snapshot() {
      return backends.map((b) => ({ id: b.id, state: b.state, inFlight: b.inFlight }));
    },
    async close() {
      await Promise.all(backends.map((b) => b.dispatcher.close()));
    },
  };
};
