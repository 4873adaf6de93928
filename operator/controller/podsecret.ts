/**
 * The per-pod Secret: what it should contain, who owns it, and whether the stored one differs.
 * Pure. The controller writes only when {@link secretDiffers} says so.
 *
 * Layout (keys of .data, base64 as the API wants):
 *   policy.json                  the PodPolicyDocument
 *   <store>.credentials.json     {accessKeyId, secretAccessKey, sessionToken?} per store in it
 */
import type { PodPolicyDocument } from '../../proxy/config/types.ts';
import {
  API_GROUP,
  IDENTITY_LABEL,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  POLICY_KEY,
  credentialsKey,
  podSecretName,
} from '../contract.ts';
import type { OwnerReference } from '../kube/client.ts';
import { credentialsFileContent, type StoreCredentials } from './credentials.ts';
import type { Pod, Secret } from './types.ts';

/** Annotation holding the STS bookkeeping (see ./sts-state.ts) of the Secret's credentials. */
export const STS_STATE_ANNOTATION = `${API_GROUP}/sts-state`;

/** The bytes of policy.json: stable (same document, same bytes), readable. */
export function policyFileContent(doc: PodPolicyDocument): string {
  return JSON.stringify(doc, null, 2) + '\n';
}

/** The pod's controller ownerReference: the Secret goes when the pod goes (if a GC runs). */
export function podOwnerReference(pod: Pod): OwnerReference {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid ?? '',
    controller: true,
  };
}

/** UID of the Secret's controller owner, if any. */
export function controllerOwnerUid(secret: Secret | undefined): string | undefined {
  return secret?.metadata?.ownerReferences?.find((r) => r.controller)?.uid;
}

/** True when the Secret carries Sluice's managed-by label (never touch a Secret without it). */
export function isManagedSecret(secret: Secret | undefined): boolean {
  return secret?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
}

/** Inputs of {@link desiredPodSecret}. */
export interface DesiredSecretInput {
  pod: Pod;
  identity: string;
  document: PodPolicyDocument;
  /** Credentials of every store in `document.stores`. */
  credentials: ReadonlyMap<string, StoreCredentials>;
  /** Serialised STS bookkeeping, when any store uses STS. */
  stsState?: string;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** The Secret the pod should have. */
export function desiredPodSecret(input: DesiredSecretInput): Secret {
  const data: Record<string, string> = { [POLICY_KEY]: b64(policyFileContent(input.document)) };
  for (const store of input.document.stores) {
    const c = input.credentials.get(store.name);
    if (!c) throw new Error(`desiredPodSecret: no credentials for store ${store.name}`);
    data[credentialsKey(store.name)] = b64(credentialsFileContent(c));
  }
  const annotations: Record<string, string> = {};
  if (input.stsState) annotations[STS_STATE_ANNOTATION] = input.stsState;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: podSecretName(input.identity),
      namespace: input.pod.metadata?.namespace ?? '',
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [IDENTITY_LABEL]: input.identity },
      annotations,
      ownerReferences: [podOwnerReference(input.pod)],
    },
    data,
  };
}

function sameRecord(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ak = Object.keys(a ?? {}).sort();
  const bk = Object.keys(b ?? {}).sort();
  return ak.length === bk.length && ak.every((k, i) => k === bk[i] && a?.[k] === b?.[k]);
}

/**
 * True when `existing` must be rewritten to become `desired`: data, our labels, our STS
 * annotation, or the owner differ. Labels and annotations added by others are left alone.
 */
export function secretDiffers(existing: Secret, desired: Secret): boolean {
  if (!sameRecord(existing.data, desired.data)) return true;
  for (const [k, v] of Object.entries(desired.metadata?.labels ?? {})) {
    if (existing.metadata?.labels?.[k] !== v) return true;
  }
  if (
    existing.metadata?.annotations?.[STS_STATE_ANNOTATION] !==
    desired.metadata?.annotations?.[STS_STATE_ANNOTATION]
  ) {
    return true;
  }
  const eo = existing.metadata?.ownerReferences ?? [];
  const do_ = desired.metadata?.ownerReferences ?? [];
  return JSON.stringify(eo) !== JSON.stringify(do_);
}

/** `desired` merged onto `existing` for a PUT: keeps others' labels/annotations, our keys win. */
export function mergeForUpdate(existing: Secret, desired: Secret): Secret {
  const annotations = { ...(existing.metadata?.annotations ?? {}), ...(desired.metadata?.annotations ?? {}) };
  if (!desired.metadata?.annotations?.[STS_STATE_ANNOTATION]) delete annotations[STS_STATE_ANNOTATION];
  return {
    ...existing,
    type: existing.type,
    metadata: {
      ...existing.metadata,
      labels: { ...(existing.metadata?.labels ?? {}), ...(desired.metadata?.labels ?? {}) },
      annotations,
      ownerReferences: desired.metadata?.ownerReferences ?? [],
    },
    data: desired.data ?? {},
  };
}

/** The decoded policy.json of a stored Secret, or undefined. */
export function storedPolicy(secret: Secret | undefined): string | undefined {
  const v = secret?.data?.[POLICY_KEY];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

/** The decoded credentials of one store in a stored Secret, or undefined. */
export function storedCredentials(secret: Secret | undefined, store: string): StoreCredentials | undefined {
  const v = secret?.data?.[credentialsKey(store)];
  if (v === undefined) return undefined;
  try {
    const c = JSON.parse(Buffer.from(v, 'base64').toString('utf8')) as Partial<StoreCredentials>;
    if (typeof c.accessKeyId !== 'string' || typeof c.secretAccessKey !== 'string') return undefined;
    return c.sessionToken
      ? { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken }
      : { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey };
  } catch {
    return undefined;
  }
}
