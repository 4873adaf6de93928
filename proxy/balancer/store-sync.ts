/**
 * The proxy's {@link StoreSync}: what a policy reload that changes `stores` or `zone` does to
 * the running process. Three tables are keyed by store name and read per request — the store
 * specs and the signers (proxy/credentials.ts) by the sign phase, the pools (./balancer.ts) by
 * the route phase — and all three move together: staged and validated first (nothing changes
 * on a bad document), opened before the new authorizer goes live, and for a removed store
 * forgotten only once its pool drained, so a request authorized just before the swap still
 * finds a spec and a signer for the attempt it already has.
 */
import type { PodPolicyDocument, ProxyTimeouts, StoreSpec } from '../config/types.ts';
import type { Signers } from '../credentials.ts';
import type { StagedStores, StoreSync } from '../policy/reload.ts';
import type { Balancer } from './balancer.ts';

/** What {@link createStoreSync} keeps in step. */
export interface StoreSyncDeps {
  balancer: Balancer;
  signers: Signers;
  /** The proxy's store table (the request path's `stores`), edited in place. */
  stores: Map<string, StoreSpec>;
  timeouts: ProxyTimeouts;
  /** Reports a retirement that failed (it never should; a drain does not throw). */
  onError?: (err: Error) => void;
}

/** Builds the proxy's StoreSync over its pools, signers and store table. */
export function createStoreSync(deps: StoreSyncDeps): StoreSync {
  return {
    prepare(doc: PodPolicyDocument): StagedStores {
      const pools = deps.balancer.plan(doc, deps.timeouts); // throws on bad balancing or URLs
      const signers = deps.signers.stage(doc.stores); // throws on an unusable credentials file
      const names = new Set(doc.stores.map((s) => s.name));
      const gone = [...deps.stores].filter(([name]) => !names.has(name));
      return {
        summary: {
          stores: doc.stores.map((s) => s.name),
          zone: doc.zone ?? null,
          added: pools.added,
          updated: pools.updated,
          rebuilt: pools.rebuilt,
          removed: pools.removed,
        },
        open() {
          pools.open();
          signers.open();
          for (const s of doc.stores) deps.stores.set(s.name, s);
        },
        retire() {
          pools
            .retire()
            .then(() => {
              signers.retire();
              for (const [name, spec] of gone) if (deps.stores.get(name) === spec) deps.stores.delete(name);
            })
            .catch((err: unknown) => deps.onError?.(err as Error));
        },
      };
    },
  };
}
