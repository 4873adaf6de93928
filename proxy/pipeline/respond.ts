/**
 * The respond phase: backend response heads pass through untouched except for hop-by-hop headers;
 * the proxy's own errors are S3 XML documents. Every response carries an x-amz-request-id (the
 * backend's when it sent one, so store-side logs correlate; ours otherwise).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { renderS3Error } from '../errors.ts';
import type { ProxyError } from '../errors.ts';
import type { RequestContext } from './context.ts';

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-connection',
];

/** Writes the backend's status and headers to the client. */
export function writeResponseHead(
  ctx: RequestContext,
  status: number,
  statusMessage: string | undefined,
  headers: IncomingHttpHeaders,
): void {
  ctx.phase = 'respond';
  ctx.status = status;
  for (const h of HOP_BY_HOP) if (headers[h] !== undefined) delete headers[h];
  const rid = headers['x-amz-request-id'];
  if (typeof rid === 'string') ctx.backendRequestId = rid;
  else headers['x-amz-request-id'] = ctx.id;
  if (ctx.closeConnection) headers.connection = 'close';
  ctx.res.writeHead(status, statusMessage, headers);
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
