/**
 * The proxy's logger (pino, JSON lines) and its access-log line. One line per request, written
 * when the response closes. It carries identifiers, sizes and durations — never credentials,
 * Authorization headers or query strings (presigned URLs carry signatures in the query).
 *
 * Cheap on the request path: stdout gets lines in batches — pino.destination buffers up to
 * {@link LOG_BATCH_BYTES} and writes asynchronously, a timer writes whatever waits every
 * {@link LOG_FLUSH_MS} (so a quiet sidecar's lines still show within that), pino flushes it when
 * the process exits and {@link flushLog} on shutdown. A write per line cost more than the rest of
 * the logging together. The timestamp reuses its formatted second instead of a Date per line.
 */
import pino from 'pino';
import type { DestinationStream, Logger } from 'pino';

export type { Logger } from 'pino';

let tsSecond = Number.NaN;
let tsPrefix = '';

/** pino timestamp: `,"time":"2026-01-02T03:04:05.678Z"`, as pino.stdTimeFunctions.isoTime. */
export function isoTimestamp(): string {
  const ms = Date.now();
  const s = Math.floor(ms / 1000);
  if (s !== tsSecond) {
    tsSecond = s;
    tsPrefix = `,"time":"${new Date(s * 1000).toISOString().slice(0, 20)}`;
  }
  const frac = ms - s * 1000;
  return `${tsPrefix}${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}Z"`;
}

/** Bytes of log lines gathered before a write to stdout. */
export const LOG_BATCH_BYTES = 8 * 1024;
/** Longest a log line waits for its batch, ms. */
export const LOG_FLUSH_MS = 250;

/** Creates the proxy logger. `dest` is for tests (default: stdout, batched, see the module doc). */
export function createLogger(level: string, dest?: DestinationStream): Logger {
  let stream = dest;
  if (!stream) {
    // Buffer mode: each line is encoded once and the batch is joined once, when written. In its
    // default (string) mode sonic-boom appends each line to the batch string and measures the
    // result's UTF-8 length, which flattens — copies — the whole batch again on every line
    // (~4 KB per access line with 8 KiB batches; bench/proxy/log-sink.ts measures both).
    const out = pino.destination({ dest: 1, sync: false, minLength: LOG_BATCH_BYTES, contentMode: 'buffer' });
    const timer = setInterval(() => {
      try {
        out.flush();
      } catch {
        clearInterval(timer); // destroyed: nothing left to write to
      }
    }, LOG_FLUSH_MS).unref();
    stream = bufferLines(out);
  }
  return pino({ level, base: { component: 'sluice-proxy' }, timestamp: isoTimestamp }, stream);
}

/**
 * pino writes strings; a buffer-mode destination takes Buffers. Small lines are encoded into
 * Node's shared buffer pool, so a line costs one small view, not an allocation of its own.
 */
export function bufferLines(
  out: ReturnType<typeof pino.destination>,
): DestinationStream & { flush(cb: (err?: Error) => void): void; flushSync(): void } {
  return {
    // sonic-boom's types know only strings; in buffer mode it takes Buffers (and only those).
    write: (line: string) => void out.write(Buffer.from(line) as unknown as string),
    flush: (cb) => out.flush(cb),
    // pino's fatal() writes its line out at once when the stream can.
    flushSync: () => out.flushSync(),
  };
}

/** Writes out what the logger still buffers; resolves once done (or at once for sync streams). */
export function flushLog(log: Logger): Promise<void> {
  return new Promise((resolve) => log.flush(() => resolve()));
}

/** The fields of one access-log line. */
export interface AccessLogLine {
  requestId: string;
  backendRequestId: string | undefined;
  method: string;
  operation: string;
  bucket: string | undefined;
  key: string | undefined;
  status: number;
  errorCode: string | undefined;
  clientAuth: string | undefined;
  payload: string | undefined;
  store: string | undefined;
  /** The grants that allowed the request (`grant:<source>,…`) or why the policy denied it (`deny:<reason>`). */
  policy: string | undefined;
  backend: string | undefined;
  bytesIn: number;
  bytesOut: number;
  /** Total time, ms. */
  durationMs: number;
  /** Dispatch → backend response headers, ms. */
  backendHeadersMs: number | undefined;
  /** How the request ended: "ok", "client-aborted", "backend-aborted", "timeout". */
  outcome: string;
}

/** Writes one access-log line (built by the caller as one object literal: no copies here). */
export function logAccess(log: Logger, line: AccessLogLine): void {
  log.info({ access: line }, 'request');
}
