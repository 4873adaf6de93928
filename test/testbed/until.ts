/**
 * Polls a condition until it holds, bounded by a number of polls rather than a deadline — a bound
 * on how long a test may wait, never an assertion about how fast something happened.
 */
import assert from 'node:assert/strict';

/** Polls `cond` every `everyMs` (default 100), at most `polls` times (default 600), then fails. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  { polls = 600, everyMs = 100 }: { polls?: number; everyMs?: number } = {},
): Promise<void> {
  for (let i = 0; i < polls; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  assert.fail(`never reached: ${what}`);
}
