import type { BalancingAlgorithm } from '../../config/types.ts';
import type { Random } from '../random.ts';
import { LeastInFlightPicker } from './least-in-flight.ts';
import { PeakEwmaPicker } from './peak-ewma.ts';
import type { Picker } from './picker.ts';
import { RoundRobinPicker } from './round-robin.ts';

export type { Picker, Pickable } from './picker.ts';

/** Builds the picker for an algorithm name (already validated by the config edge). */
export function createPicker(algorithm: BalancingAlgorithm, random: Random): Picker {
  switch (algorithm) {
    case 'round-robin':
      return new RoundRobinPicker();
    case 'least-in-flight':
      return new LeastInFlightPicker(random);
    case 'peak-ewma':
      return new PeakEwmaPicker(random);
  }
}
