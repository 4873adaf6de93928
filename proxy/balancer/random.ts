/**
 * Injectable randomness and time for the balancer. Everything that picks or waits takes a
 * {@link Random} and a {@link Clock}, so tests are deterministic and never wait on real time.
 */

/** A source of uniform floats in [0, 1). */
export type Random = () => number;

/**
 * A seeded PRNG (mulberry32): small, fast, and good enough to spread picks — not for secrets.
 * The same seed yields the same sequence, which is what deterministic selection tests need.
 */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform integer in [0, n). */
export function randomIndex(random: Random, n: number): number {
  return Math.min(n - 1, Math.floor(random() * n));
}

/** Monotonic milliseconds. Wall-clock jumps must never eject a backend or decay an estimate. */
export interface Clock {
  now(): number;
}

/** The process's monotonic clock. */
export const systemClock: Clock = { now: () => performance.now() };

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  #now: number;
  constructor(start = 0) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    this.#now += ms;
  }
}
