import type { Random } from '../random.ts';
import { pickTwo } from './p2c.ts';
import type { Picker, Pickable } from './picker.ts';

/**
 * Peak-EWMA (Finagle, Linkerd): power of two choices on cost = latency estimate × (in-flight + 1).
 * The estimate jumps to a latency spike at once and decays back, so a node that turns slow loses
 * traffic within a few requests, and a node with queued work costs more even before it answers.
 * The default algorithm.
 */
export class PeakEwmaPicker implements Picker {
  readonly algorithm = 'peak-ewma' as const;
  readonly #random: Random;

  constructor(random: Random) {
    this.#random = random;
  }

  pick<T extends Pickable>(candidates: readonly T[]): T | undefined {
    return pickTwo(candidates, this.#random, cost);
  }
}

/** The peak-EWMA cost of one candidate now. */
export function cost(c: Pickable): number {
  return c.ewma.value() * (c.inFlight + 1);
}
