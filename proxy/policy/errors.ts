/**
 * The policy component's error catalog: every way the policy refuses a request, as data. Each
 * reason carries the S3 error code and HTTP status the client sees, where the fault lies and
 * whether retrying could help (never, for a policy decision: the same request gets the same
 * answer until the policy changes).
 *
 * Reasons are stable strings: they label the `sluice_policy_denials_total` metric, appear in the
 * access log and in `sluice policy check`, so renaming one is a breaking change.
 */

/** Why a request was refused. */
export type DenyReason =
  /** No grant covers the operation's rights. */
  | 'no-grant'
  /** The classifier does not know this (method, target, query, headers) shape. */
  | 'unknown-operation'
  /** Two operations match, or a parameter appears twice: the backend could read it either way. */
  | 'ambiguous-request'
  /** The request target or Host could address something other than what it seems to. */
  | 'bad-target'
  /** x-amz-copy-source is missing, malformed or ambiguous. */
  | 'bad-copy-source'
  /** A copy between buckets of different stores: the backend cannot do it and we must not try. */
  | 'cross-store-copy'
  /** A list request without a prefix, or with one outside the granted prefixes. */
  | 'list-prefix'
  /** A DeleteObjects body that is not the small, well-formed XML document S3 defines. */
  | 'malformed-delete'
  /** A DeleteObjects body larger than the bound, or more than 1000 keys. */
  | 'delete-too-large'
  /** A RestoreObject of type SELECT (its results written to a location the body names), or a body that is not a RestoreRequest. */
  | 'restore-select'
  /** A bucket name the backend reserves for itself (MinIO's admin and health APIs). */
  | 'reserved-bucket'
  /**
   * On a store addressed virtually, a key whose first segment is a path the backend serves its
   * own API under (MinIO's `minio/`, Ceph RGW's `admin/`): see engine.ts reservedKeyRoots.
   */
  | 'reserved-path'
  /** No policy is loaded (fail closed). */
  | 'no-policy'
  /**
   * A store's own extension header that acts beyond what the policy sees: MinIO's `x-minio-*`
   * (force-delete of a bucket with its objects, reads inside archives) and
   * MinIO's instructions in user metadata (`x-amz-meta-snowball-auto-extract`: a PUT of a tar
   * unpacked to keys the tar names). See ./headers.ts.
   */
  | 'store-extension'
  /** An `x-amz-*` header the S3 API does not define for requests (./headers.ts). */
  | 'unsupported-header';

/** How one reason surfaces to the client. */
export interface DenyKind {
  s3Code: string;
  status: number;
  /** The client sent it; the policy refused it. */
  source: 'downstream';
  retryable: false;
}

const denied: DenyKind = { s3Code: 'AccessDenied', status: 403, source: 'downstream', retryable: false };
const invalid: DenyKind = { s3Code: 'InvalidRequest', status: 400, source: 'downstream', retryable: false };

/** Reason → S3 code and status. A refusal is AccessDenied unless the request itself is malformed. */
export const DENY_KINDS: Readonly<Record<DenyReason, DenyKind>> = {
  'no-grant': denied,
  'unknown-operation': denied,
  'ambiguous-request': invalid,
  'bad-target': invalid,
  'bad-copy-source': { ...invalid, s3Code: 'InvalidArgument' },
  'cross-store-copy': denied,
  'list-prefix': denied,
  'malformed-delete': { ...invalid, s3Code: 'MalformedXML' },
  'delete-too-large': { ...invalid, s3Code: 'MalformedXML' },
  'restore-select': denied,
  'reserved-bucket': denied,
  'reserved-path': denied,
  'no-policy': denied,
  'store-extension': denied,
  // S3's own answer to a header that implies functionality it does not implement.
  'unsupported-header': { ...invalid, s3Code: 'NotImplemented', status: 501 },
};

/** Every reason, for pre-initialising metric label sets. */
export const DENY_REASONS = Object.keys(DENY_KINDS) as DenyReason[];

/** A policy document that failed validation; `field` names the bad field (`grants[2].access[0]`). */
export class PolicyValidationError extends Error {
  readonly code = 'SLUICE_POLICY_INVALID';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'PolicyValidationError';
    this.field = field;
  }
}
