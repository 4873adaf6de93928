/**
 * The policy engine: a classified request + an immutable grant index → allow or deny. Pure.
 * Deny by default: a request is allowed only when every right its operation needs
 * (./operations.ts) is covered by some grant.
 *
 * Grant semantics:
 * - `access` modes apply to keys of `bucket`; with `prefixes`, a key must start with one of them
 *   (exact byte prefix of the decoded key: "a/" covers "a/x", not "ab" — a grant prefix without a
 *   trailing slash is taken literally, so "a" covers "ab" too);
 * - list: the request's `prefix` parameter must itself start with a granted prefix, so a list can
 *   only return keys inside the grant (no prefix, or a shorter one, is denied when only prefixes
 *   are granted);
 * - `bucketConfig` rights are bucket-wide and only ever explicit;
 * - HeadBucket / GetBucketLocation need any grant on the bucket;
 * - a bucket is served by exactly one store (the parser and {@link buildIndex} enforce it), so a
 *   CopyObject whose source lives on another store is refused.
 */
import type { AccessMode, BucketConfigAccess, Grant, PodPolicyDocument, StoreSpec } from '../config/types.ts';
import { unsetButAws } from '../config/provider.ts';
import { parseCopySource, readsOfCopySource } from './copy-source.ts';
import { MAX_DELETE_BODY_BYTES, parseDeleteBody } from './delete-xml.ts';
import { DENY_KINDS, PolicyValidationError } from './errors.ts';
import type { DenyReason } from './errors.ts';
import type { Need } from './operations.ts';
import { keyProblem } from './target.ts';

/** A grant with the label logs and `policy check` show for it. */
export interface IndexedGrant {
  grant: Grant;
  /** `grant.source`, or `grants[i]` when the document gives none. */
  label: string;
}

/** Grants indexed by bucket; immutable once built. */
export interface GrantIndex {
  readonly all: readonly IndexedGrant[];
  readonly byBucket: ReadonlyMap<string, readonly IndexedGrant[]>;
  readonly storeByBucket: ReadonlyMap<string, string>;
  /** Stores addressed virtually → first key segments their backend serves its own APIs under. */
  readonly reservedKeyRoots: ReadonlyMap<string, ReadonlySet<string>>;
}

/** Bucket names the backend reserves for itself: MinIO serves its admin and health APIs there. */
export const RESERVED_BUCKETS: ReadonlySet<string> = new Set(['minio']);

/**
 * The store's software as far as its own API paths go: `provider`, else AWS when every endpoint
 * is AWS's (virtual addressing's usual home), else unknown — treated as Ceph (fail closed).
 */
function routesCephApis(store: StoreSpec): boolean {
  const provider = store.provider ?? (unsetButAws(store) ? 'aws' : 'other');
  return provider === 'ceph' || provider === 'other';
}

/** Ceph RGW's own API roots (admin API, Swift, auth), which it routes by path prefix. */
const CEPH_API_ROOTS = ['admin', 'swift', 'auth'];

/**
 * Bucket names a grant on `store` may not name: with path-style addressing the bucket is the
 * path's first segment, which MinIO (`/minio/…`: admin, KMS, health) and Ceph RGW (`/admin/…`,
 * `/swift/…`, `/auth/…`) route to their own APIs, signed with the store's credentials. MinIO's
 * name always; Ceph's on Ceph stores and stores of unknown kind. With virtual addressing the
 * same names are refused as a key's first segment instead ({@link reservedKeyRoots}).
 */
export function reservedBucketNames(store: StoreSpec): ReadonlySet<string> {
  if (store.addressing === 'virtual' || !routesCephApis(store)) return RESERVED_BUCKETS;
  return new Set([...RESERVED_BUCKETS, ...CEPH_API_ROOTS]);
}

/**
 * With virtual addressing the bucket goes in the Host header and the key is the whole path the
 * backend sees, so a key's first segment sits where path-style puts the bucket — and a backend
 * that routes its own APIs by path prefix, whatever the Host, would take `/minio/admin/v3/…`
 * (MinIO's admin, KMS and health APIs) or `/admin/…` (Ceph RGW's admin API; also its Swift and
 * auth entries) as those, signed with the store's credentials. Such keys are refused on such
 * stores: MinIO's name always (as for path-style buckets), Ceph's where the store is Ceph or of
 * unknown kind (fail closed; a store without `provider` whose endpoints are all AWS's is AWS).
 */
function reservedKeyRoots(store: StoreSpec): ReadonlySet<string> | undefined {
  if (store.addressing !== 'virtual') return undefined;
  return new Set(routesCephApis(store) ? [...RESERVED_BUCKETS, ...CEPH_API_ROOTS] : RESERVED_BUCKETS);
}

/**
 * Indexes a validated document. Throws {@link PolicyValidationError} naming the grant when one
 * bucket is granted on two stores (a pod's requests name a bucket, not a store, so that policy
 * could not be enforced unambiguously) or a grant names a bucket its store reserves
 * ({@link reservedBucketNames}).
 */
export function buildIndex(doc: PodPolicyDocument): GrantIndex {
  const all: IndexedGrant[] = [];
  const byBucket = new Map<string, IndexedGrant[]>();
  const storeByBucket = new Map<string, string>();
  doc.grants.forEach((grant, i) => {
    const field = `grants[${i}]`;
    const store = doc.stores.find((s) => s.name === grant.store);
    if ((store ? reservedBucketNames(store) : RESERVED_BUCKETS).has(grant.bucket))
      throw new PolicyValidationError(`${field}.bucket`, `${grant.bucket} is reserved by the backend`);
    const other = storeByBucket.get(grant.bucket);
    if (other !== undefined && other !== grant.store) {
      throw new PolicyValidationError(
        `${field}.store`,
        `bucket ${grant.bucket} is already granted on store ${other}`,
      );
    }
    storeByBucket.set(grant.bucket, grant.store);
    const entry: IndexedGrant = { grant, label: grant.source ?? field };
    all.push(entry);
    const list = byBucket.get(grant.bucket) ?? [];
    list.push(entry);
    byBucket.set(grant.bucket, list);
  });
  const reserved = new Map<string, ReadonlySet<string>>();
  for (const store of doc.stores) {
    const roots = reservedKeyRoots(store);
    if (roots) reserved.set(store.name, roots);
  }
  return { all, byBucket, storeByBucket, reservedKeyRoots: reserved };
}

/** Everything the engine needs about one request (classified, decoded). */
export interface EngineRequest {
  operation: string;
  needs: readonly Need[];
  bucket: string | undefined;
  key: string | undefined;
  query: URLSearchParams;
  /** Effective lower-cased headers (incl. hoisted x-amz-* query parameters). */
  headers: Readonly<Record<string, string | undefined>>;
}

/**
 * A check of a request body the policy must see (DeleteObjects' keys, RestoreObject's request),
 * run once the bounded body has been read.
 */
export interface BodyCheck {
  /** Read at most this many bytes; a longer body is refused with `tooLarge`. */
  readonly maxBytes: number;
  readonly tooLarge: DenyReason;
  /** What is checked, for `sluice policy check`. */
  readonly describe: string;
  /** Decides on the complete body; the body is then forwarded unchanged. */
  check(body: Buffer): Decision;
}

/** The outcome for one request. */
export type Decision =
  | {
      allow: true;
      operation: string;
      /** The store the request goes to. */
      store: string;
      /** The grant covering the request's own target (the destination for copies). */
      grant: Grant | undefined;
      /** Labels of every grant that was needed (copy: source and destination). */
      matched: string[];
      /** ListBuckets: keep only these bucket names in the response. */
      listBuckets?: ReadonlySet<string>;
      /** DeleteObjects: the body must pass this check before anything is forwarded. */
      bodyCheck?: BodyCheck;
    }
  | {
      allow: false;
      operation: string;
      reason: DenyReason;
      message: string;
      /** The S3 error code and HTTP status to answer with. */
      s3Code: string;
      status: number;
    };

/** A denial with its catalog entry filled in. */
export function deny(
  operation: string,
  reason: DenyReason,
  message: string,
): Extract<Decision, { allow: false }> {
  const kind = DENY_KINDS[reason];
  return { allow: false, operation, reason, message, s3Code: kind.s3Code, status: kind.status };
}

function keyCovered(g: Grant, key: string): boolean {
  return !g.prefixes || g.prefixes.length === 0 || g.prefixes.some((p) => key.startsWith(p));
}

function findObject(
  index: GrantIndex,
  bucket: string,
  key: string,
  access: AccessMode,
): IndexedGrant | undefined {
  return index.byBucket.get(bucket)?.find((e) => e.grant.access.includes(access) && keyCovered(e.grant, key));
}

function findConfig(index: GrantIndex, bucket: string, access: BucketConfigAccess): IndexedGrant | undefined {
  return index.byBucket.get(bucket)?.find((e) => e.grant.bucketConfig?.includes(access));
}

type NeedResult =
  | { ok: true; entry: IndexedGrant | undefined; extra?: Partial<Decision & { allow: true }> }
  | { ok: false; reason: DenyReason; message: string };

function noGrant(message: string): NeedResult {
  return { ok: false, reason: 'no-grant', message };
}

function check(index: GrantIndex, req: EngineRequest, need: Need): NeedResult {
  const { bucket, key } = req;
  // (A message is built only on a denial — the ternaries' other arm: allowing is the path every
  // request takes.)
  switch (need.kind) {
    case 'object': {
      const entry = findObject(index, bucket ?? '', key ?? '', need.access);
      return entry ? { ok: true, entry } : noGrant(`no grant allows ${need.access} on ${bucket}/${key}`);
    }
    case 'config': {
      const entry = findConfig(index, bucket ?? '', need.access);
      return entry ? { ok: true, entry } : noGrant(`no grant gives ${need.access} on bucket ${bucket}`);
    }
    case 'bucket-any': {
      const entry = index.byBucket.get(bucket ?? '')?.[0];
      return entry ? { ok: true, entry } : noGrant(`no grant names bucket ${bucket}`);
    }
    case 'list': {
      const prefix = req.query.get('prefix') ?? '';
      const rights = need.withRead ? 'list and read' : 'list';
      const listers =
        index.byBucket
          .get(bucket ?? '')
          ?.filter(
            (e) => e.grant.access.includes('list') && (!need.withRead || e.grant.access.includes('read')),
          ) ?? [];
      if (listers.length === 0)
        return { ok: false, reason: 'no-grant', message: `no grant allows ${rights} on bucket ${bucket}` };
      // A whole-bucket grant lists anything in the bucket, whatever a backend makes of the prefix
      // (`aws s3 ls s3://b/dir/.` lists hidden files).
      const whole = listers.find((e) => !e.grant.prefixes || e.grant.prefixes.length === 0);
      if (whole) return { ok: true, entry: whole };
      // A backend that cleaned "a/../b" would list outside a prefix grant; refuse such prefixes.
      const problem = keyProblem(prefix);
      if (problem) return { ok: false, reason: 'list-prefix', message: `list prefix: ${problem}` };
      const entry = listers.find((e) => keyCovered(e.grant, prefix));
      if (entry) return { ok: true, entry };
      const granted = listers.flatMap((e) => e.grant.prefixes ?? []).map((p) => JSON.stringify(p));
      return {
        ok: false,
        reason: 'list-prefix',
        message: `list prefix ${JSON.stringify(prefix)} is not within a granted prefix (${granted.join(', ')})`,
      };
    }
    case 'copy-source': {
      const header = req.headers['x-amz-copy-source'];
      const src = parseCopySource(header ?? '');
      if (!src.ok) return { ok: false, reason: 'bad-copy-source', message: src.message };
      const srcStore = index.storeByBucket.get(src.bucket);
      if (srcStore !== undefined && bucket !== undefined && srcStore !== index.storeByBucket.get(bucket)) {
        return {
          ok: false,
          reason: 'cross-store-copy',
          message: `copy source bucket ${src.bucket} is on store ${srcStore}`,
        };
      }
      // A key with ? or # must also be readable as a re-parsing backend would cut it.
      const [key, cut] = readsOfCopySource(src.key);
      if (cut !== undefined && !findObject(index, src.bucket, cut, 'read')) {
        return {
          ok: false,
          reason: 'no-grant',
          message: `no grant allows read on copy source ${src.bucket}/${cut} (the key cut at ? or #)`,
        };
      }
      const entry = findObject(index, src.bucket, key!, 'read');
      return entry
        ? { ok: true, entry }
        : noGrant(`no grant allows read on copy source ${src.bucket}/${src.key}`);
    }
    case 'delete-keys': {
      const deleters =
        index.byBucket.get(bucket ?? '')?.filter((e) => e.grant.access.includes('delete')) ?? [];
      if (deleters.length === 0)
        return { ok: false, reason: 'no-grant', message: `no grant allows delete on bucket ${bucket}` };
      const tooLarge = declaredTooLarge(req, MAX_DELETE_BODY_BYTES, 'delete-too-large');
      if (tooLarge) return tooLarge;
      return { ok: true, entry: deleters[0], extra: { bodyCheck: deleteCheck(index, req) } };
    }
    case 'restore-request': {
      const tooLarge = declaredTooLarge(req, MAX_RESTORE_BODY_BYTES, 'restore-select');
      if (tooLarge) return tooLarge;
      return { ok: true, entry: undefined, extra: { bodyCheck: restoreCheck(index, req) } };
    }
    case 'any-grant': {
      const first = index.all[0];
      if (!first) return { ok: false, reason: 'no-grant', message: 'the policy has no grants' };
      const buckets = new Set(
        index.all.filter((e) => e.grant.store === first.grant.store).map((e) => e.grant.bucket),
      );
      return { ok: true, entry: undefined, extra: { listBuckets: buckets, store: first.grant.store } };
    }
  }
}

/** The body's declared length, when over `max`: refused before a byte of it is read. */
function declaredTooLarge(req: EngineRequest, max: number, reason: DenyReason): NeedResult | undefined {
  // An aws-chunked body declares its payload's length apart from the framed Content-Length.
  const chunked = req.headers['x-amz-content-sha256']?.startsWith('STREAMING-') === true;
  const declared = Number(
    (chunked ? req.headers['x-amz-decoded-content-length'] : undefined) ??
      req.headers['content-length'] ??
      '0',
  );
  if (declared <= max) return undefined;
  return { ok: false, reason, message: `Content-Length ${declared} exceeds ${max}` };
}

/** Largest RestoreObject body read (a RestoreRequest is a few hundred bytes). */
const MAX_RESTORE_BODY_BYTES = 64 * 1024;

/**
 * RestoreObject: a plain restore (Days, Tier) only. A `SELECT` restore runs a query on the
 * object and writes its results to `OutputLocation`, a bucket and prefix the body names and the
 * request path does not: a write (and a read of this object's contents) beyond what the grant
 * on this key checked. Refused on any mention of either element (namespaced or inside a
 * comment alike: fail closed), or a body that is not a RestoreRequest (an empty one names nothing).
 */
function restoreCheck(index: GrantIndex, req: EngineRequest): BodyCheck {
  const refuse = (message: string): Decision => deny(req.operation, 'restore-select', message);
  return {
    maxBytes: MAX_RESTORE_BODY_BYTES,
    tooLarge: 'restore-select',
    describe: 'the body must be a plain RestoreRequest (no SELECT, no OutputLocation)',
    check(body) {
      const text = body.toString('latin1');
      if (text.trim() !== '' && !text.includes('RestoreRequest'))
        return refuse('the body is not a RestoreRequest');
      if (/OutputLocation|SelectParameters|>\s*SELECT\s*</i.test(text))
        return refuse('SELECT restores (OutputLocation, SelectParameters) are not forwarded');
      const store = index.storeByBucket.get(req.bucket ?? '') ?? '';
      return { allow: true, operation: req.operation, store, grant: undefined, matched: [] };
    },
  };
}

function deleteCheck(index: GrantIndex, req: EngineRequest): BodyCheck {
  const bucket = req.bucket ?? '';
  return {
    maxBytes: MAX_DELETE_BODY_BYTES,
    tooLarge: 'delete-too-large',
    describe: `every <Key> of the body (at most ${MAX_DELETE_BODY_BYTES} bytes, 1000 keys) must be deletable`,
    check(body) {
      const parsed = parseDeleteBody(body);
      if (!parsed.ok)
        return deny(req.operation, parsed.tooLarge ? 'delete-too-large' : 'malformed-delete', parsed.message);
      const matched = new Set<string>();
      for (const { key } of parsed.objects) {
        // The same key rules as the request path: no dot or empty segments a backend could clean.
        const problem = keyProblem(key);
        if (problem) return deny(req.operation, 'malformed-delete', `${problem}: ${JSON.stringify(key)}`);
        const entry = findObject(index, bucket, key, 'delete');
        if (!entry)
          return deny(
            req.operation,
            'no-grant',
            `no grant allows delete on ${bucket}/${key} (one of ${parsed.objects.length} keys)`,
          );
        matched.add(entry.label);
      }
      const first = index.byBucket.get(bucket)?.[0];
      return {
        allow: true,
        operation: req.operation,
        store: index.storeByBucket.get(bucket) ?? '',
        grant: first?.grant,
        matched: [...matched],
      };
    },
  };
}

/** Decides one classified request against the index. */
export function decide(index: GrantIndex, req: EngineRequest): Decision {
  if (req.bucket !== undefined && RESERVED_BUCKETS.has(req.bucket)) {
    return deny(req.operation, 'reserved-bucket', `bucket ${req.bucket} is reserved by the backend`);
  }
  const matched: string[] = [];
  let primary: IndexedGrant | undefined;
  let extra: Partial<Decision & { allow: true }> | undefined;
  for (const need of req.needs) {
    const r = check(index, req, need);
    if (!r.ok) return deny(req.operation, r.reason, r.message);
    if (r.entry && !matched.includes(r.entry.label)) matched.push(r.entry.label);
    if (need.kind !== 'copy-source') primary ??= r.entry;
    if (r.extra) extra = { ...extra, ...r.extra };
  }
  primary ??= req.bucket === undefined ? undefined : index.byBucket.get(req.bucket)?.[0];
  const store = extra?.store ?? (req.bucket === undefined ? undefined : index.storeByBucket.get(req.bucket));
  if (store === undefined) return deny(req.operation, 'no-grant', 'no grant names this bucket');
  const root = req.key === undefined ? undefined : req.key.split('/', 1)[0]!.toLowerCase();
  if (root !== undefined && index.reservedKeyRoots.get(store)?.has(root)) {
    return deny(
      req.operation,
      'reserved-path',
      `keys under ${root}/ would reach the backend's own API on this virtually addressed store`,
    );
  }
  const decision = { allow: true as const, operation: req.operation, store, grant: primary?.grant, matched };
  return extra === undefined ? decision : { ...extra, ...decision };
}
