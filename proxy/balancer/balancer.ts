/**
 * What the proxy wires in: a pool factory (its `PoolFactory` hook), the retrying attempt runner
 * (its `AttemptRunner` hook), the `/debug/backends` admin route and the balancer metrics on the
 * proxy's registry. One {@link Balancer} per proxy; it knows every pool it made, for the debug
 * view and the per-backend gauges.
 *
 * It also owns the live map store → pool the request path routes with, and reconciles it with
 * every new policy document ({@link Balancer.plan}): new stores get a pool, removed ones drain,
 * an endpoint edit is applied in place, a settings edit rebuilds the pool. A new pool's backends
 * start `pending` and the pool runs in panic mode until its first checks pass — exactly as at
 * start — so the first requests after a reload go out at once instead of waiting on a probe; a
 * dead node costs them a retry on another node, not an error.
 */
import type { ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { PodPolicyDocument, ProxyTimeouts, StoreSpec } from '../config/types.ts';
import type { AttemptRunner } from '../pipeline/attempt.ts';
import type { PoolFactory } from './types.ts';
import { resolveBalancerOptions, type BalancerDefaults, type BalancerOptions } from './config.ts';
import { parseEndpoint, type ResolvedAddress } from './discovery.ts';
import { BalancerError, BalancerErrors } from './errors.ts';
import { BalancerMetrics } from './metrics.ts';
import { StorePool, type PoolDeps, type PoolSnapshot } from './pool.ts';
import { createRetryRunner } from './runner.ts';
import type { BackendPool } from './types.ts';

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
  /** Builds pools instead of the balancer (tests); such pools are rebuilt on any store edit. */
  poolFactory?: PoolFactory;
  /** A backend id is gone from every pool: drop the series other metrics keep for it. */
  forgetBackend?: (backend: string) => void;
}

/**
 * One reconciliation of the live pools with a new document, validated and not yet applied.
 * {@link open} before the new authorizer is swapped in, {@link retire} after it.
 */
export interface PoolPlan {
  /** Stores that get a new pool, are edited in place, are rebuilt, and are removed. */
  readonly added: string[];
  readonly updated: string[];
  readonly rebuilt: string[];
  readonly removed: string[];
  /** Applies the zone, builds new and rebuilt pools, edits endpoints in place. Never throws. */
  open(): void;
  /**
   * Drains the removed pools and those a rebuild replaced; each leaves the live map once drained
   * (unless the store came back meanwhile). Resolves when all are closed.
   */
  retire(): Promise<void>;
}

/** The balancer as the proxy sees it. */
export class Balancer {
  readonly metrics: BalancerMetrics | undefined;
  readonly runner: AttemptRunner;
  readonly #init: BalancerInit;
  readonly #pools = new Set<StorePool>();
  /** The pools requests route to, by store. The map object never changes; its entries do. */
  readonly #live = new Map<string, BackendPool>();
  /** The spec each live pool was built or last updated from. */
  readonly #specs = new Map<BackendPool, StoreSpec>();
  readonly #retiring = new Set<BackendPool>();
  #zone: string | undefined;

  constructor(init: BalancerInit = {}) {
    this.#init = init;
    this.#zone = init.localZone;
    this.metrics = init.registry
      ? new BalancerMetrics(init.registry, () => this.pools(), init.forgetBackend)
      : undefined;
    this.runner = createRetryRunner(this.metrics);
  }

  /**
   * Builds one store's pool (the proxy's `PoolFactory` signature). The proxy's backend connect
   * timeout applies unless the defaults set one. Throws a CONFIG BalancerError on bad options.
   */
  readonly poolFactory = (
    store: StoreSpec,
    timeouts: ProxyTimeouts,
    seedAddresses?: ReadonlyMap<string, readonly ResolvedAddress[]>,
  ): StorePool => {
    const options = this.#options(store, timeouts);
    const pool = StorePool.create(store, options, {
      ...this.#init.deps,
      localZone: this.#zone,
      ...(this.metrics ? { observer: this.metrics } : {}),
      ...(seedAddresses ? { seedAddresses } : {}),
    });
    for (const p of this.#pools) if (p.closed) this.#pools.delete(p);
    this.#pools.add(pool);
    return pool;
  };

  /** The live pools by store: the map the request path routes with (stable object). */
  get live(): ReadonlyMap<string, BackendPool> {
    return this.#live;
  }

  /** Builds the pools of the start document; returns {@link live}. Throws a CONFIG BalancerError. */
  start(doc: PodPolicyDocument, timeouts: ProxyTimeouts): ReadonlyMap<string, BackendPool> {
    this.plan(doc, timeouts).open();
    return this.#live;
  }

  /**
   * Validates every store of `doc` (balancing options, endpoint URLs) and works out what changes;
   * throws a CONFIG {@link BalancerError} naming the store, changing nothing. A store whose
   * resolved options are unchanged but whose endpoints differ is edited in place (its other
   * backends keep their health, latency and connections); any options change rebuilds it, the
   * old pool draining. Region, addressing and credentials are not the pool's business.
   */
  plan(doc: PodPolicyDocument, timeouts: ProxyTimeouts): PoolPlan {
    const next = new Map<string, { spec: StoreSpec; options: BalancerOptions }>();
    for (const spec of doc.stores) {
      const options = this.#options(spec, timeouts);
      spec.endpoints.forEach((e, i) => {
        try {
          parseEndpoint(e);
        } catch (err) {
          throw new BalancerError(
            BalancerErrors.CONFIG,
            `store ${spec.name}: endpoints[${i}]: ${(err as Error).message}`,
          );
        }
      });
      next.set(spec.name, { spec, options });
    }
    const added: string[] = [];
    const updated: string[] = [];
    const rebuilt: string[] = [];
    for (const [name, { spec, options }] of next) {
      const cur = this.#live.get(name);
      if (cur === undefined || this.#retiring.has(cur)) added.push(name);
      else if (cur instanceof StorePool && this.#init.poolFactory === undefined) {
        if (!sameJson(cur.options, options)) rebuilt.push(name);
        else if (!sameJson(cur.endpoints(), spec.endpoints.map(endpointView))) updated.push(name);
      } else if (!sameJson(poolInputs(this.#specs.get(cur)), poolInputs(spec))) rebuilt.push(name);
    }
    const removed = [...this.#live.keys()].filter(
      (name) => !next.has(name) && !this.#retiring.has(this.#live.get(name)!),
    );
    const old = new Map([...rebuilt, ...removed].map((name) => [name, this.#live.get(name)!]));
    return {
      added,
      updated,
      rebuilt,
      removed,
      open: () => {
        this.#zone = doc.zone;
        for (const p of this.#live.values()) if (p instanceof StorePool) p.setLocalZone(doc.zone);
        for (const name of [...added, ...rebuilt]) {
          const { spec } = next.get(name)!;
          // A rebuilt pool starts with the addresses its predecessor had (StorePool seedAddresses).
          const prev = old.get(name);
          const seed = prev instanceof StorePool ? prev.knownAddresses() : undefined;
          const pool = this.#init.poolFactory
            ? this.#init.poolFactory(spec, timeouts)
            : this.poolFactory(spec, timeouts, seed);
          this.#live.set(name, pool);
          this.#specs.set(pool, spec);
        }
        for (const name of updated) {
          const { spec } = next.get(name)!;
          const pool = this.#live.get(name) as StorePool;
          pool.updateEndpoints(spec.endpoints); // validated above: cannot throw
          this.#specs.set(pool, spec);
        }
        // A removed pool stays routable until drained: a request authorized just before the
        // swap then gets a retryable 503 from the draining pool, not a "no pool" 500.
        for (const name of removed) this.#retiring.add(old.get(name)!);
        for (const name of rebuilt) this.#retiring.add(old.get(name)!);
      },
      retire: async () => {
        await Promise.all(
          [...old].map(async ([name, pool]) => {
            await (pool instanceof StorePool ? pool.drain() : pool.close());
            this.#retiring.delete(pool);
            this.#specs.delete(pool);
            if (this.#live.get(name) === pool) this.#live.delete(name);
          }),
        );
      },
    };
  }

  /** Closes every pool at once, live and draining (proxy shutdown, after its own drain). */
  async close(): Promise<void> {
    const all = new Set<BackendPool>([...this.#live.values(), ...this.#retiring, ...this.#pools]);
    this.#live.clear();
    this.#retiring.clear();
    this.#specs.clear();
    await Promise.all([...all].map((p) => p.close()));
  }

  /** Resolved options of one store's pool (the proxy's connect timeout unless defaults set one). */
  #options(store: StoreSpec, timeouts: ProxyTimeouts): BalancerOptions {
    const defaults = this.#init.defaults ?? {};
    const connection = {
      ...(timeouts.backendConnectMs > 0 ? { connectTimeoutMs: timeouts.backendConnectMs } : {}),
      ...defaults.connection,
    };
    return resolveBalancerOptions(store, { ...defaults, connection });
  }

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

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** An endpoint as {@link StorePool.endpoints} reports it (no undefined zone key). */
function endpointView(e: StoreSpec['endpoints'][number]): StoreSpec['endpoints'][number] {
  return e.zone === undefined ? { url: e.url } : { url: e.url, zone: e.zone };
}

/** What a pool is built from: endpoints and balancing (not region, addressing, credentials). */
function poolInputs(spec: StoreSpec | undefined): unknown {
  return spec === undefined ? undefined : { endpoints: spec.endpoints, balancing: spec.balancing };
}
