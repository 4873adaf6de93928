/**
 * The two decisions whose enforcement needs bytes (see proxy/policy/index.ts):
 * - DeleteObjects (its keys) and RestoreObject (whether it writes elsewhere) carry what the
 *   policy must see in the body (`bodyCheck`). After 100 Continue the (small, bounded) body is
 *   read whole, checked, and forwarded unchanged — with its Content-MD5/checksum intact. A body
 *   in aws-chunked framing with a checksum trailer arrives decoded, not re-framed (handler.ts):
 *   it is forwarded as a plain body with the trailer's checksum as a header (withPlainBody).
 * - ListBuckets: the 200 response is buffered (bounded) and filtered to the granted buckets.
 */
import { Readable } from 'node:stream';
import { Errors, ProxyError } from '../errors.ts';
import { deny } from '../policy/engine.ts';
import { filterListBucketsXml, MAX_LIST_BUCKETS_BYTES } from '../policy/list-buckets.ts';
import { AwsChunkedDecoder } from '../sigv4/chunked.ts';
import { withPlainBody } from './upstream.ts';
import { denialError } from './authorize.ts';
import type { RequestContext } from './context.ts';

/** A body longer than the bound: the check's own refusal (`tooLarge`). */
class BodyTooLarge extends Error {}

/**
 * Reads `body` whole, failing with {@link BodyTooLarge} past `maxBytes`. The body is then left paused, not destroyed: it may be the client request itself,
 * and destroying it would close the socket before the error could be answered (respond.ts closes
 * the connection after answering a request it did not read to the end).
 */
function readAll(body: Readable, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        stop();
        body.pause();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      stop();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      stop();
      reject(err);
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
  });
}

/**
 * Reads a checked body (DeleteObjects, RestoreObject) whole (at most `maxBytes`). A client that sends nothing for
 * `idleMs` (timeouts.clientIdleMs; 0 = never) fails it with RequestTimeout, as an upload does in
 * the forward phase — this read comes before that phase and would otherwise wait for ever. The
 * request is left unread: the error answer closes the connection (respond.ts), which ends the
 * abandoned read too.
 */
function readBounded(ctx: RequestContext, body: Readable, maxBytes: number, idleMs: number): Promise<Buffer> {
  const read = readAll(body, maxBytes);
  if (idleMs <= 0) return read;
  const { req } = ctx;
  const socket = req.socket;
  return new Promise<Buffer>((resolve, reject) => {
    // On the request, not the socket: a socket timeout nobody handles on the request, response
    // or server makes Node's http server destroy the socket (no answer at all).
    const stopWatching = (): void => {
      req.off('timeout', onIdle);
      if (!socket.destroyed) socket.setTimeout(0);
    };
    const onIdle = (): void => {
      stopWatching();
      read.catch(() => undefined); // settles when the connection closes; nobody waits for it
      ctx.outcome = 'timeout';
      reject(new ProxyError(Errors.RequestTimeout, 'The client stopped sending the request body.'));
    };
    socket.setTimeout(idleMs);
    req.on('timeout', onIdle);
    read.then(
      (buf) => {
        stopWatching();
        resolve(buf);
      },
      (err: Error) => {
        stopWatching();
        reject(err);
      },
    );
  });
}

/** Sets `name` (lower-case) in flat [name, value, …] headers, replacing any value it had. */
function setHeader(headers: string[], name: string, value: string): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (headers[i]!.toLowerCase() === name) headers.splice(i, 2);
  }
  headers.push(name, value);
}

/** True when flat response headers carry a Content-Encoding other than identity. */
function isEncoded(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    if (
      headers[i]!.toLowerCase() === 'content-encoding' &&
      headers[i + 1]!.trim().toLowerCase() !== 'identity'
    )
      return true;
  }
  return false;
}

/** True when the decision has a follow-up below (most have none: no promise, no await then). */
export function hasPolicyFollowUps(ctx: RequestContext): boolean {
  const d = ctx.decision!;
  return Boolean(d.listBuckets) || Boolean(d.bodyCheck);
}

/**
 * Applies the decision's follow-ups to ctx. `sendContinue` is called before reading a body;
 * `clientIdleMs` bounds the wait for its bytes. Throws the policy's denial when the
 * checked body fails its check (a DeleteObjects key outside the grants, a SELECT restore).
 */
export async function applyPolicyFollowUps(
  ctx: RequestContext,
  sendContinue: () => void,
  clientIdleMs: number,
): Promise<void> {
  const d = ctx.decision!;
  if (d.listBuckets) {
    const allowed = d.listBuckets;
    // The body is filtered as text: asked for uncompressed (a client's Accept-Encoding: gzip
    // would have MinIO compress it), and refused if it comes compressed anyway.
    setHeader(ctx.upstream!.headers, 'accept-encoding', 'identity');
    ctx.responseTransform = {
      maxBytes: MAX_LIST_BUCKETS_BYTES,
      transform: (body, headers) => {
        if (isEncoded(headers)) return undefined;
        const filtered = filterListBucketsXml(body.toString('utf8'), allowed);
        return filtered === undefined ? undefined : Buffer.from(filtered);
      },
    };
  }
  if (d.bodyCheck) {
    const up = ctx.upstream!;
    const { maxBytes } = d.bodyCheck;
    sendContinue();
    let body: Buffer;
    try {
      body = up.body ? await readBounded(ctx, up.body, maxBytes, clientIdleMs) : Buffer.alloc(0);
    } catch (err) {
      if (!(err instanceof BodyTooLarge)) throw err;
      // The same refusal as a body whose Content-Length already said so (proxy/policy/engine.ts).
      const denial = deny(ctx.operation, d.bodyCheck.tooLarge, `body exceeds ${maxBytes} bytes`);
      ctx.policy = `deny:${denial.reason}`;
      throw denialError(denial);
    }
    // An aws-chunked body with trailers was decoded, not re-framed (handler.ts): its checksum
    // trailer goes on as a header.
    const trailers =
      up.body instanceof AwsChunkedDecoder && ctx.payload?.kind === 'chunked' && ctx.payload.trailer
        ? up.body.trailers
        : undefined;
    const verdict = d.bodyCheck.check(body);
    if (!verdict.allow) {
      ctx.policy = `deny:${verdict.reason}`;
      throw denialError(verdict);
    }
    if (trailers) {
      ctx.upstream = withPlainBody(up, body, trailers);
      return;
    }
    up.body = body.length > 0 ? Readable.from([body], { objectMode: false }) : undefined;
    up.releaseBody = false; // a buffer of ours now, not the client's chunks
  }
}
