/**
 * Runs the phases (context.ts PHASES) for each request. This file is the request path's table of
 * contents: every phase is one call below, in order.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { toProxyError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ProxyMetrics } from '../metrics.ts';
import type { Authorizer } from '../policy/index.ts';
import { routeAndForward } from './attempt.ts';
import type { AttemptDeps } from './attempt.ts';
import { authorizePhase } from './authorize.ts';
import { createContext, nextRequestId } from './context.ts';
import type { RequestContext } from './context.ts';
import { finishPhase } from './finish.ts';
import { parsePhase } from './parse.ts';
import { applyPolicyFollowUps, hasPolicyFollowUps } from './policy-followups.ts';
import { respondError } from './respond.ts';
import { buildUpstream } from './upstream.ts';

/** Everything the request path needs; built once by the server. */
export interface PipelineDeps extends AttemptDeps {
  virtualHostDomains: readonly string[];
  /** The current authorizer (swapped on policy reload). */
  authorizer(): Authorizer;
  metrics: ProxyMetrics;
  log: Logger;
  /** True when this response must carry `Connection: close` (draining, keep-alive bounds). */
  shouldClose(req: IncomingMessage): boolean;
}

/** A request listener for both 'request' and 'checkContinue' (expectContinue = true). */
export type ProxyRequestHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  expectContinue: boolean,
) => void;

async function run(ctx: RequestContext, deps: PipelineDeps): Promise<void> {
  try {
    parsePhase(ctx, deps.virtualHostDomains);
    authorizePhase(ctx, deps.authorizer());
    // (read cache lookup goes here: the request is parsed and allowed, nothing is read yet)
    ctx.phase = 'sign';
    // A body the policy checks (DeleteObjects, RestoreObject) is read whole: its aws-chunked
    // trailers are not re-framed.
    ctx.upstream = buildUpstream(
      ctx.req,
      ctx.target!,
      ctx.payload!,
      !ctx.decision?.bodyCheck,
      deps.stores.get(ctx.store!)?.provider,
    );
    // Everything is decided: let a client that waits on 100 Continue send its body.
    let continued = false;
    const sendContinue = (): void => {
      if (continued || !ctx.expectContinue || ctx.res.headersSent) return;
      continued = true;
      ctx.res.writeContinue();
    };
    if (hasPolicyFollowUps(ctx)) await applyPolicyFollowUps(ctx, sendContinue, deps.timeouts.clientIdleMs);
    const err = await routeAndForward(ctx, deps, sendContinue);
    if (err) respondError(ctx, err);
  } catch (err) {
    respondError(ctx, toProxyError(err));
  }
}

/** Builds the request handler over `deps`. */
export function createRequestHandler(deps: PipelineDeps): ProxyRequestHandler {
  return (req, res, expectContinue) => {
    deps.metrics.inFlightCount++;
    const ctx = createContext(nextRequestId(), req, res, expectContinue, deps.shouldClose(req));
    res.once('close', () => finishPhase(ctx, deps.metrics, deps.log));
    void run(ctx, deps);
  };
}
