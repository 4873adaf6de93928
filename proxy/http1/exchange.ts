/**
 * One request/response exchange on one backend connection: writes the request (head, then the
 * body with backpressure), parses the response head and hands the body out by its framing. It
 * is also the handler's {@link UpstreamController}.
 *
 * Timeouts without a timer per read: the response-idle timer fires once per `bodyTimeout` and
 * re-arms for the time left since the last read (undici's approach is a timer refresh per read).
 */
import type { Readable } from 'node:stream';
import { ChunkedDecoder } from './chunked.ts';
import type { UpstreamConnection } from './connection.ts';
import { UpstreamError } from './errors.ts';
import { freeWholeBuffer } from './release.ts';
import { parseResponseHead, type ResponseHead } from './response-head.ts';
import type { UpstreamController, UpstreamHandler, UpstreamRequestOptions } from './types.ts';

/** Largest response head accepted (MinIO's are < 1 KiB; S3's < 2 KiB). */
export const MAX_HEAD_BYTES = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';
// CR, LF or NUL in a header name or value would split or end the head: never sent.
const UNSAFE = /[\r\n\0]/;
const NO_HEADERS: readonly string[] = [];
// Methods a request may be sent twice with (Go's isReplayable): the safe ones. Not POST (an S3
// CreateMultipartUpload has no body) nor DELETE (a versioned bucket would get two delete markers).
const REPLAYABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export class Exchange implements UpstreamController {
  readonly options: UpstreamRequestOptions;
  private readonly handler: UpstreamHandler;
  private conn: UpstreamConnection | undefined = undefined;
  rawHeaders: readonly string[] = NO_HEADERS;
  /** Set once onResponseEnd or onResponseError was called. */
  done = false;
  paused = false;
  /** The request's last byte was written. */
  requestSent = false;
  private head: ResponseHead | undefined = undefined;
  /**
   * A response head that came in pieces: its bytes so far, `partialHeadLength` of them, in a
   * buffer grown by doubling (a copy per read of the whole head so far made a backend that
   * sends its head a byte at a time cost a quadratic ~2 GB of copying up to the head limit).
   */
  private partialHead: Buffer | undefined = undefined;
  private partialHeadLength = 0;
  private remaining = 0;
  private chunked: ChunkedDecoder | undefined = undefined;
  private lastRead = 0;
  private headersTimer: NodeJS.Timeout | undefined = undefined;
  private idleTimer: NodeJS.Timeout | undefined = undefined;
  private uploadTimer: NodeJS.Timeout | undefined = undefined;
  // Request body state.
  private body: Readable | null = null;
  private chunkedUpload = false;
  private declaredLength = -1;
  private sentBytes = 0;
  private corked = false;
  /** Started on a connection that had carried an exchange before (see replayable()). */
  private onReusedConnection = false;
  private replayed = false;

  constructor(options: UpstreamRequestOptions, handler: UpstreamHandler) {
    this.options = options;
    this.handler = handler;
  }

  // --- the controller ---

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.conn?.pauseFor(this);
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.lastRead = performance.now();
    this.conn?.resumeFor(this);
  }

  abort(reason: Error): void {
    // Over, but paused: its handler still had a view of the read buffer out in a client write
    // that will never flush (the client went away; Node drops a queued pipelined response's
    // writes without calling back). The connection waits for a resume that will not come, so
    // it is given up instead of being held out of the pool for good.
    if (this.done && this.paused) this.conn?.abandon(this);
    this.fail(reason);
  }

  // --- driven by the connection ---

  /**
   * Starts the exchange on a connected socket: the handler's start, then the request. `reused`:
   * the connection carried an exchange before. A replayed exchange starts again (its handler's
   * onRequestStart and onRequestSent are called again).
   */
  start(conn: UpstreamConnection, reused: boolean): void {
    if (this.headersTimer) clearTimeout(this.headersTimer); // the wait in the queue, if any
    this.headersTimer = undefined;
    this.conn = conn;
    this.onReusedConnection = reused;
    this.handler.onRequestStart?.(this);
    if (this.done) return;
    const { method, path, headers, body } = this.options;
    let head = `${method} ${path} HTTP/1.1\r\n`;
    let hasLength = false;
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i]!;
      const value = headers[i + 1]!;
      if (UNSAFE.test(name) || UNSAFE.test(value)) {
        this.fail(
          new UpstreamError('PROTOCOL', `Refusing to send header ${JSON.stringify(name)}: CR, LF or NUL.`),
        );
        return;
      }
      if (name.length === 14 && name.toLowerCase() === 'content-length') {
        hasLength = true;
        this.declaredLength = Number(value);
      }
      head += `${name}: ${value}\r\n`;
    }
    const socket = conn.socket;
    if (body === null) {
      socket.write(`${head}\r\n`, 'latin1');
      this.requestWritten();
      return;
    }
    // The body may have failed while this exchange waited for a connection (an aws-chunked
    // decoder refusing its first chunk): a destroyed stream emits nothing more, so ask it.
    if (body.destroyed) {
      const cause = body.errored ?? undefined;
      this.fail(new UpstreamError('REQUEST_BODY', 'The request body ended early.', { cause }));
      return;
    }
    if (!hasLength) {
      head += 'transfer-encoding: chunked\r\n';
      this.chunkedUpload = true;
    }
    // Head and first body bytes in one segment: uncorked at the first chunk or the end.
    socket.cork();
    this.corked = true;
    socket.write(`${head}\r\n`, 'latin1');
    this.body = body;
    body.on('data', this.onBodyData);
    body.on('end', this.onBodyEnd);
    body.on('error', this.onBodyError);
    body.on('close', this.onBodyClose);
    body.resume(); // 'data' alone does not restart a body an earlier attempt paused
  }

  private readonly onBodyData = (chunk: Buffer): void => {
    const socket = this.conn!.socket;
    this.sentBytes += chunk.length;
    if (this.declaredLength >= 0 && this.sentBytes > this.declaredLength) {
      this.fail(
        new UpstreamError('CONTENT_LENGTH_MISMATCH', 'The request body is longer than its Content-Length.'),
      );
      return;
    }
    let ok: boolean;
    const release = this.options.releaseBodyChunks;
    // Called once the socket no longer needs the bytes: written, or the write failed.
    const written =
      release === true ? () => freeWholeBuffer(chunk) : release ? () => release.written(chunk) : undefined;
    if (this.chunkedUpload) {
      if (!this.corked) socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk, written);
      ok = socket.write(CRLF, 'latin1');
      socket.uncork();
    } else {
      ok = socket.write(chunk, written);
      if (this.corked) socket.uncork();
    }
    this.corked = false;
    this.handler.onBodySent?.(chunk);
    if (!ok && !this.done) {
      this.body!.pause();
      socket.once('drain', this.onSocketDrain);
      if (this.options.bodyTimeout > 0) {
        this.uploadTimer = setTimeout(this.onUploadStall, this.options.bodyTimeout);
      }
    }
  };

  private readonly onSocketDrain = (): void => {
    if (this.uploadTimer) clearTimeout(this.uploadTimer);
    this.uploadTimer = undefined;
    if (!this.done && this.body) this.body.resume();
  };

  private readonly onUploadStall = (): void => {
    this.fail(new UpstreamError('BODY_TIMEOUT', 'The backend stopped reading the request body.'));
  };

  private readonly onBodyEnd = (): void => {
    if (this.declaredLength >= 0 && this.sentBytes !== this.declaredLength) {
      this.fail(
        new UpstreamError('CONTENT_LENGTH_MISMATCH', 'The request body is shorter than its Content-Length.'),
      );
      return;
    }
    const socket = this.conn!.socket;
    if (this.chunkedUpload) socket.write(LAST_CHUNK, 'latin1');
    if (this.corked) socket.uncork();
    this.corked = false;
    this.detachBody();
    this.requestWritten();
  };

  private readonly onBodyError = (err: Error): void => {
    this.fail(new UpstreamError('REQUEST_BODY', 'The request body failed.', { cause: err }));
  };

  private readonly onBodyClose = (): void => {
    // 'close' before 'end': the body was destroyed without an error (e.g. the client went away).
    if (!this.requestSent && !this.done) {
      this.fail(new UpstreamError('REQUEST_BODY', 'The request body ended early.'));
    }
  };

  private detachBody(): void {
    const body = this.body;
    if (!body) return;
    this.body = null;
    // Paused, so what arrives next waits for whoever reads it next (a retry) instead of being
    // emitted to no listener and lost.
    body.pause();
    body.off('data', this.onBodyData);
    body.off('end', this.onBodyEnd);
    body.off('error', this.onBodyError);
    body.off('close', this.onBodyClose);
    this.conn?.socket.off('drain', this.onSocketDrain);
    if (this.uploadTimer) clearTimeout(this.uploadTimer);
    this.uploadTimer = undefined;
  }

  private requestWritten(): void {
    this.requestSent = true;
    this.handler.onRequestSent?.();
    if (this.done || this.head) return;
    if (this.options.headersTimeout > 0) {
      this.headersTimer = setTimeout(this.onHeadersTimeout, this.options.headersTimeout);
    }
  }

  /**
   * Waits for a connection: the pool is at its limit. Bounded by the first-byte timeout (the
   * headers timer, which the start replaces), so a request does not wait without end behind
   * long transfers; it fails as a connect failure would, and may be retried elsewhere.
   */
  queued(): void {
    const ms = this.options.headersTimeout;
    if (ms > 0 && this.headersTimer === undefined) this.headersTimer = setTimeout(this.onQueueTimeout, ms);
  }

  private readonly onQueueTimeout = (): void => {
    this.headersTimer = undefined;
    this.fail(new UpstreamError('QUEUE_TIMEOUT', 'No connection to the backend came free in time.'));
  };

  private readonly onHeadersTimeout = (): void => {
    this.fail(new UpstreamError('HEADERS_TIMEOUT', 'The backend sent no response head in time.'));
  };

  private readonly onIdleTimer = (): void => {
    this.idleTimer = undefined;
    if (this.done) return;
    const timeout = this.options.bodyTimeout;
    const idle = this.paused ? 0 : performance.now() - this.lastRead;
    if (idle >= timeout) {
      this.fail(new UpstreamError('BODY_TIMEOUT', 'The backend stopped sending the response body.'));
      return;
    }
    this.idleTimer = setTimeout(this.onIdleTimer, timeout - idle);
  };

  /**
   * Bytes `buf[0, n)` from the socket. Returns false to stop reading (paused, or done and the
   * connection must not read on). Throws nothing: failures end the exchange.
   */
  onBytes(buf: Buffer, n: number): boolean {
    this.lastRead = performance.now();
    let i = 0;
    try {
      while (this.head === undefined) {
        i = this.readHead(buf, i, n);
        if (i < 0) return true;
        if (this.done) return false;
      }
      if (i < n) this.readBody(buf, i, n);
    } catch (err) {
      this.fail(err as Error);
      return false;
    }
    return !this.paused && !this.done;
  }

  /** Parses a response head from `buf[i, n)`; index after it, or -1 when more is needed. */
  private readHead(buf: Buffer, i: number, n: number): number {
    let data: Buffer;
    let base: number;
    let from: number;
    if (this.partialHead === undefined) {
      data = buf.subarray(i, n);
      base = i;
      from = 0;
    } else {
      const carried = this.partialHeadLength;
      const length = carried + (n - i);
      if (length > this.partialHead.length) {
        const grown = Buffer.allocUnsafe(Math.max(length, 2 * this.partialHead.length));
        this.partialHead.copy(grown, 0, 0, carried);
        this.partialHead = grown;
      }
      buf.copy(this.partialHead, carried, i, n);
      this.partialHeadLength = length;
      data = this.partialHead.subarray(0, length);
      base = i - carried;
      from = Math.max(0, carried - 3);
    }
    const end = data.indexOf(HEAD_END, from);
    if (end < 0) {
      if (data.length > MAX_HEAD_BYTES)
        throw new UpstreamError('HEADERS_OVERFLOW', 'The backend response head is too large.');
      // The first piece is a view of the connection's read buffer: copied out.
      if (this.partialHead === undefined) {
        this.partialHead = Buffer.allocUnsafe(Math.max(1024, 2 * data.length));
        data.copy(this.partialHead);
        this.partialHeadLength = data.length;
      }
      return -1;
    }
    if (end > MAX_HEAD_BYTES)
      throw new UpstreamError('HEADERS_OVERFLOW', 'The backend response head is too large.');
    this.partialHead = undefined;
    this.partialHeadLength = 0;
    const head = parseResponseHead(data.toString('latin1', 0, end), this.options.method);
    const next = base + end + 4;
    if (head.status < 200) {
      if (head.status === 101) throw new UpstreamError('PROTOCOL', 'The backend switched protocols unasked.');
      return next; // 100 Continue, 102, 103: interim, the real head follows.
    }
    this.onHead(head, next < n);
    return next;
  }

  /** `more`: bytes follow the head in this read (after a bodiless response: out of step). */
  private onHead(head: ResponseHead, more: boolean): void {
    this.head = head;
    if (this.headersTimer) clearTimeout(this.headersTimer);
    this.headersTimer = undefined;
    this.rawHeaders = head.raw;
    if (this.options.bodyTimeout > 0 && head.framing.kind !== 'none') {
      this.idleTimer = setTimeout(this.onIdleTimer, this.options.bodyTimeout);
    }
    this.handler.onResponseStart(this, head.status, head, head.statusMessage);
    if (this.done) return;
    switch (head.framing.kind) {
      case 'none':
        this.complete(more);
        break;
      case 'length':
        this.remaining = head.framing.length;
        if (this.remaining === 0) this.complete(more);
        break;
      case 'chunked':
        this.chunked = new ChunkedDecoder();
        break;
      case 'close':
        break;
    }
  }

  private readBody(buf: Buffer, i: number, n: number): void {
    const head = this.head!;
    if (this.done) {
      // Bytes after a complete response: HTTP/1.1 without pipelining allows none.
      this.conn?.forbidReuse();
      return;
    }
    switch (head.framing.kind) {
      case 'length': {
        const take = Math.min(this.remaining, n - i);
        this.remaining -= take;
        this.handler.onResponseData(this, buf.subarray(i, i + take));
        if (this.done) return;
        if (this.remaining === 0) this.complete(i + take < n);
        return;
      }
      case 'chunked': {
        const end = this.chunked!.decode(buf, i, n, this.onDecoded);
        if (end >= 0 && !this.done) this.complete(end < n);
        return;
      }
      case 'close':
        this.handler.onResponseData(this, buf.subarray(i, n));
        return;
      case 'none':
        this.conn?.forbidReuse();
        return;
    }
  }

  private readonly onDecoded = (chunk: Buffer): void => {
    if (!this.done) this.handler.onResponseData(this, chunk);
  };

  /** The backend ended its side: the end of a close-delimited body, otherwise a failure. */
  onSocketEnd(): void {
    if (this.done) return;
    if (this.head?.framing.kind === 'close') this.complete(false);
    else this.fail(new UpstreamError('SOCKET_CLOSED', 'The backend closed the connection.'));
  }

  private complete(trailingBytes: boolean): void {
    if (this.done) return;
    this.done = true;
    this.clearTimers();
    const conn = this.conn!;
    // An early answer (e.g. 403 to a PUT) ends the exchange: the rest of the body is not sent
    // (nor read: it stays the caller's, whose connection cannot carry another request).
    const requestDone = this.requestSent;
    if (!requestDone) this.detachBody();
    const reusable = this.head!.keepAlive && requestDone && !trailingBytes;
    conn.keepAliveHintMs = this.head!.keepAliveTimeoutMs;
    try {
      this.handler.onResponseEnd(this);
    } catch (err) {
      // The exchange is over either way: the connection must not stay assigned to it.
      conn.exchangeEnded(this, false);
      throw err;
    }
    conn.exchangeEnded(this, reusable);
  }

  /**
   * True when the loss of its connection may be answered by sending the request again on a new
   * one, as Go's http.Transport does: the connection had carried a request before (a backend
   * closing a kept-alive connection races the next request on it), the request is safe to send
   * twice (the backend may have got the first) and has no body, no response byte arrived, and it
   * was not replayed already.
   */
  replayable(): boolean {
    return (
      this.onReusedConnection &&
      !this.replayed &&
      !this.done &&
      this.options.body === null &&
      REPLAYABLE_METHODS.has(this.options.method) &&
      this.head === undefined &&
      this.partialHead === undefined
    );
  }

  /** Leaves the lost connection for a replay: timers cleared, the handler not told. */
  detachForReplay(): void {
    this.replayed = true;
    this.clearTimers();
    this.conn = undefined;
    this.requestSent = false;
  }

  /** Ends the exchange with `err` (once); the connection is not reused. */
  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.clearTimers();
    // Stop reading the body; it is the caller's to end (UpstreamRequestOptions.body).
    this.detachBody();
    // A head still corked (waiting for the first body byte) is dropped with the connection,
    // not sent: with `content-length: 0` it would be a complete request.
    this.corked = false;
    this.conn?.exchangeEnded(this, false);
    this.handler.onResponseError(this, err);
  }

  private clearTimers(): void {
    if (this.headersTimer) clearTimeout(this.headersTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.headersTimer = undefined;
    this.idleTimer = undefined;
  }
}
