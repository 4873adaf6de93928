/** Samples a process's CPU time and RSS from /proc (Linux); the env a benchmarked proxy runs with. */
import { readFileSync } from 'node:fs';
import { SIDECAR_RUNTIME_ENV } from '../../operator/contract.ts';

/**
 * The runtime tuning the webhook gives every injected sidecar (operator/contract.ts), as env
 * entries — empty when `--plain-node` is on the command line (to measure what the tuning buys).
 */
export function sidecarRuntimeEnv(): Record<string, string> {
  if (process.argv.includes('--plain-node')) return {};
  return Object.fromEntries(SIDECAR_RUNTIME_ENV.map((e) => [e.name, e.value]));
}

/** The env `sluice proxy` runs with in a benchmark: ours plus {@link sidecarRuntimeEnv}. */
export function proxyEnv(): NodeJS.ProcessEnv {
  return { ...process.env, ...sidecarRuntimeEnv() };
}

const TICK = 100; // USER_HZ on Linux

/** CPU seconds (user + system) used so far by `pid`. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICK;
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

/** Samples peak RSS and peak anonymous RSS of `pid` every `ms` until stopped. */
export function peakRss(pid: number, ms = 50): { stop(): { rss: number; anon: number } } {
  const peak = { rss: 0, anon: 0 };
  const sample = (): void => {
    try {
      peak.rss = Math.max(peak.rss, rssBytes(pid));
      peak.anon = Math.max(peak.anon, anonRssBytes(pid));
    } catch {
      // process gone
    }
  };
  sample();
  const t = setInterval(sample, ms);
  return {
    stop() {
      clearInterval(t);
      return peak;
    },
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
