/**
 * An open-loop load generator (../open-loop.ts): requests are *scheduled* at a fixed rate and
 * each one's latency is measured from its scheduled start to the end of its body. A closed loop
 * would instead saturate the 2 shared cores and measure CPU queueing, not balancing. Records the
 * serving node from the `x-served-by` header the peers add.
 */
import { Pool } from 'undici';
import { openLoop } from '../open-loop.ts';

/** One request as seen by the client. */
export interface Sample {
  /** Scheduled start, ms since the run's origin. */
  t: number;
  ms: number;
  ok: boolean;
  /** Serving node as the target named it, if it did. */
  node: string | undefined;
  error?: string;
}

/** Paths to request, cycled; already presigned when the target needs it. */
export type PathFor = (i: number) => string;

export interface LoadOptions {
  /** Requests per second, spaced evenly. */
  rate: number;
  /** Most requests in flight at once (and connections in the client pool). */
  maxOutstanding: number;
}

/** Sends load from `origin` (performance.now() ms) until `endAt` ms after it; returns every sample. */
export async function runLoad(
  url: string,
  pathFor: PathFor,
  opts: LoadOptions,
  origin: number,
  endAt: number,
): Promise<Sample[]> {
  const pool = new Pool(url, { connections: opts.maxOutstanding, keepAliveTimeout: 10_000 });
  const samples: Sample[] = [];
  const total = Math.floor((endAt * opts.rate) / 1000);
  await openLoop(origin, total, opts.rate, opts.maxOutstanding, async (n, due) => {
    let ok = false;
    let node: string | undefined;
    let error: string | undefined;
    try {
      const res = await pool.request({
        method: 'GET',
        path: pathFor(n),
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      await res.body.text();
      ok = res.statusCode === 200;
      if (!ok) error = `status ${res.statusCode}`;
      const served = res.headers['x-served-by'];
      if (typeof served === 'string') node = served.split(',').at(-1)!.trim();
    } catch (err) {
      error = (err as { code?: string }).code ?? String(err);
    }
    const t = due - origin;
    samples.push({ t, ms: performance.now() - due, ok, node, ...(error ? { error } : {}) });
  });
  await pool.close();
  return samples;
}

/** The q-quantile (0..1) of `xs` (nearest rank). */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
