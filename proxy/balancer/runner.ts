/**
 * The retrying attempt runner the request path runs route → sign → forward with (its
 * `AttemptRunner` hook, proxy/pipeline/attempt.ts). One attempt on the backend the pool picks;
 * when it failed before any response byte and ./retry.ts says the request is safe to repeat, the
 * budget allows, and a backend not yet tried is left, another attempt after a jittered backoff.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Attempt, AttemptRunner } from '../pipeline/attempt.ts';
import type { AttemptResult } from '../pipeline/forward.ts';
import type { RequestContext } from '../pipeline/context.ts';
import type { BalancerMetrics } from './metrics.ts';
import { StorePool } from './pool.ts';
import { backoffMs, retryVerdict, SAFE_METHODS } from './retry.ts';
import type { Backend, BackendPool } from './types.ts';

/** Builds the runner; `metrics` counts retries and budget refusals. */
export function createRetryRunner(metrics?: BalancerMetrics): AttemptRunner {
  return async (
    ctx: RequestContext,
    pool: BackendPool,
    attempt: Attempt,
  ): Promise<AttemptResult | undefined> => {
    // Only the balancer's pools carry a budget; any other pool gets exactly one attempt.
    if (!(pool instanceof StorePool)) {
      const b = pool.pick();
      return b ? attempt(b) : undefined;
    }
    const opts = pool.options.retry;
    pool.retryBudget.deposit();
    const tried = new Set<Backend>();
    let last: AttemptResult | undefined;
    let backend = pool.pick(tried);
    for (let n = 1; backend !== undefined; n++) {
      tried.add(backend);
      // Held back only when a retry could really follow: with no other backend left, the
      // response (a 503 included) streams to the client as the store wrote it. (The pick that
      // chose `backend` just refreshed the pool's states.)
      ctx.holdForRetry =
        n < opts.maxAttempts &&
        mayRepeat(ctx) &&
        pool.retryBudget.balance() >= 1 &&
        pool.canPick(tried, true);
      last = await attempt(backend);
      if (last.responded || last.error === undefined || n === opts.maxAttempts) break;
      const verdict = retryVerdict(requestFacts(ctx), last.outcome);
      if (!verdict.retry) break;
      if (!pool.canPick(tried)) break; // nothing left to try: not a retry, nothing to count
      if (!pool.retryBudget.tryWithdraw()) {
        metrics?.budgetExhausted.inc({ store: pool.store });
        break;
      }
      metrics?.retries.inc({ store: pool.store, reason: verdict.reason });
      await sleep(backoffMs(n, { baseMs: opts.backoffBaseMs, maxMs: opts.backoffMaxMs }, pool.random));
      if (ctx.res.destroyed) break; // the client left while we waited
      backend = pool.pick(tried);
    }
    return last;
  };
}

/** A bodiless safe request: any failure before the client saw a byte can be retried. */
function mayRepeat(ctx: RequestContext): boolean {
  const method = (ctx.upstream?.method ?? ctx.req.method ?? 'GET').toUpperCase();
  return ctx.upstream?.body === undefined && SAFE_METHODS.has(method);
}

/**
 * What retry.ts needs to know. The upstream body is the client's stream and cannot be replayed:
 * a request with a body is safe to repeat only while not one byte of it was read.
 */
function requestFacts(ctx: RequestContext) {
  const body = ctx.upstream?.body;
  return {
    method: ctx.upstream?.method ?? ctx.req.method ?? 'GET',
    bodyReplayable: body === undefined,
    bodySent: body !== undefined && (ctx.bytesIn > 0 || body.readableDidRead || body.destroyed),
    responseStarted: ctx.res.headersSent,
  };
}
