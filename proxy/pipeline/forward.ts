/**
 * The forward phase: one attempt of one request on one backend, streaming both ways with
 * backpressure, via the backend's HTTP/1.1 pool (proxy/http1/; no per-request Readable on the
 * response side).
 *
 * - Request body: the backend client reads the body stream only as fast as the backend takes
 *   it; the client socket idles meanwhile (TCP backpressure). A client that stops sending for
 *   clientIdleMs fails the request (RequestTimeout) and the backend request is aborted; when
 *   the client was idle only because the backend stopped taking the body, the backend is the
 *   one that timed out (ServiceUnavailable, counted against it).
 * - Response body: when the client's socket buffer is full we pause the exchange (which stops
 *   reading the backend socket); a client that does not drain for clientIdleMs loses its
 *   connection and the backend request is aborted, so a stalled client never pins a backend
 *   connection.
 * - Failure before response headers resolves with `responded: false` so the caller may retry
 *   (bodiless requests) or answer with an S3 error; failure after headers aborts the client
 *   connection — never a silently truncated 200.
 *
 * One {@link ForwardAttempt} object is the backend client's handler for the attempt: its methods
 * live on the prototype, so an attempt allocates that object, its promise and one 'close'
 * listener, and the drain/stall listeners only when the client actually pushes back.
 *
 * `forward(ctx, backend, attempt)` may be called again for another backend by a retry wrapper.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AttemptOutcome, Backend } from '../balancer/types.ts';
import { UpstreamError } from '../http1/errors.ts';
import type { ResponseHead } from '../http1/response-head.ts';
import type { UpstreamController, UpstreamHandler } from '../http1/types.ts';
import { Errors, ProxyError } from '../errors.ts';
import type { ProxyTimeouts } from '../config/types.ts';
import type { RequestContext, UpstreamRequest } from './context.ts';
import { responseHeaders, setContentLength, writeResponseHead } from './respond.ts';
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
  /**
   * A backend's 503 held back for a retry (ctx.holdForRetry): sends it to the client as the
   * backend wrote it. The caller runs it when no other attempt answers instead — the store's own
   * error (SlowDown, its request id, Retry-After) passes through untouched.
   */
  sendHeld?: () => void;
}

/** How a backend failure counts for retries and what the client is told (exported for tests). */
export function classify(err: Error & { code?: string; syscall?: string }): {
  failure: AttemptOutcome['failure'];
  error: ProxyError;
} {
  if (err instanceof ProxyError) return { failure: 'other', error: err };
  // An unreachable host or network is a connect failure only while connecting: on a connection
  // already up, the request may have reached the backend, and only a safe method may be retried.
  if ((err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH') && err.syscall !== 'connect') {
    return {
      failure: 'reset',
      error: new ProxyError(Errors.ServiceUnavailable, 'The backend became unreachable.', { cause: err }),
    };
  }
  switch (err.code) {
    case 'CONNECT_TIMEOUT':
      return {
        failure: 'connect',
        error: new ProxyError(Errors.ServiceUnavailable, 'Connecting to the backend timed out.', {
          cause: err,
        }),
      };
    case 'QUEUE_TIMEOUT':
      // Nothing was sent: retried like a refused connection, not held against the backend.
      return {
        failure: 'queued',
        error: new ProxyError(Errors.ServiceUnavailable, 'No connection to the backend came free in time.', {
          cause: err,
        }),
      };
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return {
        failure: 'connect',
        error: new ProxyError(Errors.ServiceUnavailable, undefined, { cause: err }),
      };
    case 'HEADERS_TIMEOUT':
    case 'BODY_TIMEOUT':
      return { failure: 'timeout', error: new ProxyError(Errors.BackendTimeout, undefined, { cause: err }) };
    case 'REQUEST_BODY': {
      // The client's side failed (aborted, stalled, bad aws-chunked framing): not the backend.
      const cause = err.cause;
      return {
        failure: 'client',
        error:
          cause instanceof ProxyError ? cause : new ProxyError(Errors.IncompleteBody, undefined, { cause }),
      };
    }
    case 'CONTENT_LENGTH_MISMATCH':
      return { failure: 'other', error: new ProxyError(Errors.IncompleteBody, undefined, { cause: err }) };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'SOCKET_CLOSED':
    case 'POOL_CLOSED':
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

/** A response held back until complete (ctx.responseTransform on a 200, or ctx.holdForRetry). */
interface Held {
  status: number;
  message: string | undefined;
  headers: string[];
  chunks: Buffer[];
  size: number;
}

function heldBody(h: Held): Buffer {
  return h.chunks.length === 1 ? h.chunks[0]! : Buffer.concat(h.chunks, h.size);
}

/**
 * The pool's handler for one attempt; see the module doc. Response chunks are borrowed
 * (proxy/http1/types.ts): a chunk held for a retry or a transform is copied; a chunk written to
 * the client is referenced by the pending socket write until flushed, so while any write is
 * pending the backend is paused, and resumed from the write callbacks.
 */
class ForwardAttempt implements UpstreamHandler {
  private readonly ctx: RequestContext;
  private readonly req: IncomingMessage;
  private readonly res: ServerResponse;
  private readonly up: UpstreamRequest;
  private readonly timeouts: ProxyTimeouts;
  private readonly resolve: (r: AttemptResult) => void;
  /** When the request went out on a connection (reset then: a wait in the queue is not the node's). */
  private started = performance.now();
  /** The request reached a connection (onRequestStart), not merely queued for one. */
  private onConnection = false;
  private readonly outcome: AttemptOutcome = {};
  private controller: UpstreamController | undefined = undefined;
  /** Client writes not yet flushed to the kernel (each holds a view of the read buffer). */
  private unflushed = 0;
  private readonly onFlushed: () => void;
  private stall: NodeJS.Timeout | undefined = undefined;
  private readonly closeListener: () => void;
  private held: Held | undefined = undefined;
  private done = false;

  constructor(ctx: RequestContext, timeouts: ProxyTimeouts, resolve: (r: AttemptResult) => void) {
    this.ctx = ctx;
    this.req = ctx.req;
    this.res = ctx.res;
    this.up = ctx.upstream!;
    this.timeouts = timeouts;
    this.resolve = resolve;
    // Bound methods, not arrow functions assigned here. With the arrows, each request's objects
    // (this attempt, its context, Node's request and response) survived the next young-generation
    // GC although the request was long over, and were promoted: ~7 KB per 4 KiB GET into the old
    // generation, which then took mark-compacts. Bound, ~0.7 KB (bench/proxy/PERFORMANCE.md,
    // session 10, measured with --trace-gc-nvp; we did not find why V8 kept the arrows' targets).
    this.closeListener = this.onClientClose.bind(this);
    this.onFlushed = this.onWriteFlushed.bind(this);
    this.res.on('close', this.closeListener);
    // Only while the body is still coming from the client: a body read whole before (DeleteObjects)
    // has no upload to watch, and its 'end' is long past, so the timeout would never be reset.
    if (this.up.body && timeouts.clientIdleMs > 0 && !this.req.complete) this.watchUpload();
  }

  /** Socket inactivity while the body uploads: the client stopped sending. */
  private watchUpload(): void {
    const { req, ctx } = this;
    req.socket.setTimeout(this.timeouts.clientIdleMs);
    req.on('timeout', () => {
      // We are not reading the client: the backend stopped taking the body (backpressure), or
      // the request still waits for a backend connection.
      if (req.readableFlowing !== true) {
        this.controller?.abort(
          this.onConnection
            ? new UpstreamError('BODY_TIMEOUT', 'The backend stopped reading the request body.')
            : // Still waiting for one of our connections: nothing was sent, not the node's fault.
              new UpstreamError('QUEUE_TIMEOUT', 'No connection to the backend came free in time.'),
        );
        return;
      }
      ctx.outcome = 'timeout';
      this.controller?.abort(
        new ProxyError(Errors.RequestTimeout, 'The client stopped sending the request body.'),
      );
    });
    req.once('end', () => req.socket.setTimeout(0));
  }

  private finish(responded: boolean, error: ProxyError | undefined, sendHeld?: () => void): void {
    if (this.done) return;
    this.done = true;
    // While a client write is pending, the connection stays paused (and borrowed) until it
    // flushes: the stall timer keeps running so a client that never reads cannot pin it.
    if (this.stall && this.unflushed === 0) clearTimeout(this.stall);
    // Likewise the close listener: a client gone with a write pending gives the connection up.
    if (this.unflushed === 0) this.res.off('close', this.closeListener);
    const sock = this.req.socket;
    if (this.up.body && !this.req.complete && !sock.destroyed) sock.setTimeout(0);
    this.resolve(
      sendHeld === undefined
        ? { outcome: this.outcome, responded, error }
        : { outcome: this.outcome, responded, error, sendHeld },
    );
  }

  /** A client write's callback: the kernel took the chunk (see onResponseData). */
  private onWriteFlushed(): void {
    if (--this.unflushed > 0) return;
    if (this.done) this.res.off('close', this.closeListener); // kept for this write (finish)
    this.onDrain();
  }

  private onClientClose(): void {
    if (this.done) {
      // Over, with a client write that will not flush now: the paused connection is given up
      // (Exchange.abort), or it would wait for a resume for good, out of the pool.
      if (this.unflushed > 0) this.controller?.abort(new Error('client connection closed'));
      return;
    }
    if (this.res.writableFinished) return;
    this.ctx.outcome = this.ctx.outcome === 'timeout' ? 'timeout' : 'client-aborted';
    this.controller?.abort(new Error('client connection closed'));
  }

  private onDrain(): void {
    if (this.stall) clearTimeout(this.stall);
    this.stall = undefined;
    this.controller?.resume();
  }

  private onStall(): void {
    const err = new ProxyError(Errors.RequestTimeout, 'The client stopped reading the response.');
    if (!this.done) this.ctx.outcome = 'timeout';
    // Even when the attempt is over: its connection waits, paused, for this write (Exchange.abort).
    this.controller?.abort(err);
    this.res.destroy(err);
  }

  /** The attempt's controller, from dispatch: it aborts the attempt even while it is queued. */
  attach(c: UpstreamController): void {
    this.controller = c;
  }

  onRequestStart(c: UpstreamController): void {
    this.controller = c;
    this.started = performance.now();
    this.onConnection = true;
    if (this.res.destroyed) c.abort(new Error('client connection closed'));
  }

  onBodySent(chunk: Buffer): void {
    this.ctx.bytesIn += chunk.length;
  }

  onRequestSent(): void {
    if (this.up.body) {
      this.outcome.uploadMs = performance.now() - this.started;
      this.outcome.requestBodyBytes = this.ctx.bytesIn;
    }
  }

  onResponseStart(
    c: UpstreamController,
    statusCode: number,
    head: ResponseHead,
    statusMessage: string,
  ): void {
    const { ctx, outcome } = this;
    outcome.status = statusCode;
    outcome.headersMs = performance.now() - this.started;
    ctx.backendHeadersMs = outcome.headersMs;
    // The backend's header lines as they came (names' case, repeats, bytes), minus hop-by-hop.
    const headers = responseHeaders(ctx, head);
    // The backend answered before the whole request body was read (e.g. 403 to a PUT): the
    // rest of it is not forwarded, so the client connection cannot carry another request.
    if (this.up.body && !this.req.complete) ctx.closeConnection = true;
    // Balancer retries (proxy/balancer/runner.ts): while another attempt is possible, a 503 or a
    // small response is held until complete, so a failure inside it can still go elsewhere.
    if (
      (ctx.responseTransform && statusCode === 200) ||
      (ctx.holdForRetry && (statusCode === 503 || Number(head.contentLength) <= HOLD_FOR_RETRY_BYTES))
    ) {
      this.held = { status: statusCode, message: statusMessage, headers, chunks: [], size: 0 };
      return;
    }
    writeResponseHead(ctx, statusCode, statusMessage, headers);
  }

  onResponseData(c: UpstreamController, chunk: Buffer): void {
    this.ctx.bytesOut += chunk.length;
    const held = this.held;
    if (held) {
      held.size += chunk.length;
      held.chunks.push(Buffer.from(chunk));
      if (held.size <= (this.ctx.responseTransform?.maxBytes ?? HOLD_FOR_RETRY_BYTES)) return;
      if (this.ctx.responseTransform && held.status === 200) {
        c.abort(new ProxyError(Errors.InternalError, 'The backend response is too large to filter.'));
        return;
      }
      // Held only for a retry, and too large to hold: it goes out as it is, streamed from here on
      // (the client sees the store's answer; no retry once its head is out).
      this.held = undefined;
      writeResponseHead(this.ctx, held.status, held.message, held.headers);
      for (let i = 0; i < held.chunks.length - 1; i++) this.res.write(held.chunks[i]!);
      // The last one through the path below, which pauses the backend while the client is full.
      chunk = held.chunks[held.chunks.length - 1]!;
    }
    this.unflushed++;
    this.res.write(chunk, this.onFlushed);
    // Node's http corks the socket until the next tick. Uncorked now, the chunk is in the kernel
    // when this returns unless the client's socket is full, and the read buffer it views is free
    // again: the backend connection reads on in this same wake-up, with no pause and resume
    // between its reads. (res.socket is null while an earlier pipelined response still writes.)
    this.res.socket?.uncork();
    // Not in the kernel yet: the chunk is the connection's read buffer, so no read until the
    // write's callback (onFlushed) resumes.
    if (this.res.writableLength > 0) {
      c.pause();
      if (this.timeouts.clientIdleMs > 0 && !this.stall)
        this.stall = setTimeout(() => this.onStall(), this.timeouts.clientIdleMs);
    }
  }

  onResponseEnd(): void {
    const { ctx, res, held } = this;
    if (held === undefined) {
      res.end();
    } else if (held.status === 503 && ctx.holdForRetry) {
      this.finish(false, new ProxyError(Errors.ServiceUnavailable, 'The backend answered 503.'), () => {
        if (ctx.res.destroyed || ctx.res.headersSent) return;
        writeResponseHead(ctx, held.status, held.message, held.headers);
        res.end(heldBody(held));
      });
      return;
    } else if (ctx.responseTransform && held.status === 200) {
      const body = ctx.responseTransform.transform(heldBody(held), held.headers);
      if (body === undefined) {
        this.finish(
          false,
          new ProxyError(Errors.InternalError, 'The backend response could not be filtered.'),
        );
        return;
      }
      const headers = setContentLength(held.headers, body.length);
      writeResponseHead(ctx, held.status, held.message, headers);
      res.end(body);
    } else {
      writeResponseHead(ctx, held.status, held.message, held.headers);
      res.end(heldBody(held));
    }
    this.finish(true, undefined);
  }

  onResponseError(_c: UpstreamController, err: Error & { code?: string }): void {
    const { ctx, res } = this;
    if (res.headersSent) {
      // Mid-body failure: abort the client connection so it cannot mistake a prefix for the object.
      // The node's when the backend broke off; the client's when it hung up or stalled.
      if (ctx.outcome === 'ok') ctx.outcome = 'backend-aborted';
      this.outcome.failure = ctx.outcome === 'backend-aborted' ? 'reset' : 'client';
      res.destroy(err);
      this.finish(true, undefined);
      return;
    }
    const c = classify(err);
    if (ctx.outcome === 'timeout' && !(err instanceof ProxyError)) {
      c.error = new ProxyError(Errors.RequestTimeout, undefined, { cause: err });
    }
    // Ended from the client's side (it hung up or stalled: forward.ts set ctx.outcome): the
    // balancer must not hold it against the backend.
    if (ctx.outcome === 'client-aborted' || ctx.outcome === 'timeout') c.failure = 'client';
    this.outcome.failure = c.failure;
    this.finish(false, c.error);
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
  const up = ctx.upstream!;
  return new Promise<AttemptResult>((resolve) => {
    const attempt = new ForwardAttempt(ctx, timeouts, resolve);
    const controller = backend.dispatcher.dispatch(
      {
        method: up.method,
        path: signed.path,
        headers: signed.headers,
        body: up.body ?? null,
        releaseBodyChunks: up.releaseBody,
        headersTimeout: timeouts.backendFirstByteMs,
        bodyTimeout: timeouts.backendIdleMs,
      },
      attempt,
    );
    attempt.attach(controller);
  });
}
