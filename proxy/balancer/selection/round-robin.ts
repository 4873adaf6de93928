import type { Picker, Pickable } from './picker.ts';

/**
 * Round-robin: the baseline. A counter walks the candidate list; when the list changes (a node
 * ejected, a retry excluding one) the walk continues at the same counter, which keeps the spread
 * even without per-backend state.
 */
export class RoundRobinPicker implements Picker {
  readonly algorithm = 'round-robin' as const;
  #next = 0;

  pick<T extends Pickable>(candidates: readonly T[]): T | undefined {
    if (candidates.length === 0) return undefined;
    const i = this.#next % candidates.length;
    this.#next = (this.#next + 1) % Number.MAX_SAFE_INTEGER;
    return candidates[i];
  }
}
