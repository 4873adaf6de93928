/**
 * The contract between the forward phase and the backend HTTP/1.1 client (./pool.ts). Shaped
 * like undici's dispatch handler (same method names and order of calls) with one difference
 * that makes the client cheap: response data is *borrowed*. See {@link UpstreamHandler}.
 */
import type { Readable } from 'node:stream';
import type { BodyChunkLedger } from './release.ts';
import type { ResponseHead } from './response-head.ts';

export interface UpstreamRequestOptions {
  method: string;
  /** Path with query, as sent. */
  path: string;
  /** Flat [name, value, …], including host; latin1 strings. */
  headers: readonly string[];
  /**
   * Request body; sent with Content-Length when the headers have one, else chunked. It stays the
   * caller's: the exchange reads it (pausing it for backpressure) and, when it ends early or
   * fails, stops reading it — it never destroys it, so it may be the client's own request.
   */
  body: Readable | null;
  /**
   * Free the body's memory as the socket writes it (./release.ts): `true` when every chunk is a
   * fresh buffer that nothing else holds (the client request's own: Node's HTTP server copies
   * each request-body segment); a {@link BodyChunkLedger} when the chunks are views its producer
   * counted there (the aws-chunked decoder's views of the client's chunks). Without it, V8 frees
   * them only when a GC runs, and 64 uploads kept well over 100 MB of written-out chunks alive.
   */
  releaseBodyChunks?: boolean | BodyChunkLedger;
  /** Milliseconds from the request's last byte to a complete response head (0 = none). */
  headersTimeout: number;
  /** Milliseconds the response body (or the backend's reading of ours) may stall (0 = none). */
  bodyTimeout: number;
}

/** What the handler may do to its exchange. */
export interface UpstreamController {
  /** The response's header lines as received, flat [name, value, …] (set at response start). */
  readonly rawHeaders: readonly string[];
  /**
   * Stops reading the backend socket. Data of the current read that is not yet delivered is
   * still delivered; the next read waits for {@link resume}.
   */
  pause(): void;
  resume(): void;
  /** Ends the exchange: the connection is destroyed and onResponseError gets `reason`. */
  abort(reason: Error): void;
}

/**
 * Callbacks of one exchange, in order: onRequestStart, onBodySent*, onRequestSent,
 * onResponseStart, onResponseData*, then onResponseEnd or onResponseError (exactly one of the
 * two, also when the exchange fails before it started).
 *
 * **Borrowed data**: a chunk passed to onResponseData is a view of the connection's read buffer,
 * which the next socket read overwrites and which is freed (detached) once the connection is
 * gone. It stays valid until the call returns — or, if the handler called pause(), until it
 * calls resume(). A handler that keeps bytes longer (or cannot tell when a write it started is
 * done) must copy them. A connection whose exchange ended while paused is reused only after
 * resume().
 */
export interface UpstreamHandler {
  onRequestStart?(controller: UpstreamController): void;
  onBodySent?(chunk: Buffer): void;
  onRequestSent?(): void;
  /** `head` is the parsed head (its `headers` record is built on first use; `raw` is as sent). */
  onResponseStart(
    controller: UpstreamController,
    statusCode: number,
    head: ResponseHead,
    statusMessage: string,
  ): void;
  onResponseData(controller: UpstreamController, chunk: Buffer): void;
  onResponseEnd(controller: UpstreamController): void;
  onResponseError(controller: UpstreamController, error: Error): void;
}

/** One backend's connection pool, as the balancer and the forward phase use it. */
export interface UpstreamDispatcher {
  /**
   * Queues or starts one exchange. The returned controller (the one the handler's callbacks
   * get) works at once: abort() while the exchange still waits for a connection fails it
   * (onResponseError) and it never starts, so no connection is spent on it.
   */
  dispatch(options: UpstreamRequestOptions, handler: UpstreamHandler): UpstreamController;
  /** No new exchanges; resolves once the running and queued ones are done, idle sockets closed. */
  close(): Promise<void>;
  /** Fails queued and running exchanges and closes every socket now. */
  destroy(): Promise<void>;
  readonly closed: boolean;
  /** Exchanges sent once more after their kept-alive connection was lost before any answer. */
  readonly replays: number;
}
