/**
 * Every metric of the webhook, in one place; registered into the operator's registry (the
 * operator serves /metrics). Base units, `_total` on counters, bounded label values (results,
 * skip reasons, catalog codes — never pod names).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface WebhookMetrics {
  readonly registry: Registry;
  /** Admissions by result (injected | identity-assigned | env-completed | skipped | denied | error)
   * and reason. */
  readonly admissionsTotal: Counter<'result' | 'reason'>;
  readonly admissionDuration: Histogram<'result'>;
  /** Admission warnings returned to clients. */
  readonly warningsTotal: Counter;
  /** Namespace label lookups by result (hit | miss | error). */
  readonly namespaceLookupsTotal: Counter<'result'>;
  /** 1 when the API server supports native sidecars (what new pods get). */
  readonly nativeSidecars: Gauge;
  /** Serving certificate reloads without restart. */
  readonly certificateReloadsTotal: Counter;
}

/** Creates the webhook's metrics in `registry` (a fresh one by default, so tests don't collide). */
export function createWebhookMetrics(registry: Registry = new Registry()): WebhookMetrics {
  const registers = [registry];
  return {
    registry,
    admissionsTotal: new Counter({
      name: 'sluice_operator_webhook_admissions_total',
      help: 'Pod admissions by result and reason',
      labelNames: ['result', 'reason'],
      registers,
    }),
    admissionDuration: new Histogram({
      name: 'sluice_operator_webhook_admission_duration_seconds',
      help: 'Time to answer one AdmissionReview, namespace lookup included',
      labelNames: ['result'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    warningsTotal: new Counter({
      name: 'sluice_operator_webhook_warnings_total',
      help: 'Admission warnings returned',
      registers,
    }),
    namespaceLookupsTotal: new Counter({
      name: 'sluice_operator_webhook_namespace_lookups_total',
      help: 'Namespace label lookups by result (hit, miss, error)',
      labelNames: ['result'],
      registers,
    }),
    nativeSidecars: new Gauge({
      name: 'sluice_operator_webhook_native_sidecars',
      help: '1 when the API server supports native sidecars',
      registers,
    }),
    certificateReloadsTotal: new Counter({
      name: 'sluice_operator_webhook_certificate_reloads_total',
      help: 'Serving certificate reloads without restart',
      registers,
    }),
  };
}
