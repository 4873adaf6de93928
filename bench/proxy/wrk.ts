/**
 * wrk (C, one thread) as the load generator: it reads responses into a fixed buffer, so it costs
 * a fraction of a Node client's CPU per byte and leaves the cores to the backend and the proxy.
 */
import { spawn, spawnSync } from 'node:child_process';

/** One wrk run's numbers. */
export interface WrkResult {
  reqPerSec: number;
  /** Completed requests (wrk does not count those in flight at the end). */
  requests: number;
  /**
   * Bytes read from every connection, heads included, those of responses still in flight at the
   * end too (wrk adds each read to its count): for objects that take seconds each, the rate that
   * completions cannot give (see bench/proxy/run.ts).
   */
  bytesRead: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx/3xx responses plus socket errors. */
  errors: number;
}

function ms(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : n;
}

/** Parses wrk's `--latency` report. */
export function parseWrk(out: string, stderr = ''): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m), ([\d.]+)([KMGT]?)B read/.exec(out);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)/.exec(out);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (!rps || !total || !p50 || !p99) throw new Error(`wrk output not understood:\n${out}\n${stderr}`);
  const seconds = total[3] === 'm' ? Number(total[2]) * 60 : ms(total[2]!, total[3]!) / 1000;
  return {
    reqPerSec: Number(rps[1]),
    requests: Number(total[1]),
    // wrk prints it in 1024-based units with two decimals: ±0.5 % at worst (e.g. 1.01GB).
    bytesRead: Number(total[4]) * 1024 ** ' KMGT'.indexOf(total[5] || ' '),
    seconds,
    p50Ms: ms(p50[1]!, p50[2]!),
    p99Ms: ms(p99[1]!, p99[2]!),
    errors: Number(non2xx?.[1] ?? 0) + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
  };
}

function wrkArgs(url: string, seconds: number, concurrency: number, headers: Headers): string[] {
  // A generous timeout: a 64 MiB response at concurrency 64 on 2 shared cores takes seconds.
  // wrk sends Host from the URL (and a second one if given another spelling of the name).
  const extra = Object.entries(headers)
    .filter(([name]) => name.toLowerCase() !== 'host')
    .flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
  return ['-t1', `-c${concurrency}`, `-d${seconds}s`, '--timeout', '60s', '--latency', ...extra, url];
}

/**
 * Extra request headers, the same on every request: e.g. a SigV4 signature made once, which a
 * store accepts for 15 minutes, so wrk's requests are signed without signing each.
 */
type Headers = Record<string, string>;

/** Runs wrk once against `url` (blocking). */
export function wrk(url: string, seconds: number, concurrency: number, headers: Headers = {}): WrkResult {
  const r = spawnSync('wrk', wrkArgs(url, seconds, concurrency, headers), { encoding: 'utf8' });
  return parseWrk(r.stdout, r.stderr);
}

/** Runs wrk once against `url` without blocking this process (its samplers keep running). */
export function wrkAsync(
  url: string,
  seconds: number,
  concurrency: number,
  headers: Headers = {},
): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', wrkArgs(url, seconds, concurrency, headers), {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(parseWrk(out, err));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}
