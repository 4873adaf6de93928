import { randomIndex, type Random } from '../random.ts';

/**
 * Power of two choices (Mitzenmacher): draws two distinct candidates uniformly and returns the one
 * with the lower score (the first on a tie). Never returns the worse of the two it drew, and with
 * one candidate returns it. Shared by the least-in-flight and peak-EWMA pickers.
 */
export function pickTwo<T>(candidates: readonly T[], random: Random, score: (c: T) => number): T | undefined {
  const n = candidates.length;
  if (n <= 1) return candidates[0];
  const i = randomIndex(random, n);
  let j = randomIndex(random, n - 1);
  if (j >= i) j += 1;
  const a = candidates[i] as T;
  const b = candidates[j] as T;
  return score(b) < score(a) ? b : a;
}
