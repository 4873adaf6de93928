/**
 * The parse phase: request target, client auth (classified for the log, then dropped) and
 * payload mode. Throws ProxyError on anything the proxy will not forward.
 */
import { Errors, ProxyError } from '../errors.ts';
import { parseTarget } from '../s3/target.ts';
import { clientAuthKind, stripPresignParams } from '../sigv4/client-auth.ts';
import { payloadMode } from '../sigv4/payload.ts';
import type { RequestContext } from './context.ts';
import { connectionNamedHeader } from './upstream.ts';

const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE']);
/** How Node's http server recognises `Expect: 100-continue` (lib/_http_server.js). */
const CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;

/** Fills ctx.target, ctx.clientAuth and ctx.payload. */
export function parsePhase(ctx: RequestContext, virtualHostDomains: readonly string[]): void {
  ctx.phase = 'parse';
  const { req } = ctx;
  if (!METHODS.has(req.method ?? ''))
    throw new ProxyError(Errors.NotImplemented, `Method ${req.method} is not supported.`);
  if (req.headers.host === undefined && req.httpVersion !== '1.0')
    throw new ProxyError(Errors.BadRequest, 'An HTTP/1.1 request must carry a Host header.');
  // Node's own rule for 100-continue (a list may hold it; HTTP/1.0 ignores Expect): the others
  // reach us through 'checkExpectation' (proxy/server.ts).
  const expect = req.headers.expect;
  if (expect !== undefined && req.httpVersion !== '1.0' && !CONTINUE.test(expect))
    throw new ProxyError(
      Errors.ExpectationFailed,
      `Expect: ${expect} is not supported; only 100-continue is.`,
    );
  const target = parseTarget(req.url ?? '/', req.headers.host, virtualHostDomains);
  ctx.clientAuth = clientAuthKind(req.headers.authorization, target.query);
  stripPresignParams(target.query);
  ctx.target = target;
  const sha = req.headers['x-amz-content-sha256'];
  ctx.payload = payloadMode(Array.isArray(sha) ? sha[0] : sha);
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && te.toLowerCase() !== 'chunked') {
    throw new ProxyError(Errors.NotImplemented, 'Only chunked Transfer-Encoding is supported.');
  }
  const named = connectionNamedHeader(req);
  if (named !== undefined) {
    throw new ProxyError(
      Errors.InvalidArgument,
      `Connection names header ${named}, which the proxy forwards.`,
    );
  }
}
