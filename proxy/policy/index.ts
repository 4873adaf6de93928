/**
 * Authorization entry point used by the proxy's `authorize` phase.
 *
 * `createAuthorizer(doc)` builds an immutable authorizer: classification (./operations.ts) →
 * grant matching (./engine.ts), deny by default. The proxy calls `authorize(req)` once per
 * request, after parsing and before reading any body byte or sending `100 Continue`. Two
 * decisions carry follow-up work for the request path:
 * - `bodyCheck`: DeleteObjects (`POST ?delete`) names its keys in the body, RestoreObject
 *   (`POST ?restore`) may name an output location there. The proxy reads at most `maxBytes` of
 *   it, calls `check(body)`, and forwards the buffered body unchanged (its Content-MD5 /
 *   checksum intact) only if that allows; one key outside the grants denies all.
 * - `listBuckets`: ListBuckets is allowed and its 200 response filtered to these bucket names
 *   (./list-buckets.ts documents the decision).
 * Presigned and anonymous requests take exactly this path: the client's signature is never
 * trusted, so how a request was signed changes nothing about what it may do.
 *
 * Reload swaps the whole authorizer (./reload.ts); one request always sees one policy.
 */
import type { PodPolicyDocument } from '../config/types.ts';
import { buildIndex, decide, deny } from './engine.ts';
import type { Decision, GrantIndex } from './engine.ts';
import { IGNORED_PARAMS, classify } from './operations.ts';
import { canonicalTarget } from './target.ts';
import type { TargetOptions } from './target.ts';

export type { Decision, BodyCheck } from './engine.ts';
export type { DenyReason } from './errors.ts';
import type { DenyReason } from './errors.ts';

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
  /**
   * The raw request-target as received. When given, the policy parses it again with its own
   * strict parser (./target.ts) and denies unless both parsers agree on (bucket, key, query):
   * a second, independent reading that makes "authorized = forwarded" checkable per request.
   */
  rawTarget?: string;
}

/** An immutable, ready-to-use policy. */
export interface Authorizer {
  /** Decides one request before any body byte is read and before 100 Continue. Never throws. */
  authorize(req: AuthzRequest): Decision;
  /** The store a bucket's traffic goes to (from the grants), or undefined if no grant names it. */
  storeForBucket(bucket: string): string | undefined;
  /** The document this authorizer enforces. */
  readonly document: PodPolicyDocument;
}

/** How requests address the proxy (for the raw-target cross-check), and a denial observer. */
export interface AuthorizerOptions extends TargetOptions {
  /** Called once per denial, including a DeleteObjects body check that denies (metrics). */
  onDeny?: (reason: DenyReason) => void;
}

/** Signing parameters, lower-cased: the request path strips them (case-insensitively) before authorize. */
const SIGNING = new Set([...IGNORED_PARAMS].filter((p) => p !== 'x-id').map((p) => p.toLowerCase()));

/** Same parameters in the same order, ignoring the client's signature (stripped on one side). */
function sameQuery(a: URLSearchParams, b: URLSearchParams): boolean {
  if (a.size === 0 && b.size === 0) return true;
  const keep = (q: URLSearchParams) => [...q].filter(([k]) => !SIGNING.has(k.toLowerCase()));
  const x = keep(a);
  const y = keep(b);
  return x.length === y.length && x.every(([k, v], i) => y[i]?.[0] === k && y[i]?.[1] === v);
}

function header(headers: AuthzRequest['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function decideRequest(index: GrantIndex, req: AuthzRequest, opts: AuthorizerOptions): Decision {
  if (req.rawTarget !== undefined) {
    const t = canonicalTarget(req.rawTarget, header(req.headers, 'host'), opts);
    if (!t.ok) return deny('Unknown', 'bad-target', t.message);
    if (t.bucket !== req.bucket || t.key !== req.key || !sameQuery(t.query, req.query)) {
      return deny('Unknown', 'bad-target', 'the request target reads differently to two parsers');
    }
  }
  const c = classify(req);
  if (!c.ok) return deny(c.operation, c.reason, c.message);
  return decide(index, {
    operation: c.operation,
    needs: c.needs,
    bucket: req.bucket,
    key: req.key,
    query: req.query,
    headers: c.headers,
  });
}

/**
 * Builds an authorizer over a validated policy document (proxy/config/parse.ts validates the
 * shape). Throws PolicyValidationError, naming the grant, for policies that cannot be enforced
 * unambiguously (one bucket on two stores, a reserved bucket).
 */
export function createAuthorizer(doc: PodPolicyDocument, opts: AuthorizerOptions = {}): Authorizer {
  const index: GrantIndex = buildIndex(doc);
  return {
    document: doc,
    storeForBucket: (bucket) => index.storeByBucket.get(bucket),
    authorize(req) {
      const d = decideRequest(index, req, opts);
      if (!d.allow) opts.onDeny?.(d.reason);
      else if (d.bodyCheck && opts.onDeny) {
        const inner = d.bodyCheck;
        const onDeny = opts.onDeny;
        d.bodyCheck = {
          maxBytes: inner.maxBytes,
          tooLarge: inner.tooLarge,
          describe: inner.describe,
          check(body) {
            const verdict = inner.check(body);
            if (!verdict.allow) onDeny(verdict.reason);
            return verdict;
          },
        };
      }
      return d;
    },
  };
}

/** An authorizer that denies everything (no policy loaded yet, or none could be loaded). */
export function denyAllAuthorizer(): Authorizer {
  return createAuthorizer({ version: 1, stores: [], grants: [] });
}
