/**
 * The proxy's logger (pino, JSON lines) and its access-log line. One line per request, written
 * when the response closes. It carries identifiers, sizes and durations — never credentials,
 * Authorization headers or query strings (presigned URLs carry signatures in the query).
 */
import pino from 'pino';
import type { DestinationStream, Logger } from 'pino';

export type { Logger } from 'pino';

/** Creates the proxy logger. `dest` is for tests (default: stdout). */
export function createLogger(level: string, dest?: DestinationStream): Logger {
  return pino({ level, base: { component: 'sluice-proxy' }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

/** The fields of one access-log line. */
export interface AccessLogLine {
  requestId: string;
  backendRequestId: string | undefined;
  method: string;
  operation: string;
  bucket: string | undefined;
  key: string | undefined;
  status: number;
  errorCode: string | undefined;
  clientAuth: string | undefined;
  payload: string | undefined;
  store: string | undefined;
  /** The grants that allowed the request (`grant:<source>,…`) or why the policy denied it (`deny:<reason>`). */
  policy: string | undefined;
  backend: string | undefined;
  bytesIn: number;
  bytesOut: number;
  /** Total time, ms. */
  durationMs: number;
  /** Dispatch → backend response headers, ms. */
  backendHeadersMs: number | undefined;
  /** How the request ended: "ok", "client-aborted", "backend-aborted", "timeout". */
  outcome: string;
}

/** Writes one access-log line. */
export function logAccess(log: Logger, line: AccessLogLine): void {
  log.info({ access: line }, 'request');
}
