import type { Random } from '../random.ts';
import { pickTwo } from './p2c.ts';
import type { Picker, Pickable } from './picker.ts';

/**
 * Least in-flight by power of two choices (Agoda Storefront's first algorithm): of two random
 * candidates, the one with fewer attempts in flight. P2C rather than a global minimum so that many
 * sidecars with the same view do not all pile onto the same momentarily idle node.
 */
export class LeastInFlightPicker implements Picker {
  readonly algorithm = 'least-in-flight' as const;
  readonly #random: Random;

  constructor(random: Random) {
    this.#random = random;
  }

  pick<T extends Pickable>(candidates: readonly T[]): T | undefined {
    return pickTwo(candidates, this.#random, (c) => c.inFlight);
  }
}
