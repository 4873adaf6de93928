/**
 * route → sign → forward, as attempts on backends of the request's store. An
 * {@link AttemptRunner} decides how many attempts and on which backends; the default makes one.
 * The balancing helper supplies a runner that retries idempotent, bodiless requests on another
 * backend (the upstream body stream cannot be replayed) by calling `attempt` again.
 */
import type { Backend, BackendPool } from '../balancer/types.ts';
import type { ProxyTimeouts, StoreSpec } from '../config/types.ts';
import { Errors, ProxyError, toProxyError } from '../errors.ts';
import type { Signers } from '../credentials.ts';
import type { RequestContext } from './context.ts';
import { forward } from './forward.ts';
import type { AttemptResult } from './forward.ts';
import { signAttempt } from './sign.ts';

/** One attempt on `backend`: start → sign → forward → finish on the pool. Never rejects. */
export type Attempt = (backend: Backend) => Promise<AttemptResult>;

/**
 * Runs attempts for one request. Returns the last attempt's result, or undefined when the pool
 * had no backend at all.
 */
export type AttemptRunner = (
  ctx: RequestContext,
  pool: BackendPool,
  attempt: Attempt,
) => Promise<AttemptResult | undefined>;

/** The default runner: one attempt on the backend the pool picks. */
export const singleAttempt: AttemptRunner = async (_ctx, pool, attempt) => {
  const backend = pool.pick();
  return backend ? attempt(backend) : undefined;
};

/** What the attempt needs from the proxy. */
export interface AttemptDeps {
  pools: ReadonlyMap<string, BackendPool>;
  stores: ReadonlyMap<string, StoreSpec>;
  signers: Signers;
  timeouts: ProxyTimeouts;
  runner: AttemptRunner;
}

/**
 * route + sign + forward for ctx (ctx.upstream built, ctx.store decided). `beforeFirstByte` runs
 * once, right before the first dispatch (where 100 Continue is sent). Resolves with the error to
 * answer with, or undefined when a response went out.
 */
export async function routeAndForward(
  ctx: RequestContext,
  deps: AttemptDeps,
  beforeFirstByte: () => void,
): Promise<ProxyError | undefined> {
  ctx.phase = 'route';
  const store = deps.stores.get(ctx.store!);
  const pool = deps.pools.get(ctx.store!);
  if (!store || !pool) return new ProxyError(Errors.InternalError, `No pool for store ${ctx.store}.`);
  ctx.pool = pool;
  let first = true;
  const attempt: Attempt = async (backend) => {
    ctx.backend = backend;
    ctx.phase = 'sign';
    const signer = deps.signers.get(store.name);
    if (!signer)
      return { outcome: { failure: 'other' }, responded: false, error: new ProxyError(Errors.InternalError) };
    let signed;
    try {
      signed = signAttempt(
        ctx.upstream!,
        ctx.target!.bucket,
        store.addressing === 'virtual',
        backend,
        signer,
      );
    } catch (err) {
      return { outcome: { failure: 'other' }, responded: false, error: toProxyError(err) };
    }
    if (first) {
      first = false;
      beforeFirstByte();
    }
    pool.start(backend);
    const result = await forward(ctx, backend, signed, deps.timeouts);
    pool.finish(backend, result.outcome);
    return result;
  };
  const result = await deps.runner(ctx, pool, attempt);
  if (!result)
    return new ProxyError(Errors.ServiceUnavailable, 'No backend of this store can take the request.');
  if (result.responded) return undefined;
  // The last attempt's response was held for a retry that did not happen: it is the answer.
  if (result.sendHeld) {
    result.sendHeld();
    return undefined;
  }
  return result.error ?? new ProxyError(Errors.InternalError);
}
