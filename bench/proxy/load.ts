/**
 * A small closed-loop load generator: `concurrency` workers, each sending its next request as
 * soon as the previous one finished, for `seconds` (and at least one request per worker).
 * Latency is per request, wall-clock, headers sent → last body byte read.
 */
import { Readable } from 'node:stream';
import { Pool } from 'undici';
import { openLoop } from '../open-loop.ts';

/** One cell's result. */
export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  reqPerSec: number;
  bytesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** p99.9, for the open loops (bench/proxy/added.ts reads it). */
  p999Ms?: number;
}

/** What each request is. `headers()` is called per request (e.g. to sign it). */
export interface LoadSpec {
  origin: string;
  method: 'GET' | 'PUT';
  path: (worker: number) => string;
  headers: (method: string, path: string) => Promise<Record<string, string>> | Record<string, string>;
  body?: Buffer;
  /** Send the body without a length (Transfer-Encoding: chunked), as SDKs send a stream. */
  sendChunked?: boolean;
  concurrency: number;
  seconds: number;
}

function* pieces(body: Buffer): Generator<Buffer> {
  for (let i = 0; i < body.length; i += 64 * 1024) yield body.subarray(i, i + 64 * 1024);
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** One request of `spec` on `pool`: the bytes it moved and whether it succeeded (2xx). */
async function exchange(pool: Pool, spec: LoadSpec, path: string): Promise<{ bytes: number; ok: boolean }> {
  let bytes = 0;
  try {
    const r = await pool.request({
      method: spec.method,
      path,
      headers: await spec.headers(spec.method, path),
      // An iterable has no length: undici sends it chunked, in 64 KiB pieces like a file stream.
      body: spec.body && spec.sendChunked ? Readable.from(pieces(spec.body)) : (spec.body ?? null),
    });
    for await (const chunk of r.body) bytes += (chunk as Buffer).length;
    if (spec.body) bytes += spec.body.length;
    return { bytes, ok: r.statusCode < 300 };
  } catch {
    return { bytes, ok: false };
  }
}

/** A cell's result from its latencies (ms, any order), error and byte counts and duration. */
function summarize(lat: number[], errors: number, bytes: number, seconds: number): LoadResult {
  lat.sort((a, b) => a - b);
  return {
    requests: lat.length,
    errors,
    seconds,
    reqPerSec: lat.length / seconds,
    bytesPerSec: bytes / seconds,
    p50Ms: pct(lat, 50),
    p99Ms: pct(lat, 99),
    p999Ms: pct(lat, 99.9),
  };
}

/** Runs one cell. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const pool = new Pool(spec.origin, {
    connections: spec.concurrency,
    pipelining: 1,
    keepAliveTimeout: 10_000,
  });
  const lat: number[] = [];
  let errors = 0;
  let bytes = 0;
  const start = performance.now();
  const end = start + spec.seconds * 1000;
  const worker = async (w: number): Promise<void> => {
    let first = true;
    while (first || performance.now() < end) {
      first = false;
      const path = spec.path(w);
      const t0 = performance.now();
      const r = await exchange(pool, spec, path);
      // Throughput counts what arrived whole and was answered 2xx; a failed upload's bytes do not.
      if (r.ok) bytes += r.bytes;
      else errors++;
      lat.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, (_, w) => worker(w)));
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  return summarize(lat, errors, bytes, seconds);
}

/**
 * Open loop (../open-loop.ts): requests scheduled `rate` per second for `seconds` from `start`
 * (performance.now() ms; default now), at most `concurrency` in flight, each latency counted from
 * the request's due time. Below saturation this measures the latency a hop adds, which a closed
 * loop at full speed cannot: there p99 is the 2 shared cores' queue.
 */
export async function runOpenLoop(
  spec: LoadSpec & { rate: number },
  start = performance.now(),
): Promise<LoadResult> {
  const pool = new Pool(spec.origin, { connections: spec.concurrency, keepAliveTimeout: 10_000 });
  const lat: number[] = [];
  let errors = 0;
  let bytes = 0;
  const total = Math.max(1, Math.floor(spec.seconds * spec.rate));
  await openLoop(start, total, spec.rate, spec.concurrency, async (n, due) => {
    const r = await exchange(pool, spec, spec.path(n));
    if (r.ok) bytes += r.bytes;
    else errors++;
    lat.push(performance.now() - due);
  });
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  return summarize(lat, errors, bytes, seconds);
}

/**
 * Several open loops at once, one per spec, their schedules offset so requests alternate between
 * them (spec k's n-th request is due at (n + k/specs) / rate s): every target samples the same
 * moments of the machine, so a stall of the store or the cores lands in all of their tails alike
 * and the difference between them is the hop's own. Back-to-back rounds of runOpenLoop compare
 * p99s taken seconds apart, on a machine whose p99 moves by tens of ms from one round to the next.
 * Each spec keeps its own pool and its own `concurrency` cap, so one slow target does not hold
 * back the others' requests.
 */
export function runInterleavedOpenLoops(specs: (LoadSpec & { rate: number })[]): Promise<LoadResult[]> {
  const start = performance.now() + 10;
  return Promise.all(
    specs.map((spec, k) => runOpenLoop(spec, start + (k * 1000) / spec.rate / specs.length)),
  );
}
