/**
 * Child processes of the test bed (MinIO, etcd, kube-apiserver): spawned so that they can never
 * outlive the test process, with output to a log file whose tail goes into error messages.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';

/** Every live child, killed synchronously on process exit as a last resort. */
const live = new Set<ChildProcess>();
/** Synchronous clean-ups run on exit after the children are killed (e.g. removing their dirs). */
const afterKill: (() => void)[] = [];
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const fn of afterKill) {
      try {
        fn();
      } catch {
        // best effort on the way out
      }
    }
  });
}

/** Runs `fn` synchronously on process exit, after every child has been sent SIGKILL. */
export function onExitAfterKill(fn: () => void): void {
  installExitHook();
  afterKill.push(fn);
}

/** setpriv(1) from util-linux, when present: it sets PR_SET_PDEATHSIG before exec. */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

/** A spawned test-bed process; see {@link spawnLogged}. */
export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The file receiving stdout and stderr. */
  readonly logPath: string;
  /** True once the process has exited. */
  readonly exited: boolean;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exit: Promise<number | string>;
  /** Sends `signal`, then SIGKILL after `graceMs` if still alive; resolves once it has exited. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
  /** The last `bytes` of the log, for error messages. */
  tail(bytes?: number): string;
}

/** Options for {@link spawnLogged}. */
export interface SpawnOptions {
  env: Record<string, string>;
  cwd?: string;
}

/** The last `bytes` of a file, or '' when it cannot be read. */
export function tailFile(path: string, bytes = 3000): string {
  try {
    const buf = readFileSync(path);
    return buf.subarray(Math.max(0, buf.length - bytes)).toString('utf8');
  } catch {
    return '';
  }
}

/**
 * Spawns `cmd args` with stdout+stderr appended to `logPath` and an explicit environment (nothing
 * inherited). Under setpriv --pdeathsig KILL the kernel kills the child if this process dies
 * (even by SIGKILL); an exit hook also kills children on a normal exit.
 */
export function spawnLogged(cmd: string, args: string[], logPath: string, opts: SpawnOptions): Proc {
  installExitHook();
  const fd = openSync(logPath, 'a');
  const [file, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', cmd, ...args]] : [cmd, args];
  const child = spawn(file, argv, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  live.add(child);
  let exited = false;
  const exit = new Promise<number | string>((resolve) => {
    child.once('exit', (code, sig) => {
      exited = true;
      live.delete(child);
      resolve(code ?? sig ?? -1);
    });
    child.once('error', () => {
      exited = true;
      live.delete(child);
      resolve(-1);
    });
  });
  return {
    child,
    pid: child.pid ?? -1,
    logPath,
    get exited() {
      return exited;
    },
    exit,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000) {
      if (exited) return;
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((r) => {
        timer = setTimeout(() => {
          if (!exited) child.kill('SIGKILL');
          r();
        }, graceMs);
      });
      await Promise.race([exit, killed]);
      await exit;
      clearTimeout(timer);
    },
    tail: (bytes?: number) => tailFile(logPath, bytes),
  };
}

/**
 * Polls `probe` every `intervalMs` until it returns true, or throws after `timeoutMs` with
 * `what` and `detail()` (typically a log tail). Also fails fast when `dead()` says the process
 * it waits for has exited.
 */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; dead?: () => boolean; detail?: () => string },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    const detail = (): string => {
      const d = opts.detail?.() ?? '';
      return d ? `\n--- log tail ---\n${d}` : '';
    };
    if (opts.dead?.()) throw new Error(`${what}: process exited before it was ready${detail()}`);
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${opts.timeoutMs} ms${detail()}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}
