/**
 * Peak-EWMA latency estimate, as Finagle's PeakEwma and Linkerd/tower's `peak_ewma.rs` do:
 * a sample above the estimate is taken at once (scaled by `peakSensitivity`, 1 = the peak itself),
 * a sample below it is blended in with weight 1 − e^(−Δt/τ), and the estimate decays towards zero
 * while the backend is idle so a node once slow is eventually probed again.
 */
import type { Clock } from './random.ts';

/** Options of one estimator. */
export interface PeakEwmaOptions {
  /** τ (ms): how long a past sample keeps its weight. Linkerd uses 10 s. */
  decayMs: number;
  /** Estimate before the first sample (ms). */
  initialMs: number;
  /** 0 < s ≤ 1: how much of a spike above the estimate is taken at once. */
  peakSensitivity: number;
}

/** One backend's latency estimate (milliseconds). */
export class PeakEwma {
  readonly #clock: Clock;
  readonly #opts: PeakEwmaOptions;
  #estimate: number;
  #stamp: number;

  constructor(clock: Clock, opts: PeakEwmaOptions) {
    this.#clock = clock;
    this.#opts = opts;
    this.#estimate = opts.initialMs;
    this.#stamp = clock.now();
  }

  /** Feeds one latency sample (ms, time to response headers). */
  observe(sampleMs: number): void {
    const now = this.#clock.now();
    const sample = Math.max(0, sampleMs);
    if (sample > this.#estimate) {
      this.#estimate += this.#opts.peakSensitivity * (sample - this.#estimate);
    } else {
      const w = Math.exp(-Math.max(0, now - this.#stamp) / this.#opts.decayMs);
      this.#estimate = this.#estimate * w + sample * (1 - w);
    }
    this.#stamp = now;
  }

  /**
   * The current estimate (ms), decayed towards zero for the time since the last sample — the
   * same as observing a zero-latency sample now, without recording it.
   */
  value(): number {
    const elapsed = Math.max(0, this.#clock.now() - this.#stamp);
    return this.#estimate * Math.exp(-elapsed / this.#opts.decayMs);
  }
}
