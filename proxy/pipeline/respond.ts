/**
 * The respond phase: backend response heads pass through untouched except for hop-by-hop headers;
 * the proxy's own errors are S3 XML documents. Every response carries an x-amz-request-id (the
 * backend's when it sent one, so store-side logs correlate; ours otherwise).
 */
import { HOP_BY_HOP, type ResponseHead } from '../http1/response-head.ts';
import { renderS3Error } from '../errors.ts';
import type { ProxyError } from '../errors.ts';
import type { RequestContext } from './context.ts';

/**
 * The backend's response header lines for the client, flat [name, value, …]: as received (the
 * names' case, repeated lines, the bytes of each value — latin1 in, latin1 out), minus hop-by-hop
 * headers, plus our x-amz-request-id when the backend sent none (ctx.backendRequestId otherwise).
 * A Content-Length beside a body framed otherwise (chunked, or to the close, which a backend
 * sending both means) is dropped too: Node would send it with the decoded body, whatever its
 * length, and the client would read the rest as the answer to its next request. So is one on a
 * 1xx or 204, which RFC 9110 §8.6 forbids. Repeated identical Content-Lengths (the parser
 * accepts `5` twice, or `5, 5`, and refuses differing ones) go out as one line, as §8.6 asks of
 * a recipient that accepts them: strict clients (undici, llhttp) refuse the repeat. Headers the
 * backend's Connection header names are hop-by-hop too.
 */
export function responseHeaders(ctx: RequestContext, head: ResponseHead): string[] {
  const raw = head.raw;
  let out: string[];
  const cl = head.contentLength;
  const dropLength =
    cl !== undefined &&
    (head.framing.kind === 'chunked' ||
      head.framing.kind === 'close' ||
      head.status < 200 ||
      head.status === 204);
  const foldLength = !dropLength && cl !== undefined && cl.includes(',') && sameLengths(cl);
  if (head.hasHopByHop || dropLength || foldLength) {
    const named = head.connectionNamed;
    out = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const lower = raw[i]!.toLowerCase();
      if (HOP_BY_HOP.has(lower) || ((dropLength || foldLength) && lower === 'content-length')) continue;
      if (named?.includes(lower)) continue;
      out.push(raw[i]!, raw[i + 1]!);
    }
    if (foldLength) out.push('content-length', cl.slice(0, cl.indexOf(',')).trim());
  } else {
    out = raw.slice();
  }
  if (head.requestId !== undefined) ctx.backendRequestId = head.requestId;
  else out.push('x-amz-request-id', ctx.id);
  return out;
}

/** `5, 5` (repeats joined): every part the same digits (the parser refused any other). */
function sameLengths(joined: string): boolean {
  const parts = joined.split(',').map((p) => p.trim());
  return /^\d+$/.test(parts[0]!) && parts.every((p) => p === parts[0]);
}

/** `headers` with Content-Length set to `length` and Content-MD5 dropped (a rewritten body). */
export function setContentLength(headers: readonly string[], length: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    if (name === 'content-length' || name === 'content-md5') continue;
    out.push(headers[i]!, headers[i + 1]!);
  }
  out.push('content-length', String(length));
  return out;
}

/** Writes the backend's status and headers (from {@link responseHeaders}) to the client. */
export function writeResponseHead(
  ctx: RequestContext,
  status: number,
  statusMessage: string | undefined,
  headers: string[],
): void {
  ctx.phase = 'respond';
  ctx.status = status;
  if (ctx.closeConnection) headers.push('connection', 'close');
  if (statusMessage) ctx.res.writeHead(status, statusMessage, headers);
  else ctx.res.writeHead(status, headers);
}

/**
 * Answers with the proxy's own S3 XML error. After headers went out there is nothing honest to
 * say, so the client connection is aborted instead (never a silently truncated 200). When the
 * request body was not read to its end the connection is closed: its remaining bytes cannot be
 * told apart from a next request.
 */
export function respondError(ctx: RequestContext, err: ProxyError): void {
  ctx.error = err;
  const { req, res } = ctx;
  if (res.headersSent || res.destroyed) {
    if (ctx.outcome === 'ok') ctx.outcome = 'error';
    res.destroy(err);
    return;
  }
  ctx.status = err.spec.status;
  if (ctx.outcome === 'ok') ctx.outcome = 'error';
  const resource = ctx.target?.bucket === undefined ? '/' : `/${ctx.target.bucket}/${ctx.target.key ?? ''}`;
  const body = req.method === 'HEAD' ? '' : renderS3Error(err, ctx.id, resource);
  const close = ctx.closeConnection || !req.complete;
  res.writeHead(err.spec.status, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    'x-amz-request-id': ctx.id,
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}
