/**
 * Reconciles one pod identity (`namespace/identity`): the Secret podSecretName(identity) holds
 * exactly the policy and credentials of the one pod that owns the identity — or does not exist
 * when no pod carries it. Level-triggered: everything is re-read from the caches; the Secret is
 * written only when it differs.
 *
 * Ownership: the pod named as controller owner of an existing Secret keeps it; otherwise the
 * oldest pod carrying the identity gets it. Every other pod with the same identity gets nothing
 * and a Warning Event: a copied label can never pull another pod's policy (the Secret always
 * holds its owner's own policy) and a second pod is never silently served.
 */
import type { Logger } from 'pino';
import type { PodPolicyDocument, StoreSpec } from '../../proxy/config/types.ts';
import { podSecretName } from '../contract.ts';
import { type KubeClient, isStatus, resourcePath } from '../kube/client.ts';
import type { OperatorMetrics } from '../metrics.ts';
import type { CredentialsLookup, StoreCredentials } from './credentials.ts';
import { ControllerError } from './errors.ts';
import type { EventRecorder } from './events.ts';
import {
  STS_STATE_ANNOTATION,
  controllerOwnerUid,
  desiredPodSecret,
  isManagedSecret,
  mergeForUpdate,
  policyFileContent,
  secretDiffers,
  storedCredentials,
  storedPolicy,
} from './podsecret.ts';
import { computePodPolicy } from './policy.ts';
import type { AssumeRoleInput, AssumedCredentials } from './sts-client.ts';
import type { StsFailures } from './sts-failures.ts';
import { buildSessionPolicy, stableHash } from './sts-policy.ts';
import {
  parseStsState,
  renewAt,
  serializeStsState,
  stillValid,
  stsDecision,
  type StsState,
} from './sts-state.ts';
import type { ObjectStore, Pod, Secret } from './types.ts';
import type { World } from './world.ts';

/** What a pod reconcile needs. */
export interface PodReconcilerDeps {
  world: World;
  client: KubeClient;
  events: EventRecorder;
  metrics: OperatorMetrics;
  log: Logger;
  assumeRole: (input: AssumeRoleInput) => Promise<AssumedCredentials>;
  now: () => number;
  sts: { defaultDurationSeconds: number; renewFraction: number };
  /** Pod UIDs already told about an identity conflict (one Event each, not one per reconcile). */
  conflictsReported: Set<string>;
  /** Where each reconcile records which stores' AssumeRole failed for the identity (status reads it). */
  stsFailures: StsFailures;
}

/** A reconcile's wish to run again later (STS renewal). */
export interface ReconcileResult {
  requeueAfterMs?: number;
  /**
   * An STS renewal failed while the credentials it was to replace are still valid (they stay in
   * the Secret): retried with the queue's backoff, not every second until they expire.
   */
  renewalFailed?: boolean;
}

const POD_REF = { apiVersion: 'v1', kind: 'Pod' } as const;

function creationOrder(a: Pod, b: Pod): number {
  const ta = String(a.metadata?.creationTimestamp ?? '');
  const tb = String(b.metadata?.creationTimestamp ?? '');
  if (ta !== tb) return ta < tb ? -1 : 1;
  return (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '');
}

/** See the module comment. */
export async function reconcilePodIdentity(
  deps: PodReconcilerDeps,
  ns: string,
  identity: string,
): Promise<ReconcileResult> {
  const { world, client } = deps;
  const name = podSecretName(identity);
  const path = resourcePath({ group: '', version: 'v1', plural: 'secrets', namespace: ns, name });
  const cached = world.caches.podSecrets.get(name, ns);
  const pods = world.podsWithIdentity(ns, identity).sort(creationOrder);
  const noFailures = new Map<string, string>();

  if (pods.length === 0) {
    deps.stsFailures.record(`${ns}/${identity}`, noFailures);
    if (cached && isManagedSecret(cached)) {
      try {
        await client.delete(path, cached.metadata?.uid);
        deps.metrics.secretWritesTotal.inc({ op: 'delete' });
        deps.log.info({ ns, secret: name }, 'pod gone: deleted its policy Secret');
      } catch (err) {
        if (!isStatus(err, 404) && !isStatus(err, 409)) throw err;
      }
    }
    return {};
  }

  const heldBy = controllerOwnerUid(cached);
  const owner = pods.find((p) => p.metadata?.uid === heldBy) ?? pods[0];
  if (!owner) {
    deps.stsFailures.record(`${ns}/${identity}`, noFailures);
    return {};
  }
  for (const other of pods) if (other !== owner) reportConflict(deps, other, owner, identity);

  const {
    secret: desired,
    document,
    stsError,
    stsFailed,
    requeueAfterMs,
  } = await buildDesired(deps, owner, identity, cached);
  deps.stsFailures.record(`${ns}/${identity}`, stsFailed);
  await writeSecret(deps, path, owner, identity, cached, desired, document);
  if (stsError) throw stsError;
  const result: ReconcileResult = requeueAfterMs === undefined ? {} : { requeueAfterMs };
  if (stsFailed.size > 0) result.renewalFailed = true;
  return result;
}

function reportConflict(deps: PodReconcilerDeps, pod: Pod, owner: Pod, identity: string): void {
  const uid = pod.metadata?.uid ?? '';
  if (deps.conflictsReported.has(uid)) return;
  deps.conflictsReported.add(uid);
  deps.metrics.identityConflictsTotal.inc();
  deps.log.warn({ ns: pod.metadata?.namespace, pod: pod.metadata?.name, identity }, 'identity conflict');
  deps.events.record(
    pod,
    POD_REF,
    'Warning',
    'IdentityConflict',
    `identity ${identity} (label sluice.dev/identity) is already held by pod ${owner.metadata?.name ?? '?'}; ` +
      'this pod gets no policy. Recreate it without copying that label so the webhook assigns a fresh identity.',
  );
}

/** Computes the Secret the owner should have, obtaining STS credentials where needed. */
async function buildDesired(
  deps: PodReconcilerDeps,
  pod: Pod,
  identity: string,
  existing: Secret | undefined,
): Promise<{
  secret: Secret;
  document: PodPolicyDocument;
  stsError?: Error;
  /** store → error of its AssumeRole, for every store whose AssumeRole failed in this call. */
  stsFailed: Map<string, string>;
  requeueAfterMs?: number;
}> {
  const { world } = deps;
  const ns = pod.metadata?.namespace ?? '';
  const stores = world.storeMap();
  const lookups = new Map<string, CredentialsLookup>();
  // Stores whose credential Secret is not listed yet. Not known is not missing: such a store
  // keeps the credentials the pod has (its grants follow the current BucketAccesses, so
  // revocations go through), and the rest of the Secret is written as usual — one late watch
  // held back every update of the pod, revocations on other stores included. Retried after.
  const pending = new Set<string>();
  const lookup = (n: string): CredentialsLookup | undefined => {
    if (!lookups.has(n)) {
      const s = stores.get(n);
      if (s) lookups.set(n, world.storeCredentials(s));
    }
    const found = lookups.get(n);
    if (found?.ok === false && found.reason === 'CredentialsPending') {
      // A pod without its Secret yet waits for a whole one (the volume is not optional), rather
      // than start with a policy that lacks the store.
      if (existing === undefined) throw new ControllerError('CredentialsPending', found.message, true);
      pending.add(n);
    }
    return found;
  };
  const dropped = new Set<string>();
  const input = {
    pod,
    namespaceLabels: world.namespaceLabels(ns),
    bucketAccesses: world.caches.accesses.list(ns),
    stores,
    storeUsable: (n: string) =>
      !dropped.has(n) &&
      (lookup(n)?.ok === true || (pending.has(n) && storedCredentials(existing, n) !== undefined)),
    zone: world.podZone(pod),
  };
  let computed = computePodPolicy(input);
  let document = computed.document;

  const now = deps.now();
  const oldState = parseStsState(existing?.metadata?.annotations?.[STS_STATE_ANNOTATION]);
  const stsState: StsState = {};
  const credentials = new Map<string, StoreCredentials>();
  let stsError: Error | undefined;
  const stsFailed = new Map<string, string>();
  let requeueAfterMs: number | undefined;

  /** Credentials of one store of the document; adds it to `dropped` when none can be had. */
  const fetchOne = async (spec: StoreSpec): Promise<void> => {
    stsFailed.delete(spec.name);
    const store = stores.get(spec.name) as ObjectStore;
    const found = lookup(spec.name);
    if (!found?.ok) {
      if (!pending.has(spec.name)) return; // excluded by storeUsable already
      const kept = keptWhilePending(spec.name, store, document, existing, oldState, now);
      if (kept === undefined) dropped.add(spec.name);
      else {
        credentials.set(spec.name, kept.credentials);
        if (kept.entry) stsState[spec.name] = kept.entry;
      }
      return;
    }
    if ((store.spec.credentials.mode ?? 'static') === 'static') {
      credentials.set(spec.name, found.credentials);
      return;
    }
    const sts = await stsCredentials(
      deps,
      spec.name,
      store,
      found.credentials,
      document,
      existing,
      oldState,
      now,
    );
    if (sts.failure !== undefined) stsFailed.set(spec.name, sts.failure);
    if ('error' in sts) {
      stsError ??= sts.error;
      dropped.add(spec.name);
      return;
    }
    credentials.set(spec.name, sts.credentials);
    stsState[spec.name] = sts.entry;
    // A renewal that failed kept the old entry, already due: its retry is the queue's backoff
    // (ReconcileResult.renewalFailed), or it would be every second.
    if (sts.failure !== undefined) return;
    const due = renewAt(sts.entry, deps.sts.renewFraction) - now;
    requeueAfterMs = Math.max(1000, Math.min(requeueAfterMs ?? Infinity, due));
  };

  // One store at a time, the document computed again after each store dropped (no credentials
  // to be had): its grants leave, and a grant of the same bucket on another store, refused while
  // the first held it (policy.ts bucketOwners), comes in. Stores holding a bucket another wants
  // go first, so the others are asked for an STS session once, with their final grants — asked
  // with fewer first, every reconcile while the holder fails would make a session of no use,
  // and drop the store if that one failed. A store already fetched is fetched again if its
  // grants changed (its session policy is made from them).
  const fetched = new Map<string, string>();
  const grantsOf = (name: string): string => JSON.stringify(document.grants.filter((g) => g.store === name));
  for (;;) {
    const holders = new Set(computed.refused.map((r) => r.heldBy).filter((h) => h !== undefined));
    const next = document.stores
      .filter((spec) => fetched.get(spec.name) !== grantsOf(spec.name))
      .sort((a, b) => Number(holders.has(b.name)) - Number(holders.has(a.name)))[0];
    if (next === undefined) break;
    fetched.set(next.name, grantsOf(next.name));
    await fetchOne(next);
    if (dropped.has(next.name)) {
      // Deny rather than serve grants whose credentials could not be obtained.
      computed = computePodPolicy(input);
      document = computed.document;
    }
  }
  for (const d of dropped) {
    credentials.delete(d);
    delete stsState[d];
  }
  const secret = desiredPodSecret({
    pod,
    identity,
    document,
    credentials,
    stsState: Object.keys(stsState).length > 0 ? serializeStsState(stsState) : undefined,
  });
  const pendingError =
    pending.size > 0
      ? new ControllerError(
          'CredentialsPending',
          `credential Secrets of ${[...pending].sort().join(', ')} not listed yet`,
          true,
        )
      : undefined;
  const error = stsError ?? pendingError;
  return error
    ? { secret, document, stsError: error, stsFailed, requeueAfterMs }
    : { secret, document, stsFailed, requeueAfterMs };
}

/**
 * What a store whose credential Secret is not listed yet keeps: the credentials the pod has. For
 * an STS store only while they were issued for the same grants and are not about to expire (the
 * source keys, which are unknown now, cannot be compared); otherwise nothing, until the Secret
 * is listed.
 */
function keptWhilePending(
  name: string,
  store: ObjectStore,
  document: PodPolicyDocument,
  existing: Secret | undefined,
  oldState: StsState,
  now: number,
): { credentials: StoreCredentials; entry?: StsState[string] } | undefined {
  const credentials = storedCredentials(existing, name);
  if (credentials === undefined) return undefined;
  if ((store.spec.credentials.mode ?? 'static') === 'static') return { credentials };
  const entry = oldState[name];
  const policyHash = stableHash(JSON.stringify(buildSessionPolicy(name, document.grants)));
  if (entry === undefined || entry.accessKeyId !== credentials.accessKeyId) return undefined;
  if (entry.policyHash !== policyHash || now >= entry.expiresAt - 60_000) return undefined;
  return { credentials, entry };
}

/** An AssumeRole error as status may show it: the store's secret key and token never appear. */
function failureText(err: unknown, source: StoreCredentials): string {
  let text = err instanceof Error ? err.message : String(err);
  for (const secret of [source.secretAccessKey, source.sessionToken])
    if (secret) text = text.split(secret).join('***');
  return text;
}

/**
 * Reuses still-fresh temporary credentials or assumes the role again for this pod's grants.
 * `failure` is set whenever AssumeRole was called and failed, also when the old credentials are
 * still served meanwhile.
 */
async function stsCredentials(
  deps: PodReconcilerDeps,
  storeName: string,
  store: ObjectStore,
  source: StoreCredentials,
  document: PodPolicyDocument,
  existing: Secret | undefined,
  oldState: StsState,
  now: number,
): Promise<
  | { credentials: StoreCredentials; entry: StsState[string]; failure?: string }
  | { error: Error; failure: string }
> {
  const endpoint = store.spec.credentials.sts?.endpoint ?? store.spec.endpoints[0]?.url ?? '';
  const durationSeconds = store.spec.credentials.sts?.durationSeconds ?? deps.sts.defaultDurationSeconds;
  const policy = JSON.stringify(buildSessionPolicy(storeName, document.grants));
  const want = {
    policyHash: stableHash(policy),
    sourceHash: stableHash([
      source.accessKeyId,
      source.secretAccessKey,
      source.sessionToken ?? '',
      endpoint,
      durationSeconds,
    ]),
    now,
    fraction: deps.sts.renewFraction,
  };
  const old = oldState[storeName];
  const oldCreds = storedCredentials(existing, storeName);
  const reusable = old !== undefined && oldCreds?.accessKeyId === old.accessKeyId;
  if (reusable && stsDecision(old, want) === 'reuse') return { credentials: oldCreds, entry: old };
  try {
    const got = await deps.assumeRole({
      endpoint,
      region: store.spec.region,
      credentials: source,
      policy,
      durationSeconds,
    });
    deps.metrics.stsAssumeRoleTotal.inc({ result: 'success' });
    const { expiresAt, ...credentials } = got;
    return {
      credentials,
      entry: {
        accessKeyId: got.accessKeyId,
        issuedAt: now,
        expiresAt,
        policyHash: want.policyHash,
        sourceHash: want.sourceHash,
      },
    };
  } catch (err) {
    deps.metrics.stsAssumeRoleTotal.inc({ result: 'error' });
    const failure = failureText(err, source);
    if (reusable && stillValid(old, want)) return { credentials: oldCreds, entry: old, failure };
    // What is logged and retried carries the redacted text, never the raw error (whose message
    // could quote the store's secret or token back).
    return { error: new ControllerError('StsFailed', failure, true), failure };
  }
}

/** Creates or updates the Secret when it differs; refuses Secrets that are not the owner's. */
async function writeSecret(
  deps: PodReconcilerDeps,
  path: string,
  owner: Pod,
  identity: string,
  cached: Secret | undefined,
  desired: Secret,
  document: PodPolicyDocument,
): Promise<void> {
  const { client } = deps;
  let existing = cached;
  if (!existing) {
    try {
      await client.create(
        resourcePath({ group: '', version: 'v1', plural: 'secrets', namespace: owner.metadata?.namespace }),
        desired,
      );
      deps.metrics.secretWritesTotal.inc({ op: 'create' });
      announce(deps, owner, undefined, document);
      return;
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
      existing = await client.get<Secret>(path); // created behind our cache's back: look at it
    }
  }
  const heldBy = controllerOwnerUid(existing);
  if (
    !isManagedSecret(existing) ||
    (heldBy !== undefined && heldBy !== owner.metadata?.uid && holderAlive(deps, owner, identity, heldBy))
  ) {
    reportConflict(
      deps,
      owner,
      { metadata: { name: isManagedSecret(existing) ? 'another pod' : 'a Secret not managed by Sluice' } },
      identity,
    );
    throw new ControllerError('IdentityConflict', `Secret ${path} is not this pod's; not written`, false);
  }
  if (!secretDiffers(existing, desired)) return;
  await client.replace(path, mergeForUpdate(existing, desired));
  deps.metrics.secretWritesTotal.inc({ op: 'update' });
  announce(deps, owner, existing, document);
}

/**
 * Whether the pod holding the Secret still counts: running with the sidecar and the identity.
 * A finished one (Succeeded, Failed) keeps no grants and no credentials, so a live pod with the
 * same identity takes the Secret over instead of being refused beside it.
 */
function holderAlive(deps: PodReconcilerDeps, owner: Pod, identity: string, uid: string): boolean {
  return deps.world
    .podsWithIdentity(owner.metadata?.namespace ?? '', identity)
    .some((p) => p.metadata?.uid === uid);
}

/** A Normal Event on the pod when its policy (not just its credentials) changed. */
function announce(
  deps: PodReconcilerDeps,
  pod: Pod,
  before: Secret | undefined,
  document: PodPolicyDocument,
): void {
  if (storedPolicy(before) === policyFileContent(document)) return;
  const stores = document.stores.map((s) => s.name).join(', ') || 'none';
  deps.events.record(
    pod,
    POD_REF,
    'Normal',
    before ? 'PolicyUpdated' : 'PolicyCreated',
    `${document.grants.length} grant(s) on store(s) ${stores}${document.zone ? `, zone ${document.zone}` : ''}`,
  );
}
