/**
 * Passive outlier detection of one backend, pure (Envoy's outlier detection, simplified): N
 * consecutive 5xx responses — a timeout or a reset counts as one, as Envoy counts locally
 * originated failures, so a node that hangs or resets S3 requests while still answering its
 * health check is ejected too — or N consecutive connect failures eject the backend for
 * base × (number of ejections), capped; the multiplier decays by one for every base period the
 * backend spends back in service. Whether an ejection is *allowed* (max ejected percent) is the
 * pool's decision, passed in as `mayEject`.
 */
import type { AttemptOutcome } from './types.ts';

/** Resolved outlier options (ms, counts). */
export interface OutlierOptions {
  consecutive5xx: number;
  consecutiveConnectFailures: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
}

/** One backend's passive health. */
export class OutlierState {
  readonly #opts: OutlierOptions;
  #consecutive5xx = 0;
  #consecutiveConnect = 0;
  #multiplier = 0;
  #ejectedUntil = -Infinity;
  #returnedAt = -Infinity;
  /** Ejections so far, for /debug/backends and metrics. */
  ejections = 0;

  constructor(opts: OutlierOptions) {
    this.#opts = opts;
  }

  /** True while ejected at clock time `now`. */
  isEjected(now: number): boolean {
    return now < this.#ejectedUntil;
  }

  /** Clock time the current ejection ends (−∞ when never ejected). */
  get ejectedUntil(): number {
    return this.#ejectedUntil;
  }

  /**
   * Feeds one attempt's outcome at `now`. Returns the ejection duration (ms) when this outcome
   * ejected the backend, else 0. `mayEject` is asked only when a threshold is crossed.
   */
  record(outcome: AttemptOutcome, now: number, mayEject: () => boolean): number {
    const connectFailure = outcome.failure === 'connect';
    const is5xx =
      outcome.failure === 'timeout' ||
      outcome.failure === 'reset' ||
      (outcome.status !== undefined && outcome.status >= 500);
    if (connectFailure) this.#consecutiveConnect += 1;
    else if (outcome.failure === undefined) this.#consecutiveConnect = 0;
    if (is5xx) this.#consecutive5xx += 1;
    else if (outcome.status !== undefined) this.#consecutive5xx = 0;

    if (this.isEjected(now)) return 0;
    const tripped =
      this.#consecutive5xx >= this.#opts.consecutive5xx ||
      this.#consecutiveConnect >= this.#opts.consecutiveConnectFailures;
    if (!tripped || !mayEject()) return 0;
    return this.#eject(now);
  }

  /** Back in service at `now`: active health checks saw the node recover (Envoy's uneject). */
  uneject(now: number): void {
    if (!this.isEjected(now)) return;
    this.#ejectedUntil = now;
    this.#returnedAt = now;
    this.#consecutive5xx = 0;
    this.#consecutiveConnect = 0;
  }

  #eject(now: number): number {
    // Time back in service earns forgiveness: one step of the multiplier per base period.
    if (this.#multiplier > 0 && Number.isFinite(this.#returnedAt)) {
      const served = Math.max(0, now - this.#returnedAt);
      this.#multiplier = Math.max(0, this.#multiplier - Math.floor(served / this.#opts.baseEjectionMs));
    }
    this.#multiplier += 1;
    this.ejections += 1;
    const duration = Math.min(this.#opts.maxEjectionMs, this.#opts.baseEjectionMs * this.#multiplier);
    this.#ejectedUntil = now + duration;
    this.#returnedAt = this.#ejectedUntil;
    this.#consecutive5xx = 0;
    this.#consecutiveConnect = 0;
    return duration;
  }
}
