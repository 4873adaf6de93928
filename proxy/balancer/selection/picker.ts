/**
 * The one interface every balancing algorithm implements (one file per algorithm, as pingora's
 * `selection/*.rs`). A picker does no I/O and never looks at health: the pool hands it only the
 * backends that may take this attempt, already filtered for health, ejection, zone and retries.
 */
import type { BalancingAlgorithm } from '../../config/types.ts';
import type { PeakEwma } from '../ewma.ts';

/** What a picker may read of a backend. */
export interface Pickable {
  readonly id: string;
  /** Attempts in flight now. */
  readonly inFlight: number;
  /** Latency estimate, fed by the pool from time-to-headers. */
  readonly ewma: PeakEwma;
}

/** Chooses one of the candidates for the next attempt. */
export interface Picker {
  readonly algorithm: BalancingAlgorithm;
  /** Returns one of `candidates`, or undefined only when the list is empty. */
  pick<T extends Pickable>(candidates: readonly T[]): T | undefined;
}
