/**
 * The balancer's error catalog: every error it raises, with the S3 error code and HTTP status the
 * proxy answers with, where the fault lies, and whether a client may retry.
 */

/** Where an error originates (pingora's ErrorSource). */
export type ErrorSource = 'upstream' | 'downstream' | 'internal';

interface CatalogEntry {
  code: string;
  s3Code: string;
  status: number;
  source: ErrorSource;
  retryable: boolean;
  message: string;
}

/** Every balancer error, by stable code. */
export const BalancerErrors = {
  NO_BACKEND: {
    code: 'SLUICE_BALANCER_NO_BACKEND',
    s3Code: 'ServiceUnavailable',
    status: 503,
    source: 'upstream',
    retryable: true,
    message: 'No backend of this store can take the request now',
  },
  CONFIG: {
    code: 'SLUICE_BALANCER_CONFIG',
    s3Code: 'InternalError',
    status: 500,
    source: 'internal',
    retryable: false,
    message: 'Invalid balancing configuration',
  },
  POOL_CLOSED: {
    code: 'SLUICE_BALANCER_POOL_CLOSED',
    s3Code: 'ServiceUnavailable',
    status: 503,
    source: 'internal',
    retryable: true,
    message: 'The backend pool is shutting down',
  },
} as const satisfies Record<string, CatalogEntry>;

/** An error from the catalog, carrying its S3 code, status, source and retry flag. */
export class BalancerError extends Error {
  readonly code: string;
  readonly s3Code: string;
  readonly status: number;
  readonly source: ErrorSource;
  readonly retryable: boolean;

  constructor(entry: CatalogEntry, detail?: string, options?: { cause?: unknown }) {
    super(detail === undefined ? entry.message : `${entry.message}: ${detail}`, options);
    this.name = 'BalancerError';
    this.code = entry.code;
    this.s3Code = entry.s3Code;
    this.status = entry.status;
    this.source = entry.source;
    this.retryable = entry.retryable;
  }
}
