/**
 * Whether a failed attempt may be tried again on a different backend, and how long to wait.
 * Pure: the request path supplies what happened, these functions decide.
 *
 * A retry is allowed only when both hold:
 * - the attempt failed before any response byte reached the client: connect refused, reset or
 *   timeout before headers, or a 503 (S3 SlowDown / ServiceUnavailable) whose body was not
 *   forwarded;
 * - the request is safe to repeat: an idempotent method (RFC 9110 §9.2.2 — S3 PUT and DELETE of
 *   one key are idempotent, POST is not), and the body is replayable or was never sent.
 *   When the request may have reached the backend (reset, timeout, 503) only safe methods
 *   (GET, HEAD, OPTIONS; RFC 9110 §9.2.1) are repeated: S3's idempotent writes repeat their
 *   effect but not their answer (a repeated CreateBucket gets 409 BucketAlreadyOwnedByYou, a
 *   repeated DeleteBucket 404), so the client would see an error for a request that worked.
 *   A refused connection never reached anyone and is retried for every idempotent method.
 * Then the retry budget must have room (./retry-budget.ts).
 */
import type { Random } from './random.ts';
import type { AttemptOutcome } from './types.ts';

/** What the request path knows about the request when an attempt failed. */
export interface RetryRequest {
  method: string;
  /** True when the request has no body, or the body is buffered and can be sent again. */
  bodyReplayable: boolean;
  /** True once any body byte was read from the client for this attempt. */
  bodySent: boolean;
  /** True once any response byte (status line included) was sent to the client. */
  responseStarted: boolean;
}

/** Methods whose repetition has the same effect as one request. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** Methods without effect: repeating one after it may have been processed changes nothing. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Why a failed attempt is or is not retried (for logs and metrics labels). */
export type RetryVerdict =
  | { retry: true; reason: 'connect' | 'queued' | 'reset' | 'timeout' | 'slow-down' }
  | {
      retry: false;
      reason:
        'response-started' | 'not-retryable-outcome' | 'unsafe-method' | 'maybe-processed' | 'body-consumed';
    };

/** True for an outcome that failed before the backend produced a usable response. */
export function isRetryableOutcome(outcome: AttemptOutcome): boolean {
  return retryableReason(outcome) !== undefined;
}

function retryableReason(
  outcome: AttemptOutcome,
): 'connect' | 'queued' | 'reset' | 'timeout' | 'slow-down' | undefined {
  const f = outcome.failure;
  if (f === 'connect' || f === 'queued' || f === 'reset' || f === 'timeout') return f;
  if (f === undefined && outcome.status === 503) return 'slow-down';
  return undefined;
}

/** Decides whether one failed attempt may be retried (budget and attempt count aside). */
export function retryVerdict(req: RetryRequest, outcome: AttemptOutcome): RetryVerdict {
  if (req.responseStarted) return { retry: false, reason: 'response-started' };
  const reason = retryableReason(outcome);
  if (reason === undefined) return { retry: false, reason: 'not-retryable-outcome' };
  const method = req.method.toUpperCase();
  if (!IDEMPOTENT_METHODS.has(method)) return { retry: false, reason: 'unsafe-method' };
  // Nothing reached the backend (refused, or never left our queue): any idempotent method may go again.
  const unsent = reason === 'connect' || reason === 'queued';
  if (!unsent && !SAFE_METHODS.has(method)) return { retry: false, reason: 'maybe-processed' };
  if (req.bodySent && !req.bodyReplayable) return { retry: false, reason: 'body-consumed' };
  return { retry: true, reason };
}

/** Backoff options (ms). */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/**
 * "Full jitter" exponential backoff (AWS Architecture Blog, 2015): a uniform delay in
 * [0, min(max, base × 2^(retry−1))]. `retry` counts from 1. Jitter keeps many sidecars that saw
 * the same failure from retrying in lockstep.
 */
export function backoffMs(retry: number, opts: BackoffOptions, random: Random): number {
  const ceiling = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.max(0, retry - 1));
  return random() * ceiling;
}
