/**
 * The balancer's entry point for the proxy: one {@link StorePool} per store of the policy
 * document, created together, ready together, closed together. A store's pool only ever holds
 * that store's endpoints, which is what keeps one store's traffic off another's nodes.
 */
import type { PodPolicyDocument } from '../config/types.ts';
import { resolveBalancerOptions, type BalancerDefaults } from './config.ts';
import { StorePool, type PoolDeps, type PoolSnapshot } from './pool.ts';

export { StorePool } from './pool.ts';
export type { PoolDeps, PoolObserver, PoolSnapshot, BackendSnapshot } from './pool.ts';
export type { BalancerDefaults, BalancerOptions } from './config.ts';

/** Every store's pool. */
export interface PoolSet {
  /** The pool of one store, undefined for a store the document does not name. */
  get(store: string): StorePool | undefined;
  all(): StorePool[];
  /** Resolves once every pool ran discovery and its first health checks. */
  ready(): Promise<void>;
  /** The /debug/backends document. */
  snapshot(): { stores: PoolSnapshot[] };
  close(): Promise<void>;
}

/**
 * Builds a pool per store of `doc`, preferring `doc.zone`. Options are validated here and throw
 * a CONFIG BalancerError, so a bad document fails at load, not at the first request.
 */
export function createPools(
  doc: PodPolicyDocument,
  defaults: BalancerDefaults = {},
  deps: PoolDeps = {},
): PoolSet {
  const options = doc.stores.map((s) => resolveBalancerOptions(s, defaults));
  const pools = new Map<string, StorePool>();
  doc.stores.forEach((s, i) => {
    pools.set(s.name, StorePool.create(s, options[i]!, { localZone: doc.zone, ...deps }));
  });
  return {
    get: (store) => pools.get(store),
    all: () => [...pools.values()],
    ready: async () => {
      await Promise.all([...pools.values()].map((p) => p.ready()));
    },
    snapshot: () => ({ stores: [...pools.values()].map((p) => p.snapshot()) }),
    close: async () => {
      await Promise.all([...pools.values()].map((p) => p.close()));
    },
  };
}

export { Balancer } from './balancer.ts';
export type { BalancerInit, PoolPlan } from './balancer.ts';
