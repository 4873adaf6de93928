/**
 * Status of ObjectStores and BucketAccesses, pure: the `Ready` condition with a reason, the
 * observedGeneration it was computed for, and (BucketAccess) how many injected pods it selects.
 */
import { setCondition, type Condition } from '../kube/conditions.ts';
import type { CredentialsLookup } from './credentials.ts';
import { storeAllowsNamespace, type RefusedGrant } from './policy.ts';
import type { StsFailure } from './sts-failures.ts';
import type { BucketAccess, ObjectStore, SluiceStatus } from './types.ts';

/** Reasons of the Ready condition (CamelCase, stable: users alert on them). */
export const Reasons = {
  Ready: 'Ready',
  /**
   * The store does not exist or does not allow the namespace: one reason for both, so that a
   * tenant cannot learn from its own BucketAccess which cluster-scoped stores exist.
   */
  StoreNotFound: 'StoreNotFound',
  CredentialsMissing: 'CredentialsMissing',
  /** The store's Secret is not listed yet (its watch is starting, or failing: see the log). */
  CredentialsPending: 'CredentialsPending',
  /** An `sts` store's AssumeRole failed for at least one pod on its last attempt. */
  StsFailed: 'StsFailed',
  /**
   * A grant the sidecar cannot enforce (a bucket its store reserves, or one another BucketAccess
   * grants the same pod on another store): left out of the pods' policies.
   */
  GrantRefused: 'GrantRefused',
} as const;

/** A Ready condition without its transition time. */
export type Readiness = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** Credentials that cannot be used: missing (False), or not known yet (Unknown). */
function credentialsNotReady(creds: Extract<CredentialsLookup, { ok: false }>): Readiness {
  return creds.reason === 'CredentialsPending'
    ? { type: 'Ready', status: 'Unknown', reason: Reasons.CredentialsPending, message: creds.message }
    : { type: 'Ready', status: 'False', reason: Reasons.CredentialsMissing, message: creds.message };
}

/** The failure text of a store's STS, as both kinds report it. */
function stsFailureText(sts: StsFailure): string {
  return `AssumeRole failed for ${sts.pods} pod(s): ${sts.message}`;
}

/**
 * Whether a store can serve credentials now. `sts` is the controller's current knowledge of
 * failing AssumeRole calls against it (ignored unless the store is in `sts` mode).
 */
export function objectStoreReadiness(
  store: ObjectStore,
  creds: CredentialsLookup,
  sts?: StsFailure,
): Readiness {
  if (!creds.ok) return credentialsNotReady(creds);
  const mode = store.spec.credentials.mode ?? 'static';
  if (mode === 'sts' && sts)
    return { type: 'Ready', status: 'False', reason: Reasons.StsFailed, message: stsFailureText(sts) };
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

/**
 * Whether a BucketAccess's grants reach its pods, and why not. `sts` is the store's current STS
 * failure (see {@link objectStoreReadiness}).
 */
export function bucketAccessReadiness(
  ba: BucketAccess,
  store: ObjectStore | undefined,
  namespaceLabels: Record<string, string> | undefined,
  creds: CredentialsLookup | undefined,
  matchedPods: number,
  sts?: StsFailure,
  refused?: RefusedGrant,
): Readiness {
  const ref = ba.spec.storeRef;
  const ns = ba.metadata?.namespace ?? '';
  if (!store || !storeAllowsNamespace(store, namespaceLabels)) {
    return {
      type: 'Ready',
      status: 'False',
      reason: Reasons.StoreNotFound,
      message: `ObjectStore ${ref} does not exist or does not allow namespace ${ns} (its spec.allowedNamespaces)`,
    };
  }
  if (creds?.ok === false && creds.reason === 'CredentialsPending') return credentialsNotReady(creds);
  if (!creds || !creds.ok) {
    return {
      type: 'Ready',
      status: 'False',
      reason: Reasons.CredentialsMissing,
      message: `ObjectStore ${ref} has no usable credentials${creds ? `: ${creds.message}` : ''}`,
    };
  }
  if ((store.spec.credentials.mode ?? 'static') === 'sts' && sts) {
    return {
      type: 'Ready',
      status: 'False',
      reason: Reasons.StsFailed,
      message: `ObjectStore ${ref}: ${stsFailureText(sts)}`,
    };
  }
  if (refused) {
    return {
      type: 'Ready',
      status: 'False',
      reason: Reasons.GrantRefused,
      message: `the grant on bucket ${refused.bucket} is left out of its pods' policies: ${refused.message}`,
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
