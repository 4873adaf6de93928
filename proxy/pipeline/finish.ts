/**
 * The log phase: when a response closes (finished or aborted), one access-log line and the
 * request's metrics.
 */
import type { Logger } from '../log.ts';
import { logAccess } from '../log.ts';
import { statusClass } from '../metrics.ts';
import type { ProxyMetrics } from '../metrics.ts';
import type { RequestContext } from './context.ts';

/**
 * The `backend` label of a request's series. A backend that left its pool (its address is gone
 * from DNS; on a reload the old pool's backends all drain) had its series dropped when it left; a request still in flight on it then would
 * create them again, for good — with a cloud store's rotating IPs, series without bound. Such
 * requests count under the one fixed value `draining`; the access log keeps the real id.
 */
function backendLabel(ctx: RequestContext): string {
  const b = ctx.backend;
  if (b === undefined) return 'none';
  return b.state === 'draining' ? 'draining' : b.id;
}

/** The request's metrics, once it is over. */
export function recordRequestMetrics(ctx: RequestContext, durationMs: number, metrics: ProxyMetrics): void {
  const backend = backendLabel(ctx);
  const status = ctx.outcome === 'ok' || ctx.outcome === 'error' ? ctx.status : 0;
  metrics.inFlightCount--;
  metrics.requestsOf(ctx.operation, statusClass(status), backend).inc();
  metrics.durationOf(ctx.operation).observe(durationMs / 1000);
  if (ctx.backendHeadersMs !== undefined)
    metrics.backendHeadersOf(backend).observe(ctx.backendHeadersMs / 1000);
  if (ctx.bytesIn) metrics.receivedBytes.inc(ctx.bytesIn);
  if (ctx.bytesOut) metrics.sentBytes.inc(ctx.bytesOut);
  if (ctx.error) metrics.errors.inc({ code: ctx.error.spec.code, source: ctx.error.spec.source });
}

/** Records ctx; call exactly once, on the response's 'close'. */
export function finishPhase(ctx: RequestContext, metrics: ProxyMetrics, log: Logger): void {
  ctx.phase = 'log';
  if (!ctx.res.writableFinished && ctx.outcome === 'ok') ctx.outcome = 'client-aborted';
  const durationMs = performance.now() - ctx.startedAt;
  recordRequestMetrics(ctx, durationMs, metrics);
  logAccess(log, {
    requestId: ctx.id,
    backendRequestId: ctx.backendRequestId,
    method: ctx.req.method ?? '',
    operation: ctx.operation,
    bucket: ctx.target?.bucket,
    key: ctx.target?.key,
    status: ctx.status,
    errorCode: ctx.error?.spec.code,
    clientAuth: ctx.clientAuth,
    payload: ctx.payload?.kind,
    store: ctx.store,
    policy: ctx.policy,
    backend: ctx.backend?.id,
    bytesIn: ctx.bytesIn,
    bytesOut: ctx.bytesOut,
    durationMs: Math.round(durationMs * 1000) / 1000,
    backendHeadersMs:
      ctx.backendHeadersMs === undefined ? undefined : Math.round(ctx.backendHeadersMs * 1000) / 1000,
    outcome: ctx.outcome,
  });
}
