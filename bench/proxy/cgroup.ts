/**
 * A memory cgroup for one benchmarked process, so it runs under a memory limit as its container
 * would in a pod. The limit matters beyond OOM: Node sizes V8's heap from it (a 256 MiB limit
 * gives a ~259 MiB heap limit instead of ~4 GiB on this machine, and V8 then grows its heap in
 * smaller steps), which changes both RSS and GC work. Needs write access to the cgroup tree
 * (root here); returns undefined where there is none, and the caller says so.
 */
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MemoryCgroup {
  readonly dir: string;
  /** `[command, args]` that start `cmd args…` inside the cgroup (the same pid, via exec). */
  wrap(cmd: string, args: readonly string[]): [string, string[]];
  /** Highest memory use the cgroup recorded (v1 only; page cache charged to it included). */
  maxUsageBytes(): number | undefined;
  remove(): void;
}

/** This process's memory cgroup directory: v1's memory hierarchy, else the v2 unified one. */
function ownCgroupDir(): string | undefined {
  const lines = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  const v1 = lines.find((l) => /^\d+:memory:/.test(l));
  if (v1) return join('/sys/fs/cgroup/memory', v1.slice(v1.indexOf(':memory:') + ':memory:'.length));
  const v2 = lines.find((l) => l.startsWith('0::'));
  return v2 ? join('/sys/fs/cgroup', v2.slice(3)) : undefined;
}

export function memoryCgroup(name: string, limitBytes: number): MemoryCgroup | undefined {
  const parent = ownCgroupDir();
  if (parent === undefined) return undefined;
  const dir = join(parent, name);
  const v1 = parent.startsWith('/sys/fs/cgroup/memory');
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, v1 ? 'memory.limit_in_bytes' : 'memory.max'), String(limitBytes));
  } catch {
    return undefined;
  }
  return {
    dir,
    wrap: (cmd, args) => [
      'sh',
      ['-c', `echo $$ > ${join(dir, 'cgroup.procs')} && exec "$0" "$@"`, cmd, ...args],
    ],
    maxUsageBytes: () => {
      if (!v1) return undefined;
      return Number(readFileSync(join(dir, 'memory.max_usage_in_bytes'), 'utf8'));
    },
    remove: () => {
      try {
        rmdirSync(dir);
      } catch {
        // still has a process (it is being killed): the next run reuses or replaces the name
      }
    },
  };
}
