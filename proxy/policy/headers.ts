/**
 * Which `x-amz-*` request headers the proxy passes on. A store picks behaviour from headers the
 * operation table never sees: MinIO unpacks a PUT of a tar to the keys the tar names when it
 * carries `x-amz-meta-snowball-auto-extract`, and deletes an object-locked version for good when a
 * DELETE carries `x-amz-replication-status: REPLICA`. So the `x-amz-*` headers (and `x-amz-*`
 * query parameters, which stores read as headers) are an allow-list — the request headers the S3
 * API defines — and anything else is refused, never passed on and never silently dropped
 * (dropping `x-amz-server-side-encryption` would store data unencrypted).
 *
 * User metadata (`x-amz-meta-*`) passes, except names a store reads as instructions: MinIO's
 * `x-amz-meta-snowball-*` and `x-amz-meta-minio-*`. MinIO's own `x-minio-*` headers are refused
 * whole.
 */

/**
 * Headers that add a need to whatever operation carries them on a mutating request (operations.ts
 * HEADER_NEEDS): canned ACLs and grants can make objects public, object-lock settings and
 * governance bypass can make data undeletable or delete protected data.
 */
export const CONFIG_WRITE_HEADERS: readonly string[] = [
  'x-amz-acl',
  'x-amz-grant-read',
  'x-amz-grant-write',
  'x-amz-grant-read-acp',
  'x-amz-grant-write-acp',
  'x-amz-grant-full-control',
  'x-amz-object-lock-mode',
  'x-amz-object-lock-retain-until-date',
  'x-amz-object-lock-legal-hold',
  'x-amz-bypass-governance-retention',
];

/** The S3 API's request headers (names lower-cased), by what they are for. */
export const KNOWN_AMZ_HEADERS: ReadonlySet<string> = new Set([
  // Signing and payload (the client's are replaced; SDKs send them on every request).
  'x-amz-content-sha256',
  'x-amz-date',
  'x-amz-security-token',
  // SigV4a (AWS4-ECDSA-P256-SHA256): the regions the client's signature covers.
  'x-amz-region-set',
  'x-amz-decoded-content-length',
  'x-amz-trailer',
  'x-amz-user-agent',
  'x-amz-sdk-checksum-algorithm',
  // x-amz-checksum-* (crc32, sha256, md5, xxhash…, -type, -mode, -algorithm) pass by prefix: only
  // integrity checks, and the SDKs add algorithms release by release.
  // The Java SDK v2 asks for an MD5 trailer on every GetObject (integrity, nothing else).
  'x-amz-te',
  'x-amz-expected-bucket-owner',
  'x-amz-source-expected-bucket-owner',
  'x-amz-request-payer',
  'x-amz-mfa',
  // Object writes: storage, encryption, tagging, redirects.
  'x-amz-storage-class',
  'x-amz-website-redirect-location',
  'x-amz-tagging',
  'x-amz-server-side-encryption',
  'x-amz-server-side-encryption-aws-kms-key-id',
  'x-amz-server-side-encryption-context',
  'x-amz-server-side-encryption-bucket-key-enabled',
  'x-amz-server-side-encryption-customer-algorithm',
  'x-amz-server-side-encryption-customer-key',
  'x-amz-server-side-encryption-customer-key-md5',
  'x-amz-write-offset-bytes',
  'x-amz-mp-object-size',
  // Copies (the source is checked by the policy; these only qualify it).
  'x-amz-copy-source',
  'x-amz-copy-source-range',
  'x-amz-copy-source-if-match',
  'x-amz-copy-source-if-none-match',
  'x-amz-copy-source-if-modified-since',
  'x-amz-copy-source-if-unmodified-since',
  'x-amz-copy-source-server-side-encryption-customer-algorithm',
  'x-amz-copy-source-server-side-encryption-customer-key',
  'x-amz-copy-source-server-side-encryption-customer-key-md5',
  'x-amz-metadata-directive',
  'x-amz-tagging-directive',
  // Conditional deletes.
  'x-amz-if-match-last-modified-time',
  'x-amz-if-match-size',
  'x-amz-if-match-initiated-time',
  // Reads and listings.
  'x-amz-object-attributes',
  'x-amz-max-parts',
  'x-amz-part-number-marker',
  'x-amz-optional-object-attributes',
  // Bucket creation.
  'x-amz-bucket-object-lock-enabled',
  'x-amz-bucket-object-lock-token',
  'x-amz-object-ownership',
  // Bucket configuration (the operation itself needs config-write).
  'x-amz-confirm-remove-self-bucket-access',
  'x-amz-transition-default-minimum-object-size',
  'x-amz-skip-destination-validation',
  ...CONFIG_WRITE_HEADERS,
]);

/**
 * User-metadata names a store reads as instructions (after `x-amz-meta-`). Not `x-amz-*`: the S3
 * Encryption Client keeps its envelope there (`x-amz-meta-x-amz-key-v2`, `-iv`, `-cek-alg`), and
 * MinIO drops the two names of that family it reserves (`-unencrypted-content-length`, `-md5`).
 */
const STORE_METADATA_PREFIXES = ['snowball-', 'minio-', 'x-minio-'];

export type HeaderRefusal = { name: string; reason: 'store-extension' | 'unsupported-header' };

/** The first header of `headers` (lower-cased names) the proxy does not pass on, if any. */
export function refusedHeader(headers: Readonly<Record<string, unknown>>): HeaderRefusal | undefined {
  for (const name in headers) {
    // Most headers are not x-amz-* or x-minio-*: one character test each.
    if (name.charCodeAt(0) !== 0x78 /* x */) continue;
    if (name.startsWith('x-minio-')) return { name, reason: 'store-extension' };
    if (!name.startsWith('x-amz-')) continue;
    if (name.startsWith('x-amz-meta-')) {
      const rest = name.slice(11);
      if (STORE_METADATA_PREFIXES.some((p) => rest.startsWith(p))) return { name, reason: 'store-extension' };
      continue;
    }
    if (name.startsWith('x-amz-snowball-')) return { name, reason: 'store-extension' };
    if (!KNOWN_AMZ_HEADERS.has(name) && !name.startsWith('x-amz-checksum-'))
      return { name, reason: 'unsupported-header' };
  }
  return undefined;
}
