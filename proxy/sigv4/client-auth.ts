/**
 * What a client sends to authenticate itself — which the proxy removes, never trusts and never
 * forwards: the sidecar replaces client identity with the pod's grants and the store's keys.
 * Covers header SigV4, SigV2 (`AWS key:sig`), presigned SigV4 (`X-Amz-*` query parameters) and
 * presigned SigV2 (`AWSAccessKeyId`, `Signature`, `Expires`).
 */

/** Presigned-URL query parameters (compared lower-cased). */
const PRESIGN_PARAMS = new Set([
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-signedheaders',
  'x-amz-signature',
  'x-amz-security-token',
  'x-amz-region-set', // SigV4a
  'awsaccesskeyid',
  'signature',
]);

/** How the client authenticated, for the access log (never the credentials themselves). */
export type ClientAuthKind = 'sigv4' | 'sigv2' | 'presigned-v4' | 'presigned-v2' | 'anonymous';

/** Classifies the client's auth from its Authorization header and query. */
export function clientAuthKind(authorization: string | undefined, query: URLSearchParams): ClientAuthKind {
  if (authorization) return authorization.startsWith('AWS4-') ? 'sigv4' : 'sigv2';
  if (query.has('X-Amz-Signature') || query.has('X-Amz-Credential')) return 'presigned-v4';
  if (query.has('Signature') || query.has('AWSAccessKeyId')) return 'presigned-v2';
  return 'anonymous';
}

/**
 * Removes presign parameters from `query` in place. `Expires` goes only alongside a SigV2
 * signature: S3 has no other query parameter of that name, but we keep the rule narrow.
 */
export function stripPresignParams(query: URLSearchParams): void {
  let v2 = false;
  const drop: string[] = [];
  for (const name of query.keys()) {
    const l = name.toLowerCase();
    if (PRESIGN_PARAMS.has(l)) drop.push(name);
    if (l === 'awsaccesskeyid' || l === 'signature') v2 = true;
  }
  if (v2) drop.push('Expires');
  for (const name of drop) query.delete(name);
}
