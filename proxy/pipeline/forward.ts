/**
 * The forward phase: one attempt of one request on one backend, streaming both ways with
 * backpressure, via undici's low-level `dispatch` (no per-request Readable on the response side).
 *
 * - Request body: undici reads the body stream only as fast as the backend takes it; the client
 *   socket idles meanwhile (TCP backpressure). A client that stops sending for clientIdleMs
 *   fails the request (RequestTimeout) and the backend request is aborted.
 * - Response body: when the client's socket buffer is full we pause undici (which stops reading
 *   the backend socket); a client that does not drain for clientIdleMs loses its connection and
 *   the backend request is aborted, so a stalled client never pins a backend connection.
 * - Failure before response headers resolves with `responded: false` so the caller may retry
 *   (bodiless requests) or answer with an S3 error; failure after headers aborts the client
 *   connection — never a silently truncated 200.
 *
 * `forward(ctx, backend, attempt)` may be called again for another backend by a retry wrapper.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { AttemptOutcome, Backend } from '../balancer/types.ts';
import { Errors, ProxyError } from '../errors.ts';
import type { ProxyTimeouts } from '../config/types.ts';
import type { RequestContext } from './context.ts';
import { writeResponseHead } from './respond.ts';
import type { SignedAttempt } from './sign.ts';

/** Largest response held back while a retry is still possible (see ctx.holdForRetry). */
const HOLD_FOR_RETRY_BYTES = 64 * 1024;

/** How one attempt ended. */
export interface AttemptResult {
  outcome: AttemptOutcome;
  /** True once response headers went to the client: the request is over, no retry possible. */
  responded: boolean;
  /** Why it failed before responding (undefined when it responded). */
  error: ProxyError | undefined;
}

function classify(err: Error & { code?: string }): { failure: AttemptOutcome['failure']; error: ProxyError } {
  if (err instanceof ProxyError) return { failure: 'other', error: err };
  switch (err.code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return {
        failure: 'connect',
        error: new ProxyError(Errors.ServiceUnavailable, 'Connecting to the backend timed out.', {
          cause: err,
        }),
      };
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
      return {
        failure: 'connect',
        error: new ProxyError(Errors.ServiceUnavailable, undefined, { cause: err }),
      };
    case 'UND_ERR_HEADERS_TIMEOUT':
      return { failure: 'timeout', error: new ProxyError(Errors.BackendTimeout, undefined, { cause: err }) };
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return { failure: 'other', error: new ProxyError(Errors.IncompleteBody, undefined, { cause: err }) };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return {
        failure: 'reset',
        error: new ProxyError(Errors.ServiceUnavailable, 'The backend closed the connection.', {
          cause: err,
        }),
      };
    default:
      return { failure: 'other', error: new ProxyError(Errors.InternalError, undefined, { cause: err }) };
  }
}

/** Dispatches one signed attempt and streams the response to the client. Never rejects. */
export function forward(
  ctx: RequestContext,
  backend: Backend,
  signed: SignedAttempt,
  timeouts: ProxyTimeouts,
): Promise<AttemptResult> {
  ctx.phase = 'forward';
  const { req, res } = ctx;
  const up = ctx.upstream!;
  const started = performance.now();
  const sock = req.socket;
  return new Promise<AttemptResult>((resolve) => {
    const outcome: AttemptOutcome = {};
    let controller: Dispatcher.DispatchController | undefined;
    let stall: NodeJS.Timeout | undefined;
    let done = false;
    // Buffered response (ctx.responseTransform on a 200): head and body go out at the end.
    let held:
      | {
          status: number;
          message: string | undefined;
          headers: IncomingHttpHeaders;
          chunks: Buffer[];
          size: number;
        }
      | undefined;

    const finish = (result: AttemptResult): void => {
      if (done) return;
      done = true;
      if (stall) clearTimeout(stall);
      res.off('drain', onDrain);
      res.off('close', onClientClose);
      if (up.body && !req.complete && !sock.destroyed) sock.setTimeout(0);
      resolve(result);
    };
    const onDrain = (): void => {
      if (stall) clearTimeout(stall);
      stall = undefined;
      controller?.resume();
    };
    const onClientClose = (): void => {
      if (done || res.writableFinished) return;
      ctx.outcome = ctx.outcome === 'timeout' ? 'timeout' : 'client-aborted';
      controller?.abort(new Error('client connection closed'));
    };
    const onStall = (): void => {
      ctx.outcome = 'timeout';
      const err = new ProxyError(Errors.RequestTimeout, 'The client stopped reading the response.');
      controller?.abort(err);
      res.destroy(err);
    };
    res.on('drain', onDrain);
    res.on('close', onClientClose);
    if (up.body && timeouts.clientIdleMs > 0) {
      // Socket inactivity while the body uploads: the client stopped sending.
      sock.setTimeout(timeouts.clientIdleMs);
      req.on('timeout', () => {
        ctx.outcome = 'timeout';
        up.body!.destroy(
          new ProxyError(Errors.RequestTimeout, 'The client stopped sending the request body.'),
        );
      });
      req.once('end', () => sock.setTimeout(0));
    }

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (res.destroyed) c.abort(new Error('client connection closed'));
      },
      onBodySent(chunk: Buffer) {
        ctx.bytesIn += chunk.length;
      },
      onResponseStart(_c, statusCode, headers, statusMessage) {
        outcome.status = statusCode;
        outcome.headersMs = performance.now() - started;
        ctx.backendHeadersMs = outcome.headersMs;
        if (ctx.responseTransform && statusCode === 200) {
          held = { status: statusCode, message: statusMessage, headers, chunks: [], size: 0 };
          return;
        }
        // Balancer retries (proxy/balancer/runner.ts): while another attempt is possible, a 503 or a
        // small response is held until complete, so a failure inside it can still go elsewhere.
        if (
          ctx.holdForRetry &&
          (statusCode === 503 || Number(headers['content-length']) <= HOLD_FOR_RETRY_BYTES)
        ) {
          held = { status: statusCode, message: statusMessage, headers, chunks: [], size: 0 };
          return;
        }
        writeResponseHead(ctx, statusCode, statusMessage, headers);
      },
      onResponseData(c, chunk) {
        ctx.bytesOut += chunk.length;
        if (held) {
          held.size += chunk.length;
          held.chunks.push(chunk);
          if (held.size > (ctx.responseTransform?.maxBytes ?? HOLD_FOR_RETRY_BYTES)) {
            c.abort(new ProxyError(Errors.InternalError, 'The backend response is too large to filter.'));
          }
          return;
        }
        if (!res.write(chunk)) {
          c.pause();
          if (timeouts.clientIdleMs > 0 && !stall) stall = setTimeout(onStall, timeouts.clientIdleMs);
        }
      },
      onResponseEnd() {
        if (held && held.status === 503 && ctx.holdForRetry) {
          finish({
            outcome,
            responded: false,
            error: new ProxyError(Errors.ServiceUnavailable, 'The backend answered 503.'),
          });
          return;
        }
        if (held && !(ctx.responseTransform && held.status === 200)) {
          writeResponseHead(ctx, held.status, held.message, held.headers);
          res.end(Buffer.concat(held.chunks, held.size));
          finish({ outcome, responded: true, error: undefined });
          return;
        }
        if (held) {
          const body = ctx.responseTransform!.transform(Buffer.concat(held.chunks, held.size));
          held.headers['content-length'] = String(body.length);
          delete held.headers['content-md5'];
          writeResponseHead(ctx, held.status, held.message, held.headers);
          res.end(body);
          finish({ outcome, responded: true, error: undefined });
          return;
        }
        res.end();
        finish({ outcome, responded: true, error: undefined });
      },
      onResponseError(_c, err: Error & { code?: string }) {
        if (res.headersSent) {
          // Mid-body failure: abort the client connection so it cannot mistake a prefix for the object.
          if (ctx.outcome === 'ok') ctx.outcome = 'backend-aborted';
          outcome.failure = 'reset';
          res.destroy(err);
          finish({ outcome, responded: true, error: undefined });
          return;
        }
        const c = classify(err);
        if (ctx.outcome === 'timeout' && !(err instanceof ProxyError)) {
          c.error = new ProxyError(Errors.RequestTimeout, undefined, { cause: err });
        }
        outcome.failure = c.failure;
        finish({ outcome, responded: false, error: c.error });
      },
    };

    backend.dispatcher.dispatch(
      {
        origin: backend.origin,
        method: up.method,
        path: signed.path,
        headers: signed.headers,
        body: up.body ?? null,
        headersTimeout: timeouts.backendFirstByteMs,
        bodyTimeout: timeouts.backendIdleMs,
      },
      handler,
    );
  });
}
