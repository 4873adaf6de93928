/**
 * Reconciles the status subresource of BucketAccesses and ObjectStores from the caches; patches
 * only when the computed status differs from the stored one.
 */
import { IDENTITY_LABEL } from '../contract.ts';
import { type KubeClient, isStatus, resourcePath } from '../kube/client.ts';
import {
  bucketAccessSelectsPod,
  computePodPolicy,
  refusal,
  toStoreSpec,
  type RefusedGrant,
} from './policy.ts';
import { bucketAccessReadiness, nextStatus, objectStoreReadiness, sameStatus } from './status.ts';
import type { StsFailure } from './sts-failures.ts';
import { GROUP, VERSION, type BucketAccess, type Pod } from './types.ts';
import { carriesSidecar, isFinished, type World } from './world.ts';

/** The injected pods in the BucketAccess's namespace it selects. */
function matchedPods(world: World, ns: string, ba: BucketAccess): Pod[] {
  return world.caches.pods
    .list(ns)
    .filter(
      (p) =>
        p.metadata?.labels?.[IDENTITY_LABEL] &&
        !isFinished(p) &&
        carriesSidecar(p) &&
        bucketAccessSelectsPod(ba, p),
    );
}

/** Number of injected pods in the BucketAccess's namespace it selects. */
export function countMatchedPods(world: World, ns: string, name: string): number {
  const ba = world.caches.accesses.get(name, ns);
  return ba ? matchedPods(world, ns, ba).length : 0;
}

/**
 * A grant of `ba` its pods' policies leave out (operator/controller/policy.ts), as computed for
 * them: the first one found. A bucket its store reserves, whatever the pods; a bucket granted
 * on two stores where a pod is selected by both BucketAccesses and the other is older —
 * looked for only when another BucketAccess of the namespace grants one of these buckets on
 * another store.
 */
export function refusedGrantOf(
  world: World,
  ns: string,
  ba: BucketAccess,
  pods: readonly Pod[],
  storeUsable: (store: string) => boolean,
): RefusedGrant | undefined {
  const source = `${ns}/${ba.metadata?.name ?? ''}`;
  const accesses = world.caches.accesses.list(ns);
  const buckets = new Set(ba.spec.grants.map((g) => g.bucket));
  const contested = accesses.some(
    (o) =>
      o !== ba &&
      o.spec.storeRef !== ba.spec.storeRef &&
      (o.spec.grants ?? []).some((g) => buckets.has(g.bucket)),
  );
  const stores = world.storeMap();
  const store = stores.get(ba.spec.storeRef);
  if (store) {
    const spec = toStoreSpec(ba.spec.storeRef, store);
    for (const g of ba.spec.grants) {
      const message = refusal(g.bucket, spec, new Map());
      if (message !== undefined) return { source, bucket: g.bucket, message };
    }
  }
  if (!contested) return undefined;
  for (const pod of pods) {
    const found = computePodPolicy({
      pod,
      namespaceLabels: world.namespaceLabels(ns),
      bucketAccesses: accesses,
      stores,
      storeUsable,
    }).refused.find((r) => r.source === source);
    if (found) return found;
  }
  return undefined;
}

async function patchStatus(client: KubeClient, path: string, status: unknown): Promise<void> {
  try {
    await client.patch(path, { status }, 'merge');
  } catch (err) {
    if (!isStatus(err, 404)) throw err; // deleted meanwhile: nothing to report on
  }
}

/**
 * A store's current STS failure (the controller's in-memory knowledge), by store name; with
 * `namespace`, that namespace's pods' failures only.
 */
export type StsFailureLookup = (store: string, namespace?: string) => StsFailure | undefined;

/** BucketAccess `ns/name`: Ready + matchedPods + observedGeneration. */
export async function reconcileBucketAccessStatus(
  world: World,
  client: KubeClient,
  ns: string,
  name: string,
  now: Date,
  stsFailure: StsFailureLookup,
): Promise<void> {
  const ba = world.caches.accesses.get(name, ns);
  if (!ba || ba.metadata?.deletionTimestamp) return;
  const store = world.caches.stores.get(ba.spec.storeRef);
  const creds = store ? world.storeCredentials(store) : undefined;
  const pods = matchedPods(world, ns, ba);
  const matched = pods.length;
  const ready = bucketAccessReadiness(
    ba,
    store,
    world.namespaceLabels(ns),
    creds,
    matched,
    stsFailure(ba.spec.storeRef, ns),
    refusedGrantOf(world, ns, ba, pods, (n) => {
      // As the pods' reconcile sees it: a store without credentials, or whose AssumeRole fails,
      // grants nothing, and the bucket may then be another store's.
      const s = world.caches.stores.get(n);
      if (!s || !world.storeCredentials(s).ok) return false;
      return (s.spec.credentials.mode ?? 'static') !== 'sts' || !stsFailure(n, ns);
    }),
  );
  const status = nextStatus(ba.status, ba.metadata?.generation, ready, now, matched);
  if (sameStatus(ba.status, status)) return;
  await patchStatus(
    client,
    resourcePath({
      group: GROUP,
      version: VERSION,
      plural: 'bucketaccesses',
      namespace: ns,
      name,
      subresource: 'status',
    }),
    status,
  );
}

/** ObjectStore `name`: Ready + observedGeneration. */
export async function reconcileObjectStoreStatus(
  world: World,
  client: KubeClient,
  name: string,
  now: Date,
  stsFailure: StsFailureLookup,
): Promise<void> {
  const store = world.caches.stores.get(name);
  if (!store || store.metadata?.deletionTimestamp) return;
  const status = nextStatus(
    store.status,
    store.metadata?.generation,
    objectStoreReadiness(store, world.storeCredentials(store), stsFailure(name)),
    now,
  );
  if (sameStatus(store.status, status)) return;
  await patchStatus(
    client,
    resourcePath({ group: GROUP, version: VERSION, plural: 'objectstores', name, subresource: 'status' }),
    status,
  );
}
