/**
 * The S3 operation classifier: (method, bucket, key, query, headers) → a named operation and the
 * rights it needs. Written as a table ({@link OPERATIONS}) so that what the proxy understands can
 * be read in one place; anything the table does not match exactly is `unknown-operation`, and an
 * unknown operation is denied — the backend may understand a request we do not, so "we don't know
 * what this is" must never mean "let it through".
 *
 * Matching rules (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html):
 * - a rule matches on method, scope (service / bucket / object), the query parameters it
 *   `requires` (sub-resources such as `?acl`, or `uploadId`), and whether `x-amz-copy-source` is
 *   present; the most specific match (most required parameters) wins, a tie is ambiguous;
 * - every other query parameter must be one the rule lists as `optional`, or a signing/SDK
 *   parameter ({@link IGNORED_PARAMS}); an unlisted one (`?torrent` on a PUT, `?ACL`) is unknown;
 * - a parameter given twice is ambiguous (backends disagree on first-wins vs last-wins);
 * - `x-amz-*` query parameters are treated as headers (SigV4 presigning hoists headers into the
 *   query, and a backend may honour them), so a presigned URL cannot smuggle a copy source.
 */
import type { AccessMode, BucketConfigAccess } from '../config/types.ts';
import type { DenyReason } from './errors.ts';
import { CONFIG_WRITE_HEADERS, refusedHeader } from './headers.ts';

/** One right an operation needs; the engine turns each into a grant lookup. */
export type Need =
  /** `access` on the request's (bucket, key). */
  | { kind: 'object'; access: AccessMode }
  /** read on the object named by `x-amz-copy-source`. */
  | { kind: 'copy-source' }
  /**
   * list on the bucket, within the `prefix` query parameter; `withRead`: read there too, from
   * the same grant (a listing that carries object metadata).
   */
  | { kind: 'list'; withRead?: true }
  /** any grant on the bucket (HeadBucket, GetBucketLocation: SDKs probe these). */
  | { kind: 'bucket-any' }
  /** an explicit bucket-configuration right. */
  | { kind: 'config'; access: BucketConfigAccess }
  /** delete on every key of the DeleteObjects body (checked once the body is read). */
  | { kind: 'delete-keys' }
  /** RestoreObject's body is a plain restore, not a SELECT writing elsewhere (checked once read). */
  | { kind: 'restore-request' }
  /** any grant at all (ListBuckets, whose response is filtered to granted buckets). */
  | { kind: 'any-grant' };

export type Scope = 'service' | 'bucket' | 'object';

/** One row of the table. */
export interface OperationRule {
  operation: string;
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  scope: Scope;
  /** Query parameters that must be present: name → exact value, or null for any value. */
  requires?: Readonly<Record<string, string | null>>;
  /** Further query parameters this operation accepts. */
  optional?: readonly string[];
  /** true: x-amz-copy-source must be present; otherwise it must be absent. */
  copySource?: boolean;
  needs: readonly Need[];
}

const RESPONSE_OVERRIDES = [
  'response-cache-control',
  'response-content-disposition',
  'response-content-encoding',
  'response-content-language',
  'response-content-type',
  'response-expires',
];
const GET_OBJECT_PARAMS = ['versionId', 'partNumber', ...RESPONSE_OVERRIDES];
const LIST_V2_PARAMS = [
  'prefix',
  'delimiter',
  'continuation-token',
  'start-after',
  'max-keys',
  'fetch-owner',
  'encoding-type',
  'unsorted', // MinIO's (minio-go ListUnsorted): the order only, the prefix checks stand
];

const LIST_VERSIONS_PARAMS = [
  'prefix',
  'delimiter',
  'key-marker',
  'version-id-marker',
  'max-keys',
  'encoding-type',
];

const read: Need = { kind: 'object', access: 'read' };
const write: Need = { kind: 'object', access: 'write' };
const del: Need = { kind: 'object', access: 'delete' };
const configRead: Need = { kind: 'config', access: 'config-read' };
const configWrite: Need = { kind: 'config', access: 'config-write' };

/**
 * Bucket-configuration sub-resources → the operation-name stem. Reading one needs `config-read`,
 * writing or deleting one `config-write`; never implied by read/write. The backend answers
 * methods a sub-resource does not support (e.g. DELETE ?versioning) with its own error.
 */
const BUCKET_CONFIG: Readonly<Record<string, string>> = {
  acl: 'Acl',
  policy: 'Policy',
  policyStatus: 'PolicyStatus',
  lifecycle: 'LifecycleConfiguration',
  cors: 'Cors',
  versioning: 'Versioning',
  tagging: 'Tagging',
  'object-lock': 'ObjectLockConfiguration',
  notification: 'NotificationConfiguration',
  encryption: 'Encryption',
  replication: 'Replication',
  website: 'Website',
  logging: 'Logging',
  accelerate: 'AccelerateConfiguration',
  requestPayment: 'RequestPayment',
  ownershipControls: 'OwnershipControls',
  publicAccessBlock: 'PublicAccessBlock',
  analytics: 'AnalyticsConfiguration',
  metrics: 'MetricsConfiguration',
  inventory: 'InventoryConfiguration',
  'intelligent-tiering': 'IntelligentTieringConfiguration',
};
/** Configuration sets addressed by id (`?metrics&id=x`). */
const CONFIG_WITH_ID = new Set(['analytics', 'metrics', 'inventory', 'intelligent-tiering']);

function bucketConfigRules(): OperationRule[] {
  const rules: OperationRule[] = [];
  for (const [sub, stem] of Object.entries(BUCKET_CONFIG)) {
    const optional = CONFIG_WITH_ID.has(sub) ? ['id', 'continuation-token'] : [];
    const base = { scope: 'bucket' as const, requires: { [sub]: null }, optional };
    rules.push({ ...base, operation: `GetBucket${stem}`, method: 'GET', needs: [configRead] });
    rules.push({ ...base, operation: `PutBucket${stem}`, method: 'PUT', needs: [configWrite] });
    rules.push({ ...base, operation: `DeleteBucket${stem}`, method: 'DELETE', needs: [configWrite] });
  }
  return rules;
}

/** The table. Order does not matter; specificity decides. */
export const OPERATIONS: readonly OperationRule[] = [
  // Service
  {
    operation: 'ListBuckets',
    method: 'GET',
    scope: 'service',
    optional: ['prefix', 'max-buckets', 'continuation-token', 'bucket-region'],
    needs: [{ kind: 'any-grant' }],
  },

  // Objects: read
  { operation: 'GetObject', method: 'GET', scope: 'object', optional: GET_OBJECT_PARAMS, needs: [read] },
  { operation: 'HeadObject', method: 'HEAD', scope: 'object', optional: GET_OBJECT_PARAMS, needs: [read] },
  {
    operation: 'GetObjectTagging',
    method: 'GET',
    scope: 'object',
    requires: { tagging: null },
    optional: ['versionId'],
    needs: [read],
  },
  {
    operation: 'GetObjectRetention',
    method: 'GET',
    scope: 'object',
    requires: { retention: null },
    optional: ['versionId'],
    needs: [read],
  },
  {
    operation: 'GetObjectLegalHold',
    method: 'GET',
    scope: 'object',
    requires: { 'legal-hold': null },
    optional: ['versionId'],
    needs: [read],
  },
  {
    operation: 'GetObjectAttributes',
    method: 'GET',
    scope: 'object',
    requires: { attributes: null },
    optional: ['versionId', 'max-parts', 'part-number-marker'],
    needs: [read],
  },
  {
    operation: 'GetObjectTorrent',
    method: 'GET',
    scope: 'object',
    requires: { torrent: null },
    needs: [read],
  },
  {
    operation: 'GetObjectAcl',
    method: 'GET',
    scope: 'object',
    requires: { acl: null },
    optional: ['versionId'],
    needs: [read, configRead],
  },
  {
    operation: 'SelectObjectContent',
    method: 'POST',
    scope: 'object',
    requires: { select: null, 'select-type': '2' },
    needs: [read],
  },

  // Objects: write
  { operation: 'PutObject', method: 'PUT', scope: 'object', needs: [write] },
  {
    operation: 'CopyObject',
    method: 'PUT',
    scope: 'object',
    copySource: true,
    needs: [{ kind: 'copy-source' }, write],
  },
  {
    operation: 'PutObjectTagging',
    method: 'PUT',
    scope: 'object',
    requires: { tagging: null },
    optional: ['versionId'],
    needs: [write],
  },
  {
    operation: 'DeleteObjectTagging',
    method: 'DELETE',
    scope: 'object',
    requires: { tagging: null },
    optional: ['versionId'],
    needs: [write],
  },
  // Retention, legal hold and ACLs can make an object undeletable or public: explicit grant too.
  {
    operation: 'PutObjectRetention',
    method: 'PUT',
    scope: 'object',
    requires: { retention: null },
    optional: ['versionId'],
    needs: [write, configWrite],
  },
  {
    operation: 'PutObjectLegalHold',
    method: 'PUT',
    scope: 'object',
    requires: { 'legal-hold': null },
    optional: ['versionId'],
    needs: [write, configWrite],
  },
  {
    operation: 'PutObjectAcl',
    method: 'PUT',
    scope: 'object',
    requires: { acl: null },
    optional: ['versionId'],
    needs: [write, configWrite],
  },
  {
    operation: 'RestoreObject',
    method: 'POST',
    scope: 'object',
    requires: { restore: null },
    optional: ['versionId'],
    needs: [write, { kind: 'restore-request' }],
  },

  // Multipart: every step is checked against the upload's key (S3 binds uploadId to its key, so
  // an uploadId cannot be replayed against another key).
  {
    operation: 'CreateMultipartUpload',
    method: 'POST',
    scope: 'object',
    requires: { uploads: null },
    needs: [write],
  },
  {
    operation: 'UploadPart',
    method: 'PUT',
    scope: 'object',
    requires: { partNumber: null, uploadId: null },
    needs: [write],
  },
  {
    operation: 'UploadPartCopy',
    method: 'PUT',
    scope: 'object',
    requires: { partNumber: null, uploadId: null },
    copySource: true,
    needs: [{ kind: 'copy-source' }, write],
  },
  {
    operation: 'CompleteMultipartUpload',
    method: 'POST',
    scope: 'object',
    requires: { uploadId: null },
    needs: [write],
  },
  {
    operation: 'AbortMultipartUpload',
    method: 'DELETE',
    scope: 'object',
    requires: { uploadId: null },
    needs: [write],
  },
  {
    operation: 'ListParts',
    method: 'GET',
    scope: 'object',
    requires: { uploadId: null },
    optional: ['max-parts', 'part-number-marker', 'encoding-type'],
    needs: [write],
  },

  // Objects: delete
  { operation: 'DeleteObject', method: 'DELETE', scope: 'object', optional: ['versionId'], needs: [del] },
  {
    operation: 'DeleteObjects',
    method: 'POST',
    scope: 'bucket',
    requires: { delete: null },
    needs: [{ kind: 'delete-keys' }],
  },

  // Lists: the prefix parameter must lie within a granted prefix.
  {
    operation: 'ListObjects',
    method: 'GET',
    scope: 'bucket',
    optional: ['prefix', 'delimiter', 'marker', 'max-keys', 'encoding-type'],
    needs: [{ kind: 'list' }],
  },
  {
    operation: 'ListObjectsV2',
    method: 'GET',
    scope: 'bucket',
    requires: { 'list-type': '2' },
    optional: LIST_V2_PARAMS,
    needs: [{ kind: 'list' }],
  },
  {
    // MinIO's extension: the listing carries each object's user metadata, which only a read
    // grant may see. Matching one more parameter, this rule wins over the one above.
    operation: 'ListObjectsV2',
    method: 'GET',
    scope: 'bucket',
    requires: { 'list-type': '2', metadata: null },
    optional: LIST_V2_PARAMS,
    needs: [{ kind: 'list', withRead: true }],
  },
  {
    operation: 'ListObjectVersions',
    method: 'GET',
    scope: 'bucket',
    requires: { versions: null },
    optional: LIST_VERSIONS_PARAMS,
    needs: [{ kind: 'list' }],
  },
  {
    // MinIO's extension again (minio-go ListObjects with WithVersions and WithMetadata).
    operation: 'ListObjectVersions',
    method: 'GET',
    scope: 'bucket',
    requires: { versions: null, metadata: null },
    optional: LIST_VERSIONS_PARAMS,
    needs: [{ kind: 'list', withRead: true }],
  },
  {
    operation: 'ListMultipartUploads',
    method: 'GET',
    scope: 'bucket',
    requires: { uploads: null },
    optional: ['prefix', 'delimiter', 'key-marker', 'upload-id-marker', 'max-uploads', 'encoding-type'],
    needs: [{ kind: 'list' }],
  },

  // Buckets
  { operation: 'HeadBucket', method: 'HEAD', scope: 'bucket', needs: [{ kind: 'bucket-any' }] },
  {
    operation: 'GetBucketLocation',
    method: 'GET',
    scope: 'bucket',
    requires: { location: null },
    needs: [{ kind: 'bucket-any' }],
  },
  {
    operation: 'CreateBucket',
    method: 'PUT',
    scope: 'bucket',
    needs: [{ kind: 'config', access: 'create-bucket' }],
  },
  {
    operation: 'DeleteBucket',
    method: 'DELETE',
    scope: 'bucket',
    needs: [{ kind: 'config', access: 'delete-bucket' }],
  },
  ...bucketConfigRules(),
];

/**
 * Query parameters that never change the operation: SDK hints (`x-id`) and the client's own
 * signature (stripped by the proxy before re-signing). Compared case-sensitively, as S3 does.
 */
export const IGNORED_PARAMS: ReadonlySet<string> = new Set([
  'x-id',
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
  'X-Amz-Security-Token',
  'X-Amz-Region-Set', // SigV4a
  'AWSAccessKeyId',
  'Signature',
  'Expires',
]);

/**
 * Headers that add a need to whatever operation carries them on a mutating request
 * (./headers.ts CONFIG_WRITE_HEADERS): they need an explicit `config-write` grant.
 */
export const HEADER_NEEDS: readonly { header: string; need: Need }[] = CONFIG_WRITE_HEADERS.map((header) => ({
  header,
  need: configWrite,
}));

/** What the classifier needs to see of a request; all values already decoded exactly once. */
export interface ClassifyInput {
  method: string;
  bucket: string | undefined;
  key: string | undefined;
  query: URLSearchParams;
  /** Lower-cased header names. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

export type Classification =
  | {
      ok: true;
      operation: string;
      /** Shared with the operation table: do not modify. */
      needs: readonly Need[];
      /** The effective headers: request headers merged with hoisted `x-amz-*` query parameters. */
      headers: Readonly<Record<string, string | undefined>>;
    }
  | { ok: false; operation: string; reason: DenyReason; message: string };

function scopeOf(bucket: string | undefined, key: string | undefined): Scope {
  if (bucket === undefined) return 'service';
  return key === undefined ? 'bucket' : 'object';
}

/**
 * Headers as the backend will see them: `x-amz-*` query parameters (other than the client's
 * signature) count as headers. A header given twice, or given both ways with different values,
 * is ambiguous.
 */
function effectiveHeaders(
  input: ClassifyInput,
  hoists: boolean,
): Readonly<Record<string, string | undefined>> | string {
  // The common case — no x-amz-* query parameter to hoist (`hoists`, from classify's pass over the
  // query), no header given as a list — needs no copy: the request's headers are the effective
  // ones (classify runs on every request).
  if (!hoists && !hasListHeader(input)) return input.headers as Readonly<Record<string, string | undefined>>;
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(input.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      if (name.startsWith('x-amz-') && value.length > 1) return `header ${name} is given more than once`;
      out[name] = value.join(', ');
    } else {
      out[name] = value;
    }
  }
  for (const [name, value] of input.query) {
    if (!isHoisted(name)) continue;
    const lower = name.toLowerCase();
    const existing = out[lower];
    if (existing !== undefined && existing !== value) return `${lower} differs between header and query`;
    out[lower] = value;
  }
  return out;
}

/** An `x-amz-*` query parameter that counts as a header (not the client's own signature). */
function isHoisted(name: string): boolean {
  return !IGNORED_PARAMS.has(name) && name.toLowerCase().startsWith('x-amz-');
}

function hasListHeader(input: ClassifyInput): boolean {
  for (const name in input.headers) if (Array.isArray(input.headers[name])) return true;
  return false;
}

/** A rule with its required query parameters as a list, made once. */
interface IndexedRule {
  rule: OperationRule;
  requires: readonly (readonly [string, string | null])[];
}

/**
 * {@link OPERATIONS} by method, then scope, in table order: a request looks at the few rules that
 * can match it, without listing any rule's requirements again (classify runs on every request).
 */
const RULES_BY_METHOD: ReadonlyMap<string, ReadonlyMap<Scope, readonly IndexedRule[]>> = (() => {
  const byMethod = new Map<string, Map<Scope, IndexedRule[]>>();
  for (const rule of OPERATIONS) {
    let byScope = byMethod.get(rule.method);
    if (!byScope) byMethod.set(rule.method, (byScope = new Map<Scope, IndexedRule[]>()));
    let list = byScope.get(rule.scope);
    if (!list) byScope.set(rule.scope, (list = []));
    list.push({ rule, requires: Object.entries(rule.requires ?? {}) });
  }
  return byMethod;
})();

function candidateRules(method: string, scope: Scope): readonly IndexedRule[] {
  return RULES_BY_METHOD.get(method)?.get(scope) ?? [];
}

function unknownOperation(message: string): Classification {
  return { ok: false, operation: 'Unknown', reason: 'unknown-operation', message };
}

/** True when the request's query carries every parameter `requires` names, with its value if set. */
function meetsRequires(query: URLSearchParams, requires: IndexedRule['requires']): boolean {
  for (let i = 0; i < requires.length; i++) {
    const [name, value] = requires[i]!;
    const got = query.get(name);
    if (got === null || (value !== null && got !== value)) return false;
  }
  return true;
}

/** A Content-Type MinIO may read as multipart/form-data (see its use in {@link classify}). */
function isFormUploadType(contentType: string): boolean {
  return /multipart\/form-data/i.test(contentType) || /[^\t\x20-\x7e]/.test(contentType);
}

/**
 * Classifies one request. Pure; never throws. It runs on every request, so the common case (no
 * query, no extra need) allocates only the result.
 */
export function classify(input: ClassifyInput): Classification {
  const method = input.method.toUpperCase();
  const scope = scopeOf(input.bucket, input.key);

  const seen = input.query.size === 0 ? undefined : new Set<string>();
  let hoists = false;
  if (seen !== undefined) {
    for (const name of input.query.keys()) {
      if (seen.has(name)) {
        return {
          ok: false,
          operation: 'Unknown',
          reason: 'ambiguous-request',
          message: `query parameter ${name} is repeated`,
        };
      }
      seen.add(name);
      if (!hoists) hoists = isHoisted(name);
    }
  }
  const headers = effectiveHeaders(input, hoists);
  if (typeof headers === 'string') {
    return { ok: false, operation: 'Unknown', reason: 'ambiguous-request', message: headers };
  }
  const refused = refusedHeader(headers);
  if (refused !== undefined) {
    return {
      ok: false,
      operation: 'Unknown',
      reason: refused.reason,
      message:
        refused.reason === 'store-extension'
          ? `header ${refused.name} is a store extension the proxy does not pass on`
          : `header ${refused.name} is not an S3 request header the proxy passes on`,
    };
  }
  // A browser form upload (POST Object) names its key in the body, which the policy does not read;
  // MinIO takes any multipart/form-data POST for one, whatever the query says (`?delete`). It
  // reads the media type with Go's mime.ParseMediaType, which trims Unicode spaces: a value
  // mentioning it anywhere, or holding a byte beyond ASCII (Node reads header bytes as Latin-1,
  // so "\xC2\xA0multipart/form-data" starts with "Â" here and with a space there), is refused.
  if (method === 'POST' && isFormUploadType(headers['content-type'] ?? '')) {
    return unknownOperation('browser form uploads (POST with multipart/form-data) are not passed on');
  }
  const hasCopySource = headers['x-amz-copy-source'] !== undefined;

  // The rule requiring the most query parameters wins; a tie between two is ambiguous.
  let rule: OperationRule | undefined;
  let tied: OperationRule[] | undefined;
  let bestScore = -1;
  for (const { rule: candidate, requires } of candidateRules(method, scope)) {
    if ((candidate.copySource ?? false) !== hasCopySource) continue;
    if (requires.length > 0 && !meetsRequires(input.query, requires)) continue;
    if (requires.length > bestScore) {
      rule = candidate;
      tied = undefined;
      bestScore = requires.length;
    } else if (requires.length === bestScore) {
      (tied ??= [rule!]).push(candidate);
    }
  }
  if (!rule)
    return unknownOperation(
      `no S3 operation matches ${method} on a ${scope}${hasCopySource ? ' with x-amz-copy-source' : ''}`,
    );
  if (tied !== undefined) {
    return {
      ok: false,
      operation: 'Unknown',
      reason: 'ambiguous-request',
      message: `request matches ${tied.map((r) => r.operation).join(' and ')}`,
    };
  }
  if (seen !== undefined)
    for (const name of seen) {
      if (IGNORED_PARAMS.has(name) || name.toLowerCase().startsWith('x-amz-')) continue;
      if (rule.requires && name in rule.requires) continue;
      if (rule.optional?.includes(name)) continue;
      return {
        ok: false,
        operation: rule.operation,
        reason: 'unknown-operation',
        message: `query parameter ${name} is not understood for ${rule.operation}`,
      };
    }

  let needs: readonly Need[] = rule.needs;
  if (method !== 'GET' && method !== 'HEAD') {
    for (const { header, need } of HEADER_NEEDS) {
      const value = headers[header];
      if (value === undefined || (header === 'x-amz-acl' && OWNER_ONLY_ACLS.has(value))) continue;
      if (!needs.some((n) => sameNeed(n, need))) needs = [...needs, need];
    }
  }
  return { ok: true, operation: rule.operation, needs, headers };
}

/**
 * Canned ACLs that give no one but the owners anything, what a write without the header gets:
 * rclone's `acl = private` (offered first by `rclone config`) and the AWS CLI's
 * `--acl bucket-owner-full-control` send them on every upload. They need no config-write.
 * (A repeated header is an array here, and never matches.)
 */
const OWNER_ONLY_ACLS: ReadonlySet<unknown> = new Set(['private', 'bucket-owner-full-control']);

function sameNeed(a: Need, b: Need): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
