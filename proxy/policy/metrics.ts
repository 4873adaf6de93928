/**
 * Every policy metric, registered on the proxy's registry (proxy/metrics.ts owns it; this file
 * adds the policy's own series, like proxy/balancer/metrics.ts). Base units, `_total` on counters.
 * Denial reasons are the fixed set of ./errors.ts, so the label stays bounded.
 */
import type { Registry } from 'prom-client';
import type { Counter as CounterType, Gauge as GaugeType } from 'prom-client';
import { Counter, Gauge } from '../runtime-deps.ts';
import { DENY_REASONS } from './errors.ts';
import type { DenyReason } from './errors.ts';

/** The policy's metrics. */
export class PolicyMetrics {
  readonly denials: CounterType<'reason'>;
  readonly reloadErrors: CounterType;
  readonly lastReload: GaugeType;

  constructor(registry: Registry) {
    const registers = [registry];
    this.denials = new Counter({
      name: 'sluice_policy_denials_total',
      help: 'Requests the policy refused, by reason.',
      labelNames: ['reason'] as const,
      registers,
    });
    for (const reason of DENY_REASONS) this.denials.inc({ reason }, 0);
    this.reloadErrors = new Counter({
      name: 'sluice_policy_reload_errors_total',
      help: 'Policy reloads rejected (unreadable, invalid or unenforceable document); the previous policy stays.',
      registers,
    });
    this.lastReload = new Gauge({
      name: 'sluice_policy_last_reload_success_timestamp_seconds',
      help: 'Unix time the current policy was loaded.',
      registers,
    });
  }

  /** Counts one denial. */
  denied(reason: DenyReason): void {
    this.denials.inc({ reason });
  }
}
