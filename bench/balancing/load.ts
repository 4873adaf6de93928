/**
 * A bounded closed-loop load generator: `concurrency` workers each send one GET at a time for a
 * fixed duration and record start time, latency, success and the serving node (from the
 * `x-served-by` header the peers add). Latency is measured to the end of the body.
 */
import { Pool } from 'undici';

/** One request as seen by the client. */
export interface Sample {
  /** Start, ms since the run's origin. */
  t: number;
  ms: number;
  ok: boolean;
  /** Serving node as the target named it, if it did. */
  node: string | undefined;
  error?: string;
}

/** Paths to request, cycled; already presigned when the target needs it. */
export type PathFor = (i: number) => string;

/** Runs load until `until()` (clock ms since `origin`) says stop; returns every sample. */
export async function runLoad(
  url: string,
  pathFor: PathFor,
  concurrency: number,
  origin: number,
  endAt: number,
): Promise<Sample[]> {
  const pool = new Pool(url, { connections: concurrency, keepAliveTimeout: 10_000 });
  const samples: Sample[] = [];
  let n = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() - origin < endAt) {
      const t = performance.now() - origin;
      let ok = false;
      let node: string | undefined;
      let error: string | undefined;
      try {
        const res = await pool.request({
          method: 'GET',
          path: pathFor(n++),
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
      samples.push({ t, ms: performance.now() - origin - t, ok, node, ...(error ? { error } : {}) });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await pool.close();
  return samples;
}

/** The q-quantile (0..1) of `xs` (nearest rank). */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
