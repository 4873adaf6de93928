/**
 * One store's pool of backends — the balancer behind the {@link BackendPool} contract. It owns
 * discovery, active health checks, passive outlier ejection, zone preference and the per-backend
 * connection pools; per attempt it filters the backends that may take traffic and lets the picker
 * choose among them. One pool per store: a store's traffic never reaches another store's nodes.
 *
 * Eligibility, in order: not draining, not excluded by this request's earlier attempts, then
 * healthy and not ejected. When the eligible fraction falls below the panic threshold, every
 * non-draining backend is used (Envoy's panic mode) — that includes the start, when every backend
 * is still `pending`: the first requests go out while the first checks run rather than fail.
 * A store added by a policy reload starts the same way (see ./balancer.ts).
 *
 * A running pool follows its store's edits: {@link StorePool.updateEndpoints} diffs the endpoint
 * set (new endpoints are discovered and probed at once, removed ones drain exactly as addresses
 * DNS dropped do), {@link StorePool.setLocalZone} follows the pod's zone, and
 * {@link StorePool.drain} retires the whole pool once its in-flight attempts are done.
 */
import type { EndpointSpec, StoreSpec } from '../config/types.ts';
import { BackendNode } from './backend.ts';
import type { BalancerOptions } from './config.ts';
import {
  parseEndpoint,
  refreshDelayMs,
  ttlResolver,
  type HostResolver,
  type ParsedEndpoint,
  type ResolvedAddress,
} from './discovery.ts';
import { HttpProber, type Prober } from './health-check.ts';
import type { ProbeResult } from './health.ts';
import { systemClock, type Clock, type Random } from './random.ts';
import { RetryBudget } from './retry-budget.ts';
import { createPicker, type Picker } from './selection/index.ts';
import { drawZone, zoneShares, type ZoneCapacity } from './zones.ts';
import type { AttemptOutcome, Backend, BackendPool } from './types.ts';

/** Events the pool reports (metrics, logs). */
export interface PoolObserver {
  ejected?(pool: StorePool, backend: BackendNode, durationMs: number): void;
  healthChecked?(pool: StorePool, backend: BackendNode, result: ProbeResult): void;
  backendAdded?(pool: StorePool, backend: BackendNode): void;
  backendRemoved?(pool: StorePool, backend: BackendNode): void;
}

/** What a pool may be given instead of the real thing (tests, the benchmark). */
export interface PoolDeps {
  /** The sidecar's own zone (PodPolicyDocument.zone). */
  localZone?: string | undefined;
  clock?: Clock;
  random?: Random;
  resolver?: HostResolver;
  /** Replaces HTTP probes; `false` disables active checks (backends then count as healthy). */
  prober?: Prober | false;
  observer?: PoolObserver;
  /**
   * Addresses a hostname endpoint (by URL) starts with, before its first lookup answers: those
   * the pool this one replaces had ({@link StorePool.knownAddresses}). A settings reload that
   * rebuilds a pool must not leave it empty — answering 503 — until DNS replies, or for good
   * while lookups fail.
   */
  seedAddresses?: ReadonlyMap<string, readonly ResolvedAddress[]>;
}

/**
 * At most this many backends per endpoint from addresses kept after they left the DNS answers
 * (dnsAddressRetentionMs); the latest answer's own are always kept, however many. S3's DNS names
 * hundreds of addresses over a minute, eight at a time.
 */
export const MAX_RETAINED_ADDRESSES = 64;

/** Backends with a request body larger than this and no upload time give no latency sample. */
const LARGE_BODY_BYTES = 1 << 20;

/** A store's balancer. Create with {@link StorePool.create}; close with {@link StorePool.close}. */
export class StorePool implements BackendPool {
  readonly store: string;
  readonly options: BalancerOptions;
  localZone: string | undefined;
  readonly picker: Picker;
  readonly retryBudget: RetryBudget;
  readonly random: Random;
  readonly clock: Clock;
  readonly #resolver: HostResolver;
  readonly #prober: Prober | false;
  readonly #httpProber: HttpProber | undefined;
  readonly #observer: PoolObserver;
  #endpoints: ParsedEndpoint[];
  /** Live backends by endpoint URL, then address. */
  readonly #byEndpoint = new Map<string, Map<string, BackendNode>>();
  /** {@link backends}, kept between changes of #byEndpoint: every pick reads it. */
  #live: readonly BackendNode[] | undefined;
  readonly #draining = new Set<BackendNode>();
  /** When each live backend's address was last in a DNS answer (clock ms): see #sync. */
  readonly #seenAt = new Map<BackendNode, number>();
  /** Each hostname endpoint's latest answer, and the delay before its next (by URL). */
  readonly #latestAnswer = new Map<string, readonly ResolvedAddress[]>();
  readonly #refreshDelay = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #panic = false;
  #closed = false;
  /** Set by drain(): no new picks, no checks, closed once idle. */
  #drained: Promise<void> | undefined;
  #onIdle: (() => void) | undefined;
  #onDrained: (() => void) | undefined;
  /** Set after the first discovery round; later finds are probed at once. */
  #discovered = false;
  #ready: Promise<void>;

  private constructor(store: StoreSpec, options: BalancerOptions, deps: PoolDeps) {
    this.store = store.name;
    this.options = options;
    this.localZone = deps.localZone;
    this.clock = deps.clock ?? systemClock;
    this.random = deps.random ?? Math.random;
    this.picker = createPicker(options.algorithm, this.random);
    this.retryBudget = new RetryBudget(
      {
        percent: options.retry.budgetPercent,
        minPerSecond: options.retry.budgetMinPerSecond,
        windowMs: options.retry.budgetWindowMs,
      },
      this.clock,
    );
    this.#resolver = deps.resolver ?? ttlResolver;
    this.#observer = deps.observer ?? {};
    if (deps.prober === undefined) {
      this.#httpProber = new HttpProber(options.healthCheck, options.connection.connectTimeoutMs, this.clock);
      this.#prober = this.#httpProber.probe;
    } else {
      this.#prober = deps.prober;
    }
    this.#endpoints = store.endpoints.map(parseEndpoint);
    this.#ready = Promise.resolve();
  }

  /**
   * Builds a store's pool and starts discovery and health checks. IP endpoints are backends at
   * once; hostnames join when resolved. Await {@link ready} to know the first round is done.
   */
  static create(store: StoreSpec, options: BalancerOptions, deps: PoolDeps = {}): StorePool {
    const pool = new StorePool(store, options, deps);
    for (const ep of pool.#endpoints) {
      const seed = ep.literal === undefined ? deps.seedAddresses?.get(ep.url) : undefined;
      if (seed && seed.length > 0) pool.#sync(ep, seed);
    }
    pool.#ready = pool.#start();
    return pool;
  }

  /**
   * The latest DNS answer of each hostname endpoint (by URL): a replacement pool's seed. Not
   * the addresses kept from earlier answers (dnsAddressRetentionMs): seeded, they would start
   * afresh, their age and health forgotten.
   */
  knownAddresses(): Map<string, ResolvedAddress[]> {
    const out = new Map<string, ResolvedAddress[]>();
    for (const ep of this.#endpoints) {
      if (ep.literal !== undefined) continue;
      const latest = this.#latestAnswer.get(ep.url);
      if (latest && latest.length > 0) out.set(ep.url, [...latest]);
    }
    return out;
  }

  /** Resolves once every endpoint was resolved once and every backend had its first check. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** All live (non-draining) backends. Shared until the set changes: do not modify it. */
  backends(): readonly BackendNode[] {
    if (this.#live === undefined) {
      const out: BackendNode[] = [];
      for (const m of this.#byEndpoint.values()) out.push(...m.values());
      this.#live = out;
    }
    return this.#live;
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True once {@link drain} was called (the pool takes no new attempts). */
  get draining(): boolean {
    return this.#drained !== undefined;
  }

  /** The endpoints the pool currently discovers (as configured). */
  endpoints(): EndpointSpec[] {
    return this.#endpoints.map((e) => (e.zone === undefined ? { url: e.url } : { url: e.url, zone: e.zone }));
  }

  /** True when the last pick ran in panic mode. */
  get panic(): boolean {
    return this.#panic;
  }

  pick(exclude?: ReadonlySet<Backend>): BackendNode | undefined {
    if (this.#closed || this.#drained !== undefined) return undefined;
    const live = this.backends();
    const healthyCount = this.#refresh(live);
    // All healthy, the common case, allocates nothing.
    const pool =
      this.#panic || healthyCount === live.length ? live : live.filter((b) => b.state === 'healthy');
    const candidates =
      exclude === undefined || exclude.size === 0 ? pool : pool.filter((b) => !exclude.has(b));
    if (candidates.length === 0) return undefined;
    return this.picker.pick(this.#zoneFilter(candidates, live));
  }

  /**
   * Refreshes every live backend's state and the panic flag; returns how many are healthy. A
   * backend not yet checked (new: scaled up, or a DNS answer that rotated) counts for neither
   * side, as Envoy's ignore_new_hosts_until_first_hc: counted as unhealthy, three new ones beside
   * three healthy and one down threw a running pool into panic, sending traffic to the node
   * known to be down. When nothing was checked yet (a pool starting) it is panic: all take traffic.
   */
  #refresh(live: readonly BackendNode[]): number {
    const now = this.clock.now();
    let healthyCount = 0;
    let checked = 0;
    for (const b of live) {
      b.refreshState(now);
      if (b.state === 'healthy') healthyCount++;
      if (b.state !== 'pending') checked++;
    }
    const threshold = this.options.outlier.panicThresholdPercent / 100;
    this.#panic = live.length > 0 && (checked === 0 || healthyCount / checked < threshold);
    return healthyCount;
  }

  /**
   * Whether {@link pick}(exclude) would find a backend now — without picking: a picker's state (a
   * round-robin cursor) must move once per attempt, not for a question about the next one.
   * `refreshed`: a pick in this same tick already brought states and panic up to date.
   */
  canPick(exclude: ReadonlySet<Backend>, refreshed = false): boolean {
    if (this.#closed || this.#drained !== undefined) return false;
    const live = this.backends();
    if (!refreshed) this.#refresh(live);
    for (const b of live) if (!exclude.has(b) && (this.#panic || b.state === 'healthy')) return true;
    return false;
  }

  start(backend: Backend): void {
    (backend as BackendNode).inFlight += 1;
  }

  finish(backend: Backend, outcome: AttemptOutcome): void {
    const b = backend as BackendNode;
    b.inFlight = Math.max(0, b.inFlight - 1);
    b.attempts += 1;
    // A failure after headers (a client that hung up mid-download), one the client caused, or a
    // wait for one of our own connections to it (our limit, not its fault) says nothing about
    // the node.
    const notTheNode = outcome.failure === 'client' || outcome.failure === 'queued';
    // A timeout or reset is the node's also after headers (a body it stopped sending).
    const failed =
      outcome.failure === 'timeout' ||
      outcome.failure === 'reset' ||
      (outcome.failure !== undefined && !notTheNode && outcome.status === undefined) ||
      (outcome.status !== undefined && outcome.status >= 500);
    if (failed) b.failures += 1;
    const sample = notTheNode ? undefined : latencySample(outcome);
    if (failed) b.ewma.observe(Math.max(sample ?? 0, this.options.ewma.failurePenaltyMs));
    else if (sample !== undefined) b.ewma.observe(sample);
    if (!b.draining) {
      const now = this.clock.now();
      const duration = b.outlier.record(outcome, now, () => this.#mayEject(now));
      if (duration > 0) {
        b.refreshState(now);
        this.#observer.ejected?.(this, b, duration);
      }
    }
    if (b.draining && b.inFlight === 0) this.#retire(b);
  }

  snapshot(): PoolSnapshot {
    const now = this.clock.now();
    const view = (b: BackendNode, draining: boolean): BackendSnapshot => {
      b.refreshState(now);
      const last = b.health.lastResult;
      return {
        id: b.id,
        origin: b.origin,
        host: b.hostHeader,
        zone: b.zone ?? null,
        state: b.state,
        draining,
        ewmaMs: round(b.ewma.value()),
        inFlight: b.inFlight,
        attempts: b.attempts,
        failures: b.failures,
        ejections: b.outlier.ejections,
        ejectedForMs: b.outlier.isEjected(now) ? Math.round(b.outlier.ejectedUntil - now) : 0,
        health: {
          status: b.health.status,
          consecutiveSuccesses: b.health.consecutiveSuccesses,
          consecutiveFailures: b.health.consecutiveFailures,
          last: last === undefined ? null : { ...last, agoMs: Math.round(now - last.at) },
        },
      };
    };
    return {
      store: this.store,
      algorithm: this.options.algorithm,
      // What each probe asks and accepts (by provider unless set): explains a "status 403".
      healthCheck: {
        path: this.options.healthCheck.path,
        expectStatus: this.options.healthCheck.expectStatus,
      },
      localZone: this.localZone ?? null,
      panic: this.#panic,
      draining: this.#drained !== undefined,
      retryBudget: round(this.retryBudget.balance()),
      backends: [
        ...this.backends().map((b) => view(b, false)),
        ...[...this.#draining].map((b) => view(b, true)),
      ],
    };
  }

  async close(): Promise<void> {
    if (this.#closed) {
      this.#onDrained?.();
      return;
    }
    this.#closed = true;
    this.#onIdle = undefined;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const all = [...this.backends(), ...this.#draining];
    this.#byEndpoint.clear();
    this.#live = undefined;
    this.#draining.clear();
    await this.#httpProber?.close();
    await Promise.all(all.map((b) => b.dispatcher.destroy().catch(() => undefined)));
    this.#onDrained?.();
  }

  /**
   * Follows an edit of the store's endpoints (a policy reload). An endpoint is its URL and zone:
   * one that stays keeps its backends and their state; a new one is discovered now and its
   * backends probed at once (pending until then, like any new backend); a removed one's backends
   * drain — no new picks, closed once their in-flight attempts finish (see #drainBackend). Throws a TypeError, changing nothing, on an endpoint URL it cannot use.
   */
  updateEndpoints(specs: readonly EndpointSpec[]): void {
    const next = specs.map(parseEndpoint);
    if (this.#closed || this.#drained !== undefined) return;
    const wanted = new Set(next.map(endpointKey));
    const have = new Set(this.#endpoints.map(endpointKey));
    for (const ep of this.#endpoints) if (!wanted.has(endpointKey(ep))) this.#dropEndpoint(ep);
    const added = next.filter((ep) => !have.has(endpointKey(ep)));
    this.#endpoints = [...this.#endpoints.filter((ep) => wanted.has(endpointKey(ep))), ...added];
    // IP endpoints sync before the first await, so their backends exist when this returns.
    for (const ep of added) void this.#discover(ep);
  }

  /** Follows the pod's zone (set once the pod is scheduled); the next pick uses it. */
  setLocalZone(zone: string | undefined): void {
    this.localZone = zone;
  }

  /**
   * Retires the pool (its store was removed or its settings rebuilt it): no new picks — an
   * attempt asking resolves to "no backend" — no more checks or DNS refreshes; each backend
   * closes once its in-flight attempts finished (their bodies complete), and the pool
   * closes when the last one has. Idempotent.
   */
  drain(): Promise<void> {
    if (this.#drained !== undefined) return this.#drained;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const b of this.backends()) this.#drainBackend(b);
    this.#byEndpoint.clear();
    this.#live = undefined;
    this.#drained = new Promise<void>((resolve) => (this.#onDrained = resolve));
    if (this.#closed || this.#draining.size === 0) {
      void this.close();
    } else {
      this.#onIdle = () => void this.close();
    }
    return this.#drained;
  }

  // ---- discovery ----

  async #start(): Promise<void> {
    await Promise.all(this.#endpoints.map((ep) => this.#discover(ep)));
    this.#discovered = true;
    if (this.#prober !== false) {
      await this.#probeAll();
      this.#every(this.options.healthCheck.intervalMs, () => this.#probeAll());
    }
  }

  async #discover(ep: ParsedEndpoint): Promise<void> {
    const answer = await this.#resolveOnce(ep);
    if (ep.literal !== undefined || this.#closed || !this.#endpoints.includes(ep)) return;
    const delay = refreshDelayMs(this.options.dnsRefreshMs, answer.ttlMs);
    // The retention window follows the answers' pace, not the quick retry after a failure.
    if (answer.ok) this.#refreshDelay.set(ep.url, delay);
    this.#after(delay, () => this.#discover(ep));
  }

  /** Resolves one endpoint and syncs its backends; returns the answer's TTL (ms), if any. */
  async #resolveOnce(ep: ParsedEndpoint): Promise<{ ok: boolean; ttlMs?: number }> {
    if (ep.literal !== undefined) {
      this.#sync(ep, [ep.literal]);
      return { ok: true };
    }
    try {
      const answer = await this.#resolver.resolve(ep.hostname);
      this.#sync(ep, answer.addresses);
      return answer.ttlMs === undefined ? { ok: true } : { ok: true, ttlMs: answer.ttlMs };
    } catch {
      // Keep the addresses we have: a DNS hiccup must never empty a pool. Retry sooner.
      return { ok: false, ttlMs: 5_000 };
    }
  }

  /** Re-resolves every endpoint now (between the scheduled refreshes). */
  async resolveNow(): Promise<void> {
    await Promise.all(this.#endpoints.map((ep) => this.#resolveOnce(ep)));
  }

  /** Runs one round of active health checks now (between the scheduled rounds). */
  async checkNow(): Promise<void> {
    await this.#probeAll();
  }

  /**
   * Makes the endpoint's backends the answer's `addresses`, plus, with dnsAddressRetentionMs
   * set, those seen in an answer within it (at most {@link MAX_RETAINED_ADDRESSES}, the latest):
   * new ones join pending, older ones drain. A DNS that rotates a few addresses per answer
   * would otherwise move all traffic to each answer's few, and throw away every node's latency
   * history, ejection and connections at each refresh. A node gone for good is still found
   * out by health checks and outlier ejection meanwhile.
   */
  #sync(ep: ParsedEndpoint, addresses: readonly ResolvedAddress[]): void {
    // An answer for an endpoint removed meanwhile (or a drained pool) changes nothing.
    if (this.#closed || addresses.length === 0 || !this.#endpoints.includes(ep)) return;
    if (this.#drained !== undefined) return;
    const current = this.#byEndpoint.get(ep.url) ?? new Map<string, BackendNode>();
    this.#byEndpoint.set(ep.url, current);
    this.#latestAnswer.set(ep.url, addresses);
    const now = this.clock.now();
    const wanted = new Set(addresses.map((a) => a.address));
    // At least 2.5 refreshes: with a refresh as long as the retention (a 30 s TTL, getaddrinfo's
    // fixed 30 s), an address would be gone by the next answer, kept or not.
    const retention = this.options.dnsAddressRetentionMs;
    const keepMs = retention > 0 ? Math.max(retention, 2.5 * (this.#refreshDelay.get(ep.url) ?? 0)) : 0;
    const retained: BackendNode[] = [];
    const remove = (b: BackendNode): void => {
      current.delete(b.address);
      this.#live = undefined; // each change, before the observers below can read the list
      this.#drainBackend(b);
    };
    for (const [address, b] of current) {
      if (wanted.has(address)) this.#seenAt.set(b, now);
      else if (now - (this.#seenAt.get(b) ?? now) < keepMs) retained.push(b);
      else remove(b);
    }
    if (retained.length > MAX_RETAINED_ADDRESSES) {
      retained.sort((a, b) => (this.#seenAt.get(a) ?? 0) - (this.#seenAt.get(b) ?? 0));
      for (const b of retained.slice(0, retained.length - MAX_RETAINED_ADDRESSES)) remove(b);
    }
    const added: BackendNode[] = [];
    for (const addr of addresses) {
      if (current.has(addr.address)) continue;
      const b = new BackendNode(this.store, ep, addr, this.options, this.clock);
      if (this.#prober === false) forceHealthy(b);
      current.set(addr.address, b);
      this.#seenAt.set(b, now);
      added.push(b);
      this.#live = undefined;
      this.#observer.backendAdded?.(this, b);
    }
    // A backend found after startup is probed now, not at the next tick: it takes traffic sooner.
    if (this.#prober !== false && this.#discovered) for (const b of added) void this.#probe(b);
  }

  /** Every backend of a removed endpoint drains. */
  #dropEndpoint(ep: ParsedEndpoint): void {
    const backends = this.#byEndpoint.get(ep.url);
    this.#byEndpoint.delete(ep.url);
    this.#live = undefined;
    for (const b of backends?.values() ?? []) this.#drainBackend(b);
  }

  /**
   * No new picks for `b`; closed once idle. Never cut short, as Envoy keeps connections to a host
   * that left the host set: the node is still up (its address left a DNS answer that rotates, as
   * S3's does every few seconds, or a settings reload rebuilt its pool), and a deadline destroyed
   * every transfer longer than it. Each request is bounded by its own timeouts (first byte, body
   * idle both ways), so a stuck one still ends.
   */
  #drainBackend(b: BackendNode): void {
    this.#seenAt.delete(b);
    b.draining = true;
    b.refreshState(this.clock.now());
    this.#draining.add(b);
    this.#httpProber?.forget(b);
    this.#observer.backendRemoved?.(this, b);
    if (b.inFlight === 0) this.#retire(b);
  }

  #retire(b: BackendNode): void {
    if (!this.#draining.delete(b)) return;
    void b.dispatcher.close().catch(() => undefined);
    if (this.#draining.size === 0) this.#onIdle?.();
  }

  // ---- health ----

  async #probeAll(): Promise<void> {
    await Promise.all(this.backends().map((b) => this.#probe(b)));
  }

  async #probe(b: BackendNode): Promise<void> {
    if (this.#prober === false) return;
    const result = await this.#prober(b).catch((err: unknown) => ({
      ok: false,
      error: String(err),
      at: this.clock.now(),
    }));
    if (this.#closed || b.draining) return;
    // record() is true on a change, so "changed and now healthy" means it came back.
    if (b.health.record(result) && b.health.status === 'healthy') {
      // Back in service: start from a neutral estimate, not the failure penalty it left with,
      // and not still ejected for failures from before it recovered (an outage that hit every
      // node had its ejections grow in panic mode and outlast the recovery by minutes).
      b.ewma.reset(this.options.ewma.initialMs);
      b.outlier.uneject(this.clock.now());
    }
    b.refreshState(this.clock.now());
    this.#observer.healthChecked?.(this, b, result);
  }

  /** Max ejected percent: one ejection is always allowed, more only within the cap. */
  #mayEject(now: number): boolean {
    const live = this.backends();
    const ejected = live.filter((b) => b.outlier.isEjected(now)).length;
    if (ejected === 0) return true;
    return ((ejected + 1) / live.length) * 100 <= this.options.outlier.maxEjectionPercent;
  }

  // ---- zones ----

  /**
   * Narrows candidates to one zone drawn by the zone shares; all of them without a local zone.
   * A zone's capacity is its *healthy* backends, also in panic mode (where candidates include
   * unhealthy and ejected backends) and on a retry (whose candidates lack the backend that just
   * failed): otherwise a local zone that is entirely down would count as whole and take first
   * attempts or retries. Panic widens the choice within the zone drawn. Only when no backend is
   * healthy at all (start-up, every check failing) do all candidates count; and when the zone
   * drawn has no candidate left (a retry excluded it), every candidate is fair game.
   */
  #zoneFilter(candidates: readonly BackendNode[], live: readonly BackendNode[]): readonly BackendNode[] {
    if (this.localZone === undefined) return candidates;
    const byZone = new Map<string, ZoneCapacity>();
    for (const b of live) {
      const z = zoneOf(b);
      const cap = byZone.get(z) ?? { zone: z, total: 0, eligible: 0 };
      cap.total += 1;
      byZone.set(z, cap);
    }
    if (byZone.size <= 1) return candidates;
    const healthy = live.filter((b) => b.state === 'healthy');
    for (const b of healthy.length > 0 ? healthy : candidates) byZone.get(zoneOf(b))!.eligible += 1;
    const zone = drawZone(zoneShares([...byZone.values()], this.localZone), this.random());
    const inZone = candidates.filter((b) => zoneOf(b) === zone);
    return inZone.length > 0 ? inZone : candidates;
  }

  // ---- timers ----

  #after(ms: number, fn: () => unknown): void {
    if (this.#closed || this.#drained !== undefined) return;
    const t = setTimeout(() => {
      this.#timers.delete(t);
      void fn();
    }, ms);
    t.unref();
    this.#timers.add(t);
  }

  #every(ms: number, fn: () => Promise<void>): void {
    this.#after(ms, async () => {
      await fn();
      this.#every(ms, fn);
    });
  }
}

/** The /debug/backends view of one backend. */
export interface BackendSnapshot {
  id: string;
  origin: string;
  host: string;
  zone: string | null;
  state: string;
  draining: boolean;
  ewmaMs: number;
  inFlight: number;
  attempts: number;
  failures: number;
  ejections: number;
  ejectedForMs: number;
  health: {
    status: string;
    consecutiveSuccesses: number;
    consecutiveFailures: number;
    last: (ProbeResult & { agoMs: number }) | null;
  };
}

/** The /debug/backends view of one store's pool. */
export interface PoolSnapshot {
  store: string;
  algorithm: string;
  healthCheck: { path: string; expectStatus: string };
  localZone: string | null;
  panic: boolean;
  /** The pool is retiring (store removed or rebuilt): no new attempts. */
  draining: boolean;
  retryBudget: number;
  backends: BackendSnapshot[];
}

/**
 * The latency sample of one attempt: time to headers, minus upload time when known; none for a
 * large upload of unknown duration (its headers wait on the client, not the node).
 */
export function latencySample(o: AttemptOutcome): number | undefined {
  if (o.headersMs === undefined) return undefined;
  if (o.uploadMs !== undefined) return Math.max(0, o.headersMs - o.uploadMs);
  if ((o.requestBodyBytes ?? 0) > LARGE_BODY_BYTES) return undefined;
  return o.headersMs;
}

/** An endpoint's identity across edits: its URL and its zone (a backend's zone is fixed). */
function endpointKey(ep: ParsedEndpoint): string {
  return `${ep.url}\n${ep.zone ?? ''}`;
}

function zoneOf(b: BackendNode): string {
  return b.zone ?? '';
}

function forceHealthy(b: BackendNode): void {
  // With active checks off, rise successes are recorded at once so the backend is healthy.
  while (b.health.status !== 'healthy') b.health.record({ ok: true, at: 0 });
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
