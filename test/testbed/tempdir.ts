/**
 * Temp dirs of the test bed (MinIO drives, etcd data, certs, logs): removed by stop(), on a normal
 * process exit, and — for dirs left by a process that was SIGKILLed — by the next test bed start.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onExitAfterKill } from './proc.ts';

const OWNER_FILE = 'owner.pid';
const mine = new Set<string>();
let hookInstalled = false;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes `<tmp>/<prefix>*` dirs whose recorded owner process is gone. Never touches others'. */
function sweepStale(prefix: string): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir()).filter((n) => n.startsWith(prefix));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = join(tmpdir(), name);
    let pid: number;
    try {
      pid = Number(readFileSync(join(dir, OWNER_FILE), 'utf8'));
    } catch {
      continue; // no owner recorded (or not ours): leave it
    }
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid))
      rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Creates `<tmp>/<prefix>XXXXXX` owned by this process (removed on exit), after sweeping stale
 * dirs with the same prefix.
 */
export function makeTempDir(prefix: string): string {
  sweepStale(prefix);
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, OWNER_FILE), String(process.pid));
  mine.add(dir);
  if (!hookInstalled) {
    hookInstalled = true;
    // After the kill, so no process is still writing into a dir being removed.
    onExitAfterKill(() => {
      for (const d of mine) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

/** Removes a dir made by {@link makeTempDir}. */
export function removeTempDir(dir: string): void {
  mine.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}
