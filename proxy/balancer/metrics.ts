/**
 * Every balancer metric, registered on the proxy's registry (proxy/metrics.ts owns it; this file
 * adds the balancer's own series). Per-backend gauges are read from the live pools at scrape
 * time, so a removed backend's series disappear with it. Base units, `_total` on counters.
 */
import type { Registry } from 'prom-client';
import type { Counter as CounterType, Gauge as GaugeType } from 'prom-client';
import { Counter, Gauge } from '../runtime-deps.ts';
import type { BackendNode } from './backend.ts';
import type { ProbeResult } from './health.ts';
import type { PoolObserver, StorePool } from './pool.ts';
import type { BackendState } from './types.ts';

const STATES: readonly BackendState[] = ['pending', 'healthy', 'unhealthy', 'ejected', 'draining'];

/** The balancer's metrics; also the pools' {@link PoolObserver}. */
export class BalancerMetrics implements PoolObserver {
  readonly ejections: CounterType<'store' | 'backend'>;
  readonly healthChecks: CounterType<'store' | 'backend' | 'result'>;
  readonly retries: CounterType<'store' | 'reason'>;
  readonly budgetExhausted: CounterType<'store'>;

  readonly #pools: () => Iterable<StorePool>;
  readonly #forget: ((backend: string) => void) | undefined;

  /**
   * `pools` is read at every scrape (the pool set may be replaced on a policy reload).
   * `forget(backend)` runs when a backend id is gone from every pool, for series kept elsewhere
   * (the proxy's per-backend request metrics).
   */
  constructor(registry: Registry, pools: () => Iterable<StorePool>, forget?: (backend: string) => void) {
    this.#pools = pools;
    this.#forget = forget;
    const registers = [registry];
    const perBackend = (
      fill: (g: GaugeType<'store' | 'backend' | 'zone'>, p: StorePool, b: BackendNode) => void,
    ) =>
      function collect(this: GaugeType<'store' | 'backend' | 'zone'>): void {
        this.reset();
        for (const p of pools()) for (const b of p.backends()) fill(this, p, b);
      };
    new Gauge({
      name: 'sluice_balancer_backend_state',
      help: 'Backend state: 1 for the current state label, 0 for the others.',
      labelNames: ['store', 'backend', 'zone', 'state'] as const,
      registers,
      collect() {
        this.reset();
        for (const p of pools()) {
          for (const b of p.backends()) {
            b.refreshState(p.clock.now());
            for (const s of STATES) {
              this.set(
                { store: p.store, backend: b.id, zone: b.zone ?? '', state: s },
                b.state === s ? 1 : 0,
              );
            }
          }
        }
      },
    });
    new Gauge({
      name: 'sluice_balancer_backend_latency_ewma_seconds',
      help: 'Peak-EWMA estimate of time to response headers, per backend.',
      labelNames: ['store', 'backend', 'zone'] as const,
      registers,
      collect: perBackend((g, p, b) => g.set(labels(p, b), b.ewma.value() / 1000)),
    });
    new Gauge({
      name: 'sluice_balancer_backend_in_flight_requests',
      help: 'Attempts in flight, per backend.',
      labelNames: ['store', 'backend', 'zone'] as const,
      registers,
      collect: perBackend((g, p, b) => g.set(labels(p, b), b.inFlight)),
    });
    new Counter({
      name: 'sluice_balancer_backend_replays_total',
      help: 'GETs and HEADs sent once more on a new connection after their kept-alive connection was lost before any answer, per backend.',
      labelNames: ['store', 'backend', 'zone'] as const,
      registers,
      // The pools count; this reads them (a pool replaced on a reload starts again from 0).
      collect() {
        this.reset();
        for (const p of pools()) for (const b of p.backends()) this.inc(labels(p, b), b.dispatcher.replays);
      },
    });
    this.ejections = new Counter({
      name: 'sluice_balancer_ejections_total',
      help: 'Passive outlier ejections, per backend.',
      labelNames: ['store', 'backend'] as const,
      registers,
    });
    this.healthChecks = new Counter({
      name: 'sluice_balancer_health_checks_total',
      help: 'Active health checks, by result (success|failure).',
      labelNames: ['store', 'backend', 'result'] as const,
      registers,
    });
    this.retries = new Counter({
      name: 'sluice_balancer_retries_total',
      help: 'Attempts retried on another backend, by the failure that caused the retry.',
      labelNames: ['store', 'reason'] as const,
      registers,
    });
    this.budgetExhausted = new Counter({
      name: 'sluice_balancer_retry_budget_exhausted_total',
      help: 'Retries refused because the retry budget was spent.',
      labelNames: ['store'] as const,
      registers,
    });
  }

  /**
   * A backend left its pool. Its counters go too once no pool has a backend of that id (a pool
   * rebuilt on a reload has one again): a hostname endpoint's backends are its resolved IPs, and
   * an endpoint whose IPs rotate (a cloud store's DNS) would otherwise add series for ever.
   */
  backendRemoved(pool: StorePool, backend: BackendNode): void {
    for (const p of this.#pools())
      for (const b of p.backends()) if (b.id === backend.id && b !== backend) return;
    this.ejections.remove({ store: pool.store, backend: backend.id });
    for (const result of ['success', 'failure']) {
      this.healthChecks.remove({ store: pool.store, backend: backend.id, result });
    }
    this.#forget?.(backend.id);
  }

  ejected(pool: StorePool, backend: BackendNode): void {
    this.ejections.inc({ store: pool.store, backend: backend.id });
  }

  healthChecked(pool: StorePool, backend: BackendNode, result: ProbeResult): void {
    this.healthChecks.inc({
      store: pool.store,
      backend: backend.id,
      result: result.ok ? 'success' : 'failure',
    });
  }
}

function labels(p: StorePool, b: BackendNode): { store: string; backend: string; zone: string } {
  return { store: p.store, backend: b.id, zone: b.zone ?? '' };
}
