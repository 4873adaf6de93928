/**
 * Status of ObjectStores and BucketAccesses, pure: the `Ready` condition with a reason, the
 * observedGeneration it was computed for, and (BucketAccess) how many injected pods it selects.
 */
import { setCondition, type Condition } from '../kube/conditions.ts';
import type { CredentialsLookup } from './credentials.ts';
import { storeAllowsNamespace } from './policy.ts';
import type { BucketAccess, ObjectStore, SluiceStatus } from './types.ts';

/** Reasons of the Ready condition (CamelCase, stable: users alert on them). */
export const Reasons = {
  Ready: 'Ready',
  StoreNotFound: 'StoreNotFound',
  NamespaceNotAllowed: 'NamespaceNotAllowed',
  CredentialsMissing: 'CredentialsMissing',
} as const;

/** A Ready condition without its transition time. */
export type Readiness = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** Whether a store can serve credentials now. */
export function objectStoreReadiness(store: ObjectStore, creds: CredentialsLookup): Readiness {
  if (!creds.ok)
    return { type: 'Ready', status: 'False', reason: Reasons.CredentialsMissing, message: creds.message };
  const mode = store.spec.credentials.mode ?? 'static';
  const ref = store.spec.credentials.secretRef;
  const how =
    mode === 'sts'
      ? `per-pod STS credentials via ${store.spec.credentials.sts?.endpoint ?? store.spec.endpoints[0]?.url ?? '?'}`
      : `static credentials from Secret ${ref.namespace}/${ref.name}`;
  return {
    type: 'Ready',
    status: 'True',
    reason: Reasons.Ready,
    message: `${store.spec.endpoints.length} endpoint(s), ${how}`,
  };
}

/** Whether a BucketAccess's grants reach its pods, and why not. */
export function bucketAccessReadiness(
  ba: BucketAccess,
  store: ObjectStore | undefined,
  namespaceLabels: Record<string, string> | undefined,
  creds: CredentialsLookup | undefined,
  matchedPods: number,
): Readiness {
  const ref = ba.spec.storeRef;
  const ns = ba.metadata?.namespace ?? '';
  if (!store) {
    return {
      type: 'Ready',
      status: 'False',
      reason: Reasons.StoreNotFound,
      message: `ObjectStore ${ref} not found`,
    };
  }
  if (!storeAllowsNamespace(store, namespaceLabels)) {
    return {
      type: 'Ready',
      status: 'False',
      reason: Reasons.NamespaceNotAllowed,
      message: `ObjectStore ${ref} does not allow namespace ${ns} (spec.allowedNamespaces)`,
    };
  }
  if (!creds || !creds.ok) {
    return {
      type: 'Ready',
      status: 'False',
      reason: Reasons.CredentialsMissing,
      message: `ObjectStore ${ref} has no usable credentials${creds ? `: ${creds.message}` : ''}`,
    };
  }
  return {
    type: 'Ready',
    status: 'True',
    reason: Reasons.Ready,
    message: `${ba.spec.grants.length} grant(s) on ${ref} delivered to ${matchedPods} pod(s)`,
  };
}

/** The status to store: Ready set (transition time kept if unchanged), generation observed. */
export function nextStatus(
  current: SluiceStatus | undefined,
  generation: number | undefined,
  ready: Readiness,
  now: Date,
  matchedPods?: number,
): SluiceStatus {
  const out: SluiceStatus = {
    observedGeneration: generation ?? 0,
    conditions: setCondition(current?.conditions, { ...ready, observedGeneration: generation ?? 0 }, now),
  };
  if (matchedPods !== undefined) out.matchedPods = matchedPods;
  return out;
}

/** True when `a` and `b` would store the same status (field order ignored). */
export function sameStatus(a: SluiceStatus | undefined, b: SluiceStatus): boolean {
  const norm = (s: SluiceStatus | undefined): string =>
    JSON.stringify({
      g: s?.observedGeneration ?? null,
      m: s?.matchedPods ?? null,
      c: (s?.conditions ?? []).map((c) => [
        c.type,
        c.status,
        c.reason,
        c.message,
        c.lastTransitionTime,
        c.observedGeneration ?? null,
      ]),
    });
  return norm(a) === norm(b);
}
