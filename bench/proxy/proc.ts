/** Samples a process's CPU time and RSS from /proc (Linux). */
import { readFileSync } from 'node:fs';

const TICK = 100; // USER_HZ on Linux

/** CPU seconds (user + system) used so far by `pid`. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICK;
}

/** Resident set size of `pid`, bytes. */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Samples peak RSS of `pid` every `ms` until stopped. */
export function peakRss(pid: number, ms = 50): { stop(): number } {
  let peak = rssBytes(pid);
  const t = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      // process gone
    }
  }, ms);
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
