/**
 * A retry budget (Finagle's RetryBudget, Linkerd's retry budget): retries may add at most
 * `percent` extra load over a sliding window, plus a small floor per second so a quiet sidecar can
 * still retry. When a backend fails wholesale this is what keeps retries from doubling the load
 * on the nodes that are left.
 */
import type { Clock } from './random.ts';

/** Budget options. */
export interface RetryBudgetOptions {
  /** Extra load retries may add, as a fraction of requests in the window (0.2 = 20%). */
  percent: number;
  /** Retries always allowed per second of window, regardless of traffic. */
  minPerSecond: number;
  /** Sliding window (ms). */
  windowMs: number;
}

const BUCKETS = 10;

/** Sliding-window counter of requests and retries. */
export class RetryBudget {
  readonly #opts: RetryBudgetOptions;
  readonly #clock: Clock;
  readonly #bucketMs: number;
  readonly #requests = new Array<number>(BUCKETS).fill(0);
  readonly #retries = new Array<number>(BUCKETS).fill(0);
  #epoch: number;

  constructor(opts: RetryBudgetOptions, clock: Clock) {
    if (!(opts.percent >= 0 && opts.minPerSecond >= 0 && opts.windowMs > 0)) {
      throw new RangeError('retry budget: percent and minPerSecond must be >= 0, windowMs > 0');
    }
    this.#opts = opts;
    this.#clock = clock;
    this.#bucketMs = opts.windowMs / BUCKETS;
    this.#epoch = Math.floor(clock.now() / this.#bucketMs);
  }

  /** Counts one original request (not a retry). */
  deposit(): void {
    this.#requests[this.#advance()]! += 1;
  }

  /** Takes one retry from the budget; false (and nothing taken) when the budget is spent. */
  tryWithdraw(): boolean {
    const i = this.#advance();
    if (this.balance() < 1) return false;
    this.#retries[i]! += 1;
    return true;
  }

  /** Retries still allowed in the current window. */
  balance(): number {
    this.#advance();
    const requests = sum(this.#requests);
    const retries = sum(this.#retries);
    const floor = (this.#opts.minPerSecond * this.#opts.windowMs) / 1000;
    return floor + this.#opts.percent * requests - retries;
  }

  /** Rotates buckets up to now; returns the current bucket's index. */
  #advance(): number {
    const epoch = Math.floor(this.#clock.now() / this.#bucketMs);
    const steps = Math.min(BUCKETS, epoch - this.#epoch);
    for (let s = 1; s <= steps; s++) {
      const i = (this.#epoch + s) % BUCKETS;
      this.#requests[i] = 0;
      this.#retries[i] = 0;
    }
    if (epoch > this.#epoch) this.#epoch = epoch;
    return this.#epoch % BUCKETS;
  }
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}
