/**
 * The access log's way to stdout (not a test): `node bench/proxy/log-sink.ts`. Access lines into
 * /dev/null three ways:
 * - `string`: `log.info({ access }, 'request')` into sonic-boom batching LOG_BATCH_BYTES in its
 *   default string mode (it re-measures the whole batch string on every line);
 * - `buffer`: the same into sonic-boom in buffer mode, each line encoded into a Buffer of its own
 *   (the proxy until session 14);
 * - `batched`: proxy/log.ts as the proxy runs it — logAccess formatting the line itself, a
 *   {@link LineBatcher} gathering lines and encoding one Buffer per batch.
 * Reports ns per line (three timed passes after two warm-ups, the event loop turning every 64
 * lines so that batches are written as they fill) and the bytes a line allocates (V8's sampling
 * heap profiler, collected objects included).
 */
import { openSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import pino from 'pino';
import type { DestinationStream, Logger } from 'pino';
import { isoTimestamp, LineBatcher, logAccess, LOG_BATCH_BYTES } from '../../proxy/log.ts';
import type { AccessLogLine } from '../../proxy/log.ts';

const LINES = 50_000;
const fd = openSync('/dev/null', 'w');

type Mode = 'string' | 'buffer' | 'batched';
const MODES: readonly Mode[] = ['string', 'buffer', 'batched'];

function sink(mode: Mode): DestinationStream {
  if (mode === 'string') return pino.destination({ dest: fd, sync: false, minLength: LOG_BATCH_BYTES });
  if (mode === 'batched') {
    return new LineBatcher(
      pino.destination({ dest: fd, sync: false, minLength: LOG_BATCH_BYTES, contentMode: 'buffer' }),
    );
  }
  const out = pino.destination({ dest: fd, sync: false, minLength: LOG_BATCH_BYTES, contentMode: 'buffer' });
  return {
    write: (line: string) => void out.write(Buffer.from(line) as unknown as string),
    flush: (cb: (err?: Error) => void) => out.flush(cb),
  } as DestinationStream;
}

/** One access line the way each mode's proxy wrote it. */
function writeLine(log: Logger, mode: Mode, line: AccessLogLine): void {
  if (mode === 'batched') logAccess(log, line);
  else log.info({ access: line }, 'request');
}

function line(i: number): AccessLogLine {
  return {
    requestId: `1A2B3C4D${(i >>> 0).toString(16).toUpperCase().padStart(8, '0')}`,
    backendRequestId: '187D2A3F9C0B1E2D',
    method: 'GET',
    operation: 'GetObject',
    bucket: 'bench',
    key: `obj-${i % 100}`,
    status: 200,
    errorCode: undefined,
    clientAuth: 'sigv4-header',
    payload: 'unsigned',
    store: 'minio',
    policy: 'grant:bench/read',
    backend: '127.0.0.1:9000',
    bytesIn: 0,
    bytesOut: 4096,
    durationMs: 0.412 + (i % 7) / 1000,
    backendHeadersMs: 0.201,
    outcome: 'ok',
  };
}

async function pass(mode: Mode, session?: Session): Promise<{ ns: number; bytes: number }> {
  const log = pino(
    { level: 'info', base: { component: 'sluice-proxy' }, timestamp: isoTimestamp },
    sink(mode),
  );
  if (session) {
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 256,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }
  const t0 = performance.now();
  for (let i = 0; i < LINES; i++) {
    writeLine(log, mode, line(i));
    if ((i & 63) === 63) await new Promise((r) => setImmediate(r));
  }
  const ns = ((performance.now() - t0) * 1e6) / LINES;
  let bytes = 0;
  if (session) {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    const walk = (n: typeof profile.head): void => {
      bytes += n.selfSize;
      n.children.forEach(walk);
    };
    walk(profile.head);
  }
  await new Promise<void>((r) => log.flush(() => r()));
  return { ns, bytes: bytes / LINES };
}

const session = new Session();
session.connect();
for (let round = 0; round < 5; round++) {
  for (const mode of MODES) {
    const r = await pass(mode, round === 4 ? session : undefined);
    if (round < 2) continue;
    const what =
      round === 4 ? `${r.bytes.toFixed(0)} B allocated per line` : `${r.ns.toFixed(0)} ns per line`;
    process.stdout.write(`access log, ${mode.padEnd(7)}: ${what}\n`);
  }
}
session.disconnect();
