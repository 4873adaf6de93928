/**
 * The proxy's logger (pino, JSON lines) and its access-log line. One line per request, written
 * when the response closes. It carries identifiers, sizes and durations — never credentials,
 * Authorization headers or query strings (presigned URLs carry signatures in the query).
 *
 * Cheap on the request path: lines are gathered in memory ({@link LineBatcher}) and stdout gets
 * them {@link LOG_BATCH_BYTES} at a time, written asynchronously by sonic-boom; a timer hands on
 * whatever waits every {@link LOG_FLUSH_MS} (so a quiet sidecar's lines still show within that),
 * and the lines still waiting are written when the process exits and by {@link flushLog} on
 * shutdown. A stdout that stops taking lines holds at most {@link LOG_QUEUE_MAX_BYTES} of them;
 * later ones are dropped and counted. A write per line cost more than the rest of the logging
 * together. The access line is formatted here, as pino would, without pino's per-call work; the
 * timestamp reuses its formatted second instead of a Date per line. bench/proxy/log-sink.ts
 * measures all of it.
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

/** Bytes (UTF-16 units, near enough) of log lines gathered before they are written to stdout. */
export const LOG_BATCH_BYTES = 8 * 1024;
/** Longest a log line waits for its batch, ms. */
export const LOG_FLUSH_MS = 250;
/**
 * Most bytes of log lines held for a stdout that does not take them (a stalled log collector):
 * beyond this, batches are dropped whole (and counted, {@link droppedLogLines}) instead of
 * growing the sidecar's memory for as long as the stall lasts.
 */
export const LOG_QUEUE_MAX_BYTES = 8 * 1024 * 1024;

let dropped = 0;

/** Log lines dropped so far because stdout did not take them (sluice_proxy_log_lines_dropped_total). */
export function droppedLogLines(): number {
  return dropped;
}

/** Lines in a dropped batch: one per newline. */
function countLines(batch: Buffer | string): number {
  let n = 0;
  for (let i = batch.indexOf('\n'); i >= 0; i = batch.indexOf('\n', i + 1)) n++;
  return n;
}

type SonicBoom = ReturnType<typeof pino.destination>;

/**
 * A pino destination that gathers lines (strings) and hands them to sonic-boom as one Buffer per
 * batch: one UTF-8 encoding and one write call per batch instead of per line. sonic-boom's own
 * batching either re-measured (flattened) the whole batch string on every line (string mode) or
 * took a Buffer per line (buffer mode); both cost more than formatting the line
 * (bench/proxy/log-sink.ts). Lines keep their order: pino's and the access lines share this.
 *
 * sonic-boom keeps its own `minLength` of a batch: a batch handed on writes at once, a partial
 * one (the timer's, a flush's) waits in sonic-boom, so that its flush() waits for the write to
 * finish and its flushSync() writes it itself. With `minLength: 0` both returned while a write
 * was still in flight: a SIGTERM lost the lines of the last batch, and a fatal line could die
 * with the process.
 */
export class LineBatcher implements DestinationStream {
  private readonly out: SonicBoom;
  private readonly batchChars: number;
  private pending: string[] = [];
  private pendingChars = 0;

  constructor(out: SonicBoom, batchChars = LOG_BATCH_BYTES) {
    this.out = out;
    this.batchChars = batchChars;
  }

  write(line: string): void {
    this.pending.push(line);
    this.pendingChars += line.length;
    if (this.pendingChars >= this.batchChars) this.handOn();
  }

  /** Gives the gathered lines to sonic-boom (which writes them once it holds a batch). */
  handOn(): void {
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.pendingChars = 0;
    // sonic-boom's types know only strings; in buffer mode it takes Buffers (and only those).
    this.out.write(Buffer.from(text) as unknown as string);
  }

  /** Writes everything gathered; `cb` once written. */
  flush(cb?: (err?: Error) => void): void {
    this.handOn();
    this.out.flush(cb);
  }

  /** Writes everything gathered before returning (pino's fatal(), process exit). */
  flushSync(): void {
    // sonic-boom's queue first: behind a stdout that stalled it may be full, and the last batch
    // (a fatal line's) handed on to a full queue would be the one dropped.
    this.out.flushSync();
    this.handOn();
    this.out.flushSync();
  }
}

/** Creates the proxy logger. `dest` is for tests (default: stdout, batched, see the module doc). */
export function createLogger(level: string, dest?: DestinationStream): Logger {
  let stream = dest;
  if (!stream) {
    const out = pino.destination({
      dest: 1,
      sync: false,
      minLength: LOG_BATCH_BYTES,
      maxLength: LOG_QUEUE_MAX_BYTES,
      contentMode: 'buffer',
    });
    out.on('drop', (batch: Buffer) => (dropped += countLines(batch)));
    const batcher = new LineBatcher(out);
    const timer = setInterval(() => {
      try {
        batcher.flush();
      } catch {
        clearInterval(timer); // destroyed: nothing left to write to
      }
    }, LOG_FLUSH_MS).unref();
    // Before pino's own exit hook flushes sonic-boom: the lines still gathered here go first.
    // (One logger per process: the listener lives as long as the process.)
    process.prependListener('exit', () => {
      try {
        batcher.flushSync();
      } catch {
        // stdout gone: nothing to write to
      }
    });
    stream = batcher;
  }
  return pino({ level, base: { component: 'sluice-proxy' }, timestamp: isoTimestamp }, stream);
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

/** What {@link logAccess} needs of a logger, found once per logger. */
interface AccessSink {
  stream: DestinationStream;
  /** `,"component":"sluice-proxy"`: the logger's bindings, as pino writes them. */
  bindings: string;
}

const accessSinks = new WeakMap<Logger, AccessSink>();

function accessSink(log: Logger): AccessSink {
  let sink = accessSinks.get(log);
  if (sink === undefined) {
    const l = log as unknown as Record<symbol, unknown>;
    sink = {
      stream: l[pino.symbols.streamSym] as DestinationStream,
      bindings: l[pino.symbols.chindingsSym] as string,
    };
    accessSinks.set(log, sink);
  }
  return sink;
}

/**
 * Writes one access-log line (built by the caller as one object literal: no copies here): the
 * line `log.info({ access: line }, 'request')` writes, formatted here — pino's generic path
 * (level lookup, hooks, serializers, key by key) cost twice the formatting itself. So pino's
 * hooks, serializers, formatters and `redact` do not apply to it: the line's fields are chosen
 * to carry no secret (the module doc); a logger option added later must be mirrored here.
 */
export function logAccess(log: Logger, line: AccessLogLine): void {
  if (!log.isLevelEnabled('info')) return;
  const { stream, bindings } = accessSink(log);
  stream.write(`{"level":30${isoTimestamp()}${bindings},"access":${JSON.stringify(line)},"msg":"request"}\n`);
}
