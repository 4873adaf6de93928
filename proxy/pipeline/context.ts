/**
 * The one typed per-request context every phase reads and writes. Phases run in the order of
 * {@link PHASES}; a new feature finds its phase and the fields it needs here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Backend, BackendPool } from '../balancer/types.ts';
import type { ProxyError } from '../errors.ts';
import type { BodyChunkLedger } from '../http1/release.ts';
import type { Decision } from '../policy/index.ts';
import type { S3Target } from '../s3/target.ts';
import type { CanonicalParts } from '../sigv4/canonical-request.ts';
import type { ClientAuthKind } from '../sigv4/client-auth.ts';
import type { PayloadMode } from '../sigv4/payload.ts';

/**
 * The request path as data, in order:
 *  - parse: request target → (bucket, key, query), payload mode, client auth stripped
 *  - authorize: the policy decides (before any body byte and before 100 Continue)
 *    (future: user hook modules run here, after the built-in policy)
 *  - (future: read cache lookup goes here, between authorize and route — identity is known)
 *  - route: the store's BackendPool picks a backend
 *  - sign: upstream request built and signed for that backend
 *  - forward: dispatched with streaming bodies; the balancer may retry forward on another backend
 *  - respond: backend headers/body streamed to the client (future: cache fill, response hooks)
 *  - log: access-log line and metrics when the response closes
 * Tracing (OpenTelemetry) wraps each phase by name; `ctx.phase` is what a span would carry.
 */
export const PHASES = ['parse', 'authorize', 'route', 'sign', 'forward', 'respond', 'log'] as const;
export type PhaseName = (typeof PHASES)[number];

/** The request as it will be sent upstream, minus what depends on the backend (Host, signature). */
export interface UpstreamRequest {
  method: string;
  /** Encoded path when the bucket goes in the Host header (virtual addressing). */
  virtualPath: string;
  /**
   * What is signed, canonical already (path-style path, canonical query, sorted signed headers
   * with x-amz-content-sha256): each attempt only adds host and the date (sigv4/signer.ts).
   */
  canonical: CanonicalParts;
  /** Forwarded headers, signed ones included, flat [name, value, …]; not host, date, auth. */
  headers: string[];
  /** Request body stream (the client request or a decoder over it), undefined when none. */
  body: Readable | undefined;
  /** How the backend client may free the body's memory once written (proxy/http1/types.ts). */
  releaseBody: boolean | BodyChunkLedger;
  /** How signed header values are folded for this store (config/types.ts StoreSpec.provider). */
  foldHeaderValue: (v: string) => string;
}

/** Per-request state. Fields are filled by the phase named in their comment. */
export interface RequestContext {
  readonly id: string;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** performance.now() at request start. */
  readonly startedAt: number;
  /** The client sent `Expect: 100-continue` and waits for our go-ahead. */
  readonly expectContinue: boolean;
  phase: PhaseName;
  /** parse */
  target: S3Target | undefined;
  payload: PayloadMode | undefined;
  clientAuth: ClientAuthKind | undefined;
  /** authorize */
  operation: string;
  store: string | undefined;
  /** The policy's allow decision (carries DeleteObjects / ListBuckets follow-ups). */
  decision: Extract<Decision, { allow: true }> | undefined;
  /** authorize: the grants that matched (`grant:team-a/rw`) or the denial (`deny:no-grant`), for the access log. */
  policy: string | undefined;
  /** route */
  pool: BackendPool | undefined;
  backend: Backend | undefined;
  /** sign */
  upstream: UpstreamRequest | undefined;
  /**
   * authorize/respond: rewrite a 200 response body (bounded, buffered) before it goes out —
   * ListBuckets filtering today; the place for response hooks tomorrow. The transform gets the
   * backend's headers (flat [name, value, …]) and returns undefined when it cannot rewrite the
   * body (fail closed: the client gets an error, not the unfiltered body).
   */
  responseTransform:
    { maxBytes: number; transform(body: Buffer, headers: readonly string[]): Buffer | undefined } | undefined;
  /**
   * route: set per attempt by the balancer's retry runner when another attempt is still possible;
   * forward then holds back a 503 or a small response until complete, so a failure inside it is
   * retried elsewhere instead of reaching the client.
   */
  holdForRetry: boolean;
  /** forward / respond */
  status: number;
  backendRequestId: string | undefined;
  backendHeadersMs: number | undefined;
  bytesIn: number;
  bytesOut: number;
  error: ProxyError | undefined;
  outcome: 'ok' | 'client-aborted' | 'backend-aborted' | 'timeout' | 'error';
  /** Answer with `Connection: close` (draining, keep-alive bounds, unread body). */
  closeConnection: boolean;
}

/** A fresh context for one request. */
export function createContext(
  id: string,
  req: IncomingMessage,
  res: ServerResponse,
  expectContinue: boolean,
  closeConnection: boolean,
): RequestContext {
  return {
    id,
    req,
    res,
    startedAt: performance.now(),
    expectContinue,
    phase: 'parse',
    target: undefined,
    payload: undefined,
    clientAuth: undefined,
    operation: 'Unknown',
    store: undefined,
    decision: undefined,
    policy: undefined,
    pool: undefined,
    backend: undefined,
    upstream: undefined,
    responseTransform: undefined,
    holdForRetry: false,
    status: 0,
    backendRequestId: undefined,
    backendHeadersMs: undefined,
    bytesIn: 0,
    bytesOut: 0,
    error: undefined,
    outcome: 'ok',
    closeConnection,
  };
}

let seq = 0;
const prefix = Math.floor(Math.random() * 0xffffffff)
  .toString(16)
  .toUpperCase()
  .padStart(8, '0');

/** A process-unique, S3-style request id (16 upper-case hex digits), cheap to make. */
export function nextRequestId(): string {
  seq = (seq + 1) >>> 0;
  return prefix + seq.toString(16).toUpperCase().padStart(8, '0');
}
