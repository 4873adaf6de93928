/**
 * The open-loop schedule both load generators share (as wrk2 does): request n is due at
 * `n / rate` seconds after the start; at most `maxInFlight` run at once; a request that waits for
 * a slot keeps its due time, so callers measuring from it count every stall against every request
 * it delayed (no coordinated omission).
 */

/**
 * Calls `send(n, dueMs)` for n = 0 … total−1 at `rate` per second from `start`
 * (performance.now() ms); `dueMs` is the request's due time on the same clock. Resolves when
 * every send has settled.
 */
export function openLoop(
  start: number,
  total: number,
  rate: number,
  maxInFlight: number,
  send: (n: number, dueMs: number) => Promise<void>,
): Promise<void> {
  const intervalMs = 1000 / rate;
  let next = 0;
  let inFlight = 0;
  let timer: NodeJS.Timeout | undefined;
  return new Promise<void>((resolve) => {
    if (total <= 0) return resolve();
    // Issues every request that is due, as slots allow; one timer re-arms it for the next due
    // time, and each completion pumps too so a full window resumes at once.
    const pump = (): void => {
      clearTimeout(timer);
      timer = undefined;
      while (next < total && start + next * intervalMs <= performance.now() && inFlight < maxInFlight) {
        const n = next++;
        inFlight++;
        void send(n, start + n * intervalMs)
          .catch(() => undefined)
          .finally(() => {
            inFlight--;
            if (next >= total && inFlight === 0) resolve();
            else pump();
          });
      }
      if (next < total && inFlight < maxInFlight) {
        timer = setTimeout(pump, Math.max(0, start + next * intervalMs - performance.now()));
      }
    };
    pump();
  });
}
