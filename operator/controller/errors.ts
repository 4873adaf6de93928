/**
 * The controller's error catalog. Every error the controller raises on purpose has a stable
 * code, whether a retry can help, and its source (the API server, the store's STS, or input).
 */

/** Codes, each with where it comes from. */
export const ErrorCatalog = {
  /** The store's STS refused or failed AssumeRole. */
  StsFailed: { source: 'sts' },
  /** The per-pod Secret exists and belongs to another pod (or was not made by Sluice). */
  IdentityConflict: { source: 'input' },
  /** A store's credentials Secret is missing or lacks keys. */
  CredentialsMissing: { source: 'input' },
  /**
   * A store's credentials Secret is not known yet (its watch has not listed it): the reconcile
   * is retried rather than taking the store for one without credentials and revoking grants.
   */
  CredentialsPending: { source: 'apiserver' },
  /** Operator configuration is invalid (raised at the CLI edge). */
  InvalidConfig: { source: 'input' },
} as const;

export type ControllerErrorCode = keyof typeof ErrorCatalog;

/** An error with a catalog code, a retry flag and an optional cause. */
export class ControllerError extends Error {
  readonly code: ControllerErrorCode;
  readonly retryable: boolean;
  readonly source: string;
  constructor(code: ControllerErrorCode, message: string, retryable: boolean, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ControllerError';
    this.code = code;
    this.retryable = retryable;
    this.source = ErrorCatalog[code].source;
  }
}
