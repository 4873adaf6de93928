/**
 * The heart of the controller, pure: which BucketAccesses select a pod, and the pod's effective
 * PodPolicyDocument — the union of their grants, minus stores that do not admit the pod's
 * namespace or whose credentials are not usable. Deny by default: no selecting BucketAccess,
 * no grant (an explicit empty policy, never a missing one).
 */
import type { Grant, PodPolicyDocument, StoreSpec } from '../../proxy/config/types.ts';
import { buildIndex, reservedBucketNames } from '../../proxy/policy/engine.ts';
import { credentialsKey } from '../contract.ts';
import { selectorMatches } from '../kube/selectors.ts';
import type { BucketAccess, ObjectStore, Pod } from './types.ts';

/** A pod without spec.serviceAccountName runs as "default" (the API server defaults it). */
export function podServiceAccount(pod: Pod): string {
  return pod.spec?.serviceAccountName || 'default';
}

/**
 * True when `ba` selects `pod`: its podSelector (if set) matches the pod's labels AND its
 * serviceAccountName (if set) is the pod's. A BucketAccess with neither selects nothing (the
 * CRD rejects it; this is the fail-closed backstop). Namespaces are the caller's concern.
 */
export function bucketAccessSelectsPod(ba: BucketAccess, pod: Pod): boolean {
  const { podSelector, serviceAccountName } = ba.spec;
  if (!podSelector && !serviceAccountName) return false;
  if (podSelector && !selectorMatches(podSelector, pod.metadata?.labels)) return false;
  if (serviceAccountName && serviceAccountName !== podServiceAccount(pod)) return false;
  return true;
}

/**
 * True when the store's allowedNamespaces selector matches the namespace's labels. Labels not
 * known yet (undefined: the namespace is not in the cache) are admitted only by `{}` (every
 * namespace), never by a selector that reads them: read as "no labels", a
 * `NotIn` or `DoesNotExist` selector would match, and the store's keys would be written for a
 * namespace the selector excludes before its labels arrive. The namespace's event requeues.
 */
export function storeAllowsNamespace(
  store: ObjectStore,
  namespaceLabels: Record<string, string> | undefined,
): boolean {
  // A missing selector (an object the CRD would reject) admits nobody: fail closed.
  const selector = store.spec.allowedNamespaces;
  if (!selector) return false;
  if (namespaceLabels === undefined)
    return Object.keys(selector.matchLabels ?? {}).length === 0 && !selector.matchExpressions?.length;
  return selectorMatches(selector, namespaceLabels);
}

/** The proxy's StoreSpec for an ObjectStore; credentials are the Secret key beside policy.json. */
export function toStoreSpec(name: string, store: ObjectStore): StoreSpec {
  const s = store.spec;
  const spec: StoreSpec = {
    name,
    endpoints: s.endpoints.map((e) => (e.zone ? { url: e.url, zone: e.zone } : { url: e.url })),
    region: s.region,
    addressing: s.addressing ?? 'path',
    credentials: { file: credentialsKey(name) },
  };
  if (s.provider) spec.provider = s.provider;
  if (s.balancing) spec.balancing = structuredClone(s.balancing);
  return spec;
}

/** Inputs of {@link computePodPolicy}; all from the informer caches. */
export interface PodPolicyInput {
  pod: Pod;
  namespaceLabels: Record<string, string> | undefined;
  /** BucketAccesses of the pod's namespace. */
  bucketAccesses: readonly BucketAccess[];
  stores: ReadonlyMap<string, ObjectStore>;
  /** Stores whose credentials can be delivered now; grants on other stores are left out. */
  storeUsable: (name: string) => boolean;
  /** The pod's node zone, once scheduled. */
  zone?: string;
}

/** A grant left out of a pod's policy, because the sidecar could not enforce it. */
export interface RefusedGrant {
  /** `ns/name` of the BucketAccess that holds it. */
  source: string;
  bucket: string;
  /** Why, for the BucketAccess's status. */
  message: string;
  /** The store the bucket is granted on instead, when that is why. */
  heldBy?: string;
}

/** The effective policy and the BucketAccesses that contributed to it. */
export interface PodPolicyResult {
  document: PodPolicyDocument;
  /** `ns/name` of every BucketAccess selecting the pod (contributing or not). */
  selectedBy: string[];
  /** Grants left out; the rest of the document is enforceable (see {@link computePodPolicy}). */
  refused: RefusedGrant[];
}

/**
 * Why the sidecar would refuse `bucket` on `store`, if it would: a bucket the store's backend
 * routes to its own API (proxy/policy/engine.ts reservedBucketNames), or one granted the pod on
 * another store (`storeOfBucket`; a request names a bucket, not a store). The sidecar
 * refuses a whole policy holding such a grant and keeps its previous one — so the grant is
 * left out here instead, and a revocation elsewhere in the policy still reaches the pod.
 */
export function refusal(
  bucket: string,
  store: StoreSpec,
  storeOfBucket: ReadonlyMap<string, string>,
): string | undefined {
  if (reservedBucketNames(store).has(bucket))
    return `bucket ${bucket} is reserved by the backend of ObjectStore ${store.name}`;
  const other = storeOfBucket.get(bucket);
  if (other !== undefined && other !== store.name)
    return `bucket ${bucket} is already granted on ObjectStore ${other} to the same pod`;
  return undefined;
}

/**
 * Which store each bucket is granted on, where BucketAccesses grant one bucket on two stores:
 * the oldest BucketAccess's (then the first by name). A newer one cannot move a bucket the pods
 * already use to another backend and credentials; it is refused instead.
 */
function bucketOwners(
  contributing: readonly { ba: BucketAccess; spec: StoreSpec }[],
): ReadonlyMap<string, string> {
  const created = (ba: BucketAccess): string => {
    const t = ba.metadata?.creationTimestamp;
    return t instanceof Date ? t.toISOString() : (t ?? ''); // RFC 3339 in UTC: sorts as text
  };
  const byAge = [...contributing].sort(
    (a, b) =>
      created(a.ba).localeCompare(created(b.ba)) ||
      (a.ba.metadata?.name ?? '').localeCompare(b.ba.metadata?.name ?? ''),
  );
  const owners = new Map<string, string>();
  for (const { ba, spec } of byAge) {
    const reserved = reservedBucketNames(spec);
    for (const g of ba.spec.grants ?? [])
      if (!owners.has(g.bucket) && !reserved.has(g.bucket)) owners.set(g.bucket, spec.name);
  }
  return owners;
}

/**
 * See the module comment. Deterministic: BucketAccesses by name, stores by name; of grants of
 * one bucket on two stores, the oldest BucketAccess's is kept ({@link bucketOwners}).
 */
export function computePodPolicy(input: PodPolicyInput): PodPolicyResult {
  const ns = input.pod.metadata?.namespace ?? '';
  const grants: Grant[] = [];
  const storeNames = new Set<string>();
  const selectedBy: string[] = [];
  const refused: RefusedGrant[] = [];
  // The BucketAccesses that contribute: selecting the pod, on a store that admits it and can be used.
  const contributing: { ba: BucketAccess; source: string; spec: StoreSpec }[] = [];
  const sorted = [...input.bucketAccesses].sort((a, b) =>
    (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''),
  );
  for (const ba of sorted) {
    if (ba.metadata?.deletionTimestamp) continue;
    if (!bucketAccessSelectsPod(ba, input.pod)) continue;
    const source = `${ns}/${ba.metadata?.name ?? ''}`;
    selectedBy.push(source);
    const storeName = ba.spec.storeRef;
    const store = input.stores.get(storeName);
    if (!store || !storeAllowsNamespace(store, input.namespaceLabels) || !input.storeUsable(storeName))
      continue;
    contributing.push({ ba, source, spec: toStoreSpec(storeName, store) });
  }
  const storeOfBucket = bucketOwners(contributing);
  for (const { ba, source, spec } of contributing) {
    for (const g of ba.spec.grants ?? []) {
      const why = refusal(g.bucket, spec, storeOfBucket);
      if (why !== undefined) {
        const owner = storeOfBucket.get(g.bucket);
        refused.push(
          owner !== undefined && owner !== spec.name
            ? { source, bucket: g.bucket, message: why, heldBy: owner }
            : { source, bucket: g.bucket, message: why },
        );
        continue;
      }
      storeNames.add(spec.name);
      const grant: Grant = { store: spec.name, bucket: g.bucket, access: [...g.access], source };
      if (g.prefixes && g.prefixes.length > 0) grant.prefixes = [...g.prefixes];
      if (g.bucketConfig && g.bucketConfig.length > 0) grant.bucketConfig = [...g.bucketConfig];
      if (ba.spec.cache) grant.cache = { ...ba.spec.cache };
      grants.push(grant);
    }
  }
  const stores = [...storeNames].sort().map((n) => toStoreSpec(n, input.stores.get(n) as ObjectStore));
  const document: PodPolicyDocument = input.zone
    ? { version: 1, zone: input.zone, stores, grants }
    : { version: 1, stores, grants };
  try {
    buildIndex(document); // what the sidecar checks on load (proxy/policy/engine.ts)
  } catch (err) {
    // A rule the checks above do not know yet: no grant at all rather than a document the
    // sidecar refuses, which would leave it enforcing the last one it accepted.
    const message = `the sidecar would refuse the pod's policy: ${(err as Error).message}`;
    for (const g of grants) refused.push({ source: g.source ?? '', bucket: g.bucket, message });
    return { document: { ...document, stores: [], grants: [] }, selectedBy, refused };
  }
  return { document, selectedBy, refused };
}
