/** Samples a process's CPU time and RSS from /proc (Linux); the env a benchmarked proxy runs with. */
import { readFileSync } from 'node:fs';
import { SIDECAR_RUNTIME_ENV } from '../../operator/contract.ts';

/**
 * The runtime tuning the webhook gives every injected sidecar (operator/contract.ts), as env
 * entries — empty when `--plain-node` is on the command line (to measure what the tuning buys).
 */
export function sidecarRuntimeEnv(): Record<string, string> {
  if (process.argv.includes('--plain-node')) return {};
  const env: Record<string, string> = Object.fromEntries(SIDECAR_RUNTIME_ENV.map((e) => [e.name, e.value]));
  // `--node-options "…"`: NODE_OPTIONS for the proxy instead of the sidecar's (heap experiments).
  const at = process.argv.indexOf('--node-options');
  if (at >= 0 && process.argv[at + 1] !== undefined) env['NODE_OPTIONS'] = process.argv[at + 1]!;
  // `--runtime-env-without NAME` (repeatable): one setting left out, to measure what it costs.
  process.argv.forEach((a, i) => {
    if (a === '--runtime-env-without' && process.argv[i + 1] !== undefined) delete env[process.argv[i + 1]!];
  });
  return env;
}

/** The env `sluice proxy` runs with in a benchmark: ours plus {@link sidecarRuntimeEnv}. */
export function proxyEnv(): NodeJS.ProcessEnv {
  return { ...process.env, ...sidecarRuntimeEnv() };
}

const TICK = 100; // USER_HZ on Linux

/** CPU seconds used so far by `pid`, in user space and in the kernel (system). */
export function cpuTimes(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / TICK, system: Number(fields[12]) / TICK };
}

/** CPU seconds (user + system) used so far by `pid`. */
export function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.system;
}

/** Resident set size of `pid`, bytes. */
export function rssBytes(pid: number): number {
  return statusKb(pid, 'VmRSS') * 1024;
}

/**
 * Anonymous resident memory of `pid`, bytes: RSS without file-backed pages — mostly the node
 * binary's own text (~45 MiB), which every Node process maps and the page cache shares.
 */
export function anonRssBytes(pid: number): number {
  return statusKb(pid, 'RssAnon') * 1024;
}

function statusKb(pid: number, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** The proxy's own view of its memory when its anonymous RSS peaked (from its /metrics). */
export interface MemoryAtPeak {
  heapTotal: number;
  heapUsed: number;
  /** ArrayBuffer backing stores and other memory V8 knows about outside its heap. */
  external: number;
}

/**
 * Shortest time between two /metrics scrapes of a measured proxy. A scrape costs the proxy ~2 ms
 * of CPU and its event loop, and raises its memory: scraped at every new peak, a proxy at a few
 * hundred requests/s was scraped ~3 times a second (≈ 30 µs of CPU per request charged to it,
 * and a 2 ms stall in its request path each time) while the Node floor and nginx never are.
 */
const MIN_SCRAPE_INTERVAL_MS = 2_000;

/**
 * Samples peak RSS and peak anonymous RSS of `pid` every `ms` until stopped; with `adminUrl`, also
 * the proxy's heap and external memory (prom-client's nodejs_* gauges) near the anonymous peak
 * (at most one scrape per {@link MIN_SCRAPE_INTERVAL_MS}: a peak within it is scraped when it
 * ends, so the figure is from at most that long after the peak), to tell V8's share from malloc's.
 */
export function peakRss(
  pid: number,
  ms = 50,
  adminUrl?: string,
): { stop(): Promise<{ rss: number; anon: number; atPeak: MemoryAtPeak | undefined }> } {
  const peak = { rss: 0, anon: 0 };
  let atPeak: MemoryAtPeak | undefined;
  let scraping = false;
  let lastScrape = -Infinity;
  // A peak not scraped yet: scraped as soon as the interval allows (a higher one may come first).
  let unscrapedPeak = false;
  const sample = (): void => {
    try {
      peak.rss = Math.max(peak.rss, rssBytes(pid));
      const anon = anonRssBytes(pid);
      if (anon > peak.anon) {
        peak.anon = anon;
        unscrapedPeak = true;
      }
      if (
        adminUrl &&
        unscrapedPeak &&
        !scraping &&
        performance.now() - lastScrape >= MIN_SCRAPE_INTERVAL_MS
      ) {
        scraping = true;
        unscrapedPeak = false;
        lastScrape = performance.now();
        void scrapeMemory(adminUrl)
          .then((m) => (atPeak = m))
          .catch(() => undefined)
          .finally(() => (scraping = false));
      }
    } catch {
      // process gone
    }
  };
  sample();
  const t = setInterval(sample, ms);
  return {
    async stop() {
      clearInterval(t);
      while (scraping) await new Promise((r) => setTimeout(r, 10));
      return { ...peak, atPeak };
    },
  };
}

async function scrapeMemory(adminUrl: string): Promise<MemoryAtPeak> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const v = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    heapTotal: v('nodejs_heap_size_total_bytes'),
    heapUsed: v('nodejs_heap_size_used_bytes'),
    external: v('nodejs_external_memory_bytes'),
  };
}

/** Resolves once `url` answers at all (any status); throws after ~10 s. */
export async function waitHttp(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${url} never came up`);
}
