/**
 * Peak-EWMA latency estimate, as Finagle's PeakEwma and Linkerd/tower's `peak_ewma.rs` do:
 * a sample above the estimate is taken at once (scaled by `peakSensitivity`, 1 = the peak itself),
 * a sample below it is blended in with weight 1 − e^(−Δt/τ), and the estimate decays towards zero
 * while the backend is idle so a node once slow is eventually probed again.
 *
 * One addition: a lower sample always gets at least `minSampleWeight`. With the time-based weight
 * alone a busy backend (Δt of a few ms between samples) needs ~τ to forget one spike — on a noisy
 * machine every node then looks as slow as its worst recent request and the estimate stops telling
 * nodes apart. The floor lets a busy node recover within tens of samples, while τ still sets how
 * long an *idle* (avoided) slow node waits before it is probed again.
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
  /** 0 ≤ w < 1: the least weight a sample below the estimate gets. */
  minSampleWeight: number;
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
      const recency = Math.max(
        this.#opts.minSampleWeight,
        1 - Math.exp(-Math.max(0, now - this.#stamp) / this.#opts.decayMs),
      );
      this.#estimate = this.#estimate * (1 - recency) + sample * recency;
    }
    this.#stamp = now;
  }

  /** Starts over from `ms`, as if new (a backend back in service after being down). */
  reset(ms: number): void {
    this.#estimate = ms;
    this.#stamp = this.#clock.now();
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
