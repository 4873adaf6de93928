/**
 * The authorize phase: the one call site of the policy (proxy/policy/index.ts). Runs before any
 * body byte is read and before 100 Continue; a denial is answered with the S3 code and status
 * the policy names (AccessDenied 403 in the common case). The policy also gets the raw target so
 * it can re-parse it independently and deny when the two readings differ.
 */
import { ProxyError } from '../errors.ts';
import type { ErrorSpec } from '../errors.ts';
import type { Authorizer, Decision } from '../policy/index.ts';
import { LIST_BUCKETS_PAGING_PARAMS } from '../policy/list-buckets.ts';
import type { RequestContext } from './context.ts';

/** A policy denial as a ProxyError (its code/status come from the policy's own catalog). */
export function denialError(d: Extract<Decision, { allow: false }>): ProxyError {
  const spec: ErrorSpec = {
    code: d.s3Code,
    status: d.status,
    source: 'downstream',
    retryable: false,
    message: d.message,
  };
  return new ProxyError(spec, d.message);
}

/** Fills ctx.operation, ctx.store and ctx.decision, or throws the denial. */
export function authorizePhase(ctx: RequestContext, authorizer: Authorizer): void {
  ctx.phase = 'authorize';
  const t = ctx.target!;
  const d = authorizer.authorize({
    method: ctx.req.method ?? 'GET',
    bucket: t.bucket,
    key: t.key,
    query: t.query,
    headers: ctx.req.headers,
    rawTarget: ctx.req.url ?? '/',
  });
  ctx.operation = d.operation;
  ctx.policy = d.allow ? `grant:${d.matched.join(',')}` : `deny:${d.reason}`;
  if (!d.allow) throw denialError(d);
  ctx.store = d.store;
  ctx.decision = d;
  // The answer will be filtered to the pod's buckets: asked for whole, not in pages.
  if (d.listBuckets) for (const p of LIST_BUCKETS_PAGING_PARAMS) t.query.delete(p);
}
