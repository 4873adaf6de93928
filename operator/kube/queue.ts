/**
 * A de-duplicating, rate-limited work queue of string keys, after client-go's workqueue
 * (k8s.io/client-go/util/workqueue): a key is queued at most once; a key added while it is
 * being processed is queued again when processing ends (never processed twice at once);
 * failures back off per key, exponentially; `addAfter` schedules a key (earliest wins).
 */

/** Per-key exponential backoff: base·2^(failures-1), capped. failures=0 → 0. */
export function backoffDelay(failures: number, baseMs: number, maxMs: number): number {
  if (failures <= 0) return 0;
  return Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 40));
}

/** Timer functions, injectable so tests can drive time. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Options of {@link WorkQueue}. */
export interface WorkQueueOptions {
  /** First retry delay of a failing key (ms). Default 200. */
  baseBackoffMs?: number;
  /** Cap of the per-key retry delay (ms). Default 60 000. */
  maxBackoffMs?: number;
  timers?: Timers;
}

/** See the module comment. Keys are opaque strings such as `pod:ns/identity`. */
export class WorkQueue {
  private readonly queue: string[] = [];
  private head = 0;
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; handle: unknown }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly timers: Timers;
  private shuttingDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.baseMs = opts.baseBackoffMs ?? 200;
    this.maxMs = opts.maxBackoffMs ?? 60_000;
    if (!(this.baseMs > 0) || !(this.maxMs >= this.baseMs)) {
      throw new RangeError('WorkQueue: need 0 < baseBackoffMs <= maxBackoffMs');
    }
    this.timers = opts.timers ?? realTimers;
  }

  /** Keys waiting to be processed (the queue-depth metric). */
  get length(): number {
    return this.queue.length - this.head;
  }

  /** Queues `key` unless it is already waiting. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // re-queued by done()
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queue.push(key);
  }

  /** Queues `key` after `ms`; an earlier pending schedule for the key wins. */
  addAfter(key: string, ms: number, now = Date.now()): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = now + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) this.timers.clearTimeout(pending.handle);
    const handle = this.timers.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, handle });
  }

  /** Queues `key` after its backoff delay and counts one more failure for it. */
  addRateLimited(key: string): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const delay = backoffDelay(n, this.baseMs, this.maxMs);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the failure count of `key` (call after a successful reconcile). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Failures counted for `key` since its last forget(). */
  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Next key to process; resolves undefined once shut down. Call done(key) when finished. */
  get(): Promise<string | undefined> {
    if (this.length > 0) {
      const key = this.queue[this.head++] as string;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key` processed; if it was added meanwhile it is queued again now. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  /** Stops handing out keys: pending get() calls resolve undefined; timers are cancelled. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const { handle } of this.delayed.values()) this.timers.clearTimeout(handle);
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
