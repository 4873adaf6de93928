/**
 * Every metric of the operator (controller and webhook), in one place. Base units (seconds),
 * `_total` on counters, prefix `sluice_operator_`. Label values are bounded sets (kinds,
 * results, catalog codes) — never names of pods or objects.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Work-item kinds the controller reconciles. */
export type ReconcileKind = 'pod' | 'bucketaccess' | 'objectstore';

/** The operator's metric handles; see {@link createOperatorMetrics}. */
export interface OperatorMetrics {
  readonly registry: Registry;
  /** Reconciles by kind and result (success | error | requeue). */
  readonly reconcilesTotal: Counter<'kind' | 'result'>;
  readonly reconcileDuration: Histogram<'kind'>;
  /** Reconcile errors by kind and error code (catalog code or KubeApiError reason). */
  readonly reconcileErrorsTotal: Counter<'kind' | 'code'>;
  /** Keys waiting in the work queue. */
  readonly queueDepth: Gauge;
  /** Per-pod Secret writes by operation (create | update | delete). */
  readonly secretWritesTotal: Counter<'op'>;
  /** STS AssumeRole calls by result (success | error). */
  readonly stsAssumeRoleTotal: Counter<'result'>;
  /** Pods refused because another pod holds their identity's Secret. */
  readonly identityConflictsTotal: Counter;
  /** List/watch errors by resource (the informer retries by itself). */
  readonly informerErrorsTotal: Counter<'resource'>;
  /** 1 while this replica holds the leader Lease. */
  readonly isLeader: Gauge;
  /** Leadership acquisitions by this replica. */
  readonly leaderTransitionsTotal: Counter;
}

/** Creates the operator's metrics in `registry` (a fresh one by default, so tests don't collide). */
export function createOperatorMetrics(registry: Registry = new Registry()): OperatorMetrics {
  const r = [registry];
  return {
    registry,
    reconcilesTotal: new Counter({
      name: 'sluice_operator_reconciles_total',
      help: 'Reconciles by kind and result',
      labelNames: ['kind', 'result'],
      registers: r,
    }),
    reconcileDuration: new Histogram({
      name: 'sluice_operator_reconcile_duration_seconds',
      help: 'Time spent in one reconcile',
      labelNames: ['kind'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: r,
    }),
    reconcileErrorsTotal: new Counter({
      name: 'sluice_operator_reconcile_errors_total',
      help: 'Failed reconciles by kind and error code',
      labelNames: ['kind', 'code'],
      registers: r,
    }),
    queueDepth: new Gauge({
      name: 'sluice_operator_queue_depth',
      help: 'Keys waiting in the work queue',
      registers: r,
    }),
    secretWritesTotal: new Counter({
      name: 'sluice_operator_secret_writes_total',
      help: 'Per-pod Secret writes by operation',
      labelNames: ['op'],
      registers: r,
    }),
    stsAssumeRoleTotal: new Counter({
      name: 'sluice_operator_sts_assume_role_total',
      help: 'STS AssumeRole calls by result',
      labelNames: ['result'],
      registers: r,
    }),
    identityConflictsTotal: new Counter({
      name: 'sluice_operator_identity_conflicts_total',
      help: 'Pods refused a policy because another pod holds their identity',
      registers: r,
    }),
    informerErrorsTotal: new Counter({
      name: 'sluice_operator_informer_errors_total',
      help: 'List/watch errors by resource',
      labelNames: ['resource'],
      registers: r,
    }),
    isLeader: new Gauge({
      name: 'sluice_operator_is_leader',
      help: '1 while this replica is the leader',
      registers: r,
    }),
    leaderTransitionsTotal: new Counter({
      name: 'sluice_operator_leader_acquisitions_total',
      help: 'Times this replica acquired leadership',
      registers: r,
    }),
  };
}
