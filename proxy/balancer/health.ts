/**
 * The active health state machine of one backend, pure: health flips only after `rise`
 * consecutive successes or `fall` consecutive failures (pingora's health_check.rs, HAProxy's
 * rise/fall). A new backend starts `pending` and becomes healthy after `rise` successes, or
 * unhealthy after `fall` failures, so it never takes traffic before it was checked.
 */

export type HealthStatus = 'pending' | 'healthy' | 'unhealthy';

/** One probe result, as kept for /debug/backends. */
export interface ProbeResult {
  ok: boolean;
  /** HTTP status, if the probe got one. */
  status?: number;
  /** Why it failed (error code or "status 503"). */
  error?: string;
  /** Clock time of the result (ms). */
  at: number;
}

/** Consecutive-result hysteresis for one backend. */
export class HealthState {
  readonly #rise: number;
  readonly #fall: number;
  #status: HealthStatus = 'pending';
  #successes = 0;
  #failures = 0;
  #last: ProbeResult | undefined;

  constructor(rise: number, fall: number) {
    if (!(rise >= 1 && fall >= 1)) throw new RangeError('rise and fall must be >= 1');
    this.#rise = rise;
    this.#fall = fall;
  }

  get status(): HealthStatus {
    return this.#status;
  }
  get lastResult(): ProbeResult | undefined {
    return this.#last;
  }
  get consecutiveSuccesses(): number {
    return this.#successes;
  }
  get consecutiveFailures(): number {
    return this.#failures;
  }

  /** Records one probe result; returns true when the status changed. */
  record(result: ProbeResult): boolean {
    this.#last = result;
    if (result.ok) {
      this.#successes += 1;
      this.#failures = 0;
      if (this.#status !== 'healthy' && this.#successes >= this.#rise) return this.#set('healthy');
    } else {
      this.#failures += 1;
      this.#successes = 0;
      if (this.#status !== 'unhealthy' && this.#failures >= this.#fall) return this.#set('unhealthy');
    }
    return false;
  }

  #set(status: HealthStatus): boolean {
    this.#status = status;
    return true;
  }
}
