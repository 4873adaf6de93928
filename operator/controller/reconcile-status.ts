/**
 * Reconciles the status subresource of BucketAccesses and ObjectStores from the caches; patches
 * only when the computed status differs from the stored one.
 */
import { IDENTITY_LABEL } from '../contract.ts';
import { type KubeClient, isStatus, resourcePath } from '../kube/client.ts';
import { bucketAccessSelectsPod } from './policy.ts';
import { bucketAccessReadiness, nextStatus, objectStoreReadiness, sameStatus } from './status.ts';
import type { StsFailure } from './sts-failures.ts';
import { GROUP, VERSION } from './types.ts';
import { carriesSidecar, isFinished, type World } from './world.ts';

/** Number of injected pods in the BucketAccess's namespace it selects. */
export function countMatchedPods(world: World, ns: string, name: string): number {
  const ba = world.caches.accesses.get(name, ns);
  if (!ba) return 0;
  return world.caches.pods
    .list(ns)
    .filter(
      (p) =>
        p.metadata?.labels?.[IDENTITY_LABEL] &&
        !isFinished(p) &&
        carriesSidecar(p) &&
        bucketAccessSelectsPod(ba, p),
    ).length;
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
  const matched = countMatchedPods(world, ns, name);
  const ready = bucketAccessReadiness(
    ba,
    store,
    world.namespaceLabels(ns),
    creds,
    matched,
    stsFailure(ba.spec.storeRef, ns),
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
