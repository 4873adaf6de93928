/**
 * Authorization entry point used by the proxy's `authorize` phase.
 *
 * FIRST CUT (foundation): bucket/prefix grants with a coarse method → access mapping, so the
 * request path can be built and tested. The policy issue replaces the internals with the full
 * operation classifier (sub-resources, copy source, DeleteObjects keys, list prefixes, bucket
 * configuration) behind this same exported surface. Deny by default throughout.
 */
import type { AccessMode, Grant, PodPolicyDocument } from '../config/types.ts';

/** What the authorizer needs to know about one request (already parsed and canonical). */
export interface AuthzRequest {
  method: string;
  /** Decoded bucket name, undefined for service-level requests (ListBuckets). */
  bucket: string | undefined;
  /** Decoded object key, undefined for bucket-level requests. */
  key: string | undefined;
  /** Decoded query parameters (sub-resources appear with an empty value). */
  query: URLSearchParams;
  /** Lower-cased request headers. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

export type Decision =
  | { allow: true; operation: string; store: string; grant: Grant | undefined }
  | { allow: false; operation: string; reason: string; message: string };

export interface Authorizer {
  /** Decides one request before any body byte is read and before 100 Continue. */
  authorize(req: AuthzRequest): Decision;
  /** The store a bucket's traffic goes to (from the grants), or undefined if no grant names it. */
  storeForBucket(bucket: string): string | undefined;
}

function coarseAccess(req: AuthzRequest): { operation: string; access: AccessMode } {
  const m = req.method;
  if (req.key === undefined) {
    if (m === 'GET') return { operation: req.bucket ? 'ListObjects' : 'ListBuckets', access: 'list' };
    if (m === 'HEAD') return { operation: 'HeadBucket', access: 'read' };
    if (m === 'DELETE') return { operation: 'DeleteBucket', access: 'delete' };
    return { operation: 'BucketWrite', access: 'write' };
  }
  if (m === 'GET' || m === 'HEAD') return { operation: 'GetObject', access: 'read' };
  if (m === 'DELETE') return { operation: 'DeleteObject', access: 'delete' };
  return { operation: 'PutObject', access: 'write' };
}

function prefixMatches(grant: Grant, key: string | undefined): boolean {
  if (!grant.prefixes || grant.prefixes.length === 0) return true;
  if (key === undefined) return false;
  return grant.prefixes.some((p) => key.startsWith(p));
}

/** Builds an authorizer over a validated policy document. */
export function createAuthorizer(doc: PodPolicyDocument): Authorizer {
  const storeByBucket = new Map<string, string>();
  for (const g of doc.grants) storeByBucket.set(g.bucket, g.store);
  return {
    storeForBucket: (bucket) => storeByBucket.get(bucket),
    authorize(req) {
      const { operation, access } = coarseAccess(req);
      if (req.bucket === undefined) {
        const store = doc.stores[0]?.name;
        return store
          ? { allow: true, operation, store, grant: undefined }
          : { allow: false, operation, reason: 'no-store', message: 'No store is configured' };
      }
      const grant = doc.grants.find(
        (g) => g.bucket === req.bucket && g.access.includes(access) && prefixMatches(g, req.key),
      );
      if (!grant) {
        return { allow: false, operation, reason: 'no-grant', message: `No grant allows ${access} here` };
      }
      return { allow: true, operation, store: grant.store, grant };
    },
  };
}
