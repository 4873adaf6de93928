/**
 * The controller's read-only view of the cluster: the informer caches, plus the derived facts
 * every reconciler asks for (a namespace's labels, a store's credentials, a node's zone). Keeping
 * reconcilers on this interface keeps them free of watch plumbing.
 */
import { IDENTITY_LABEL, SIDECAR_CONTAINER_NAME } from '../contract.ts';
import type { CredentialsLookup } from './credentials.ts';
import { readStoreCredentials } from './credentials.ts';
import { ZONE_LABEL } from './types.ts';
import type { BucketAccess, Namespace, Node, ObjectStore, Pod, Secret } from './types.ts';

/** A cache: get by name (+namespace), list (optionally per namespace). */
export interface Cache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
}

/** The caches the controller keeps. Credential Secrets are looked up by `ns/name`. */
export interface Caches {
  stores: Cache<ObjectStore>;
  accesses: Cache<BucketAccess>;
  pods: Cache<Pod>;
  podSecrets: Cache<Secret>;
  nodes: Cache<Node>;
  namespaces: Cache<Namespace>;
  /** 'pending' while the Secret's watch has not listed yet (absent then means unknown). */
  credentialSecret(namespace: string, name: string): Secret | undefined | 'pending';
}

/** Derived lookups over {@link Caches}; see the module comment. */
export class World {
  readonly caches: Caches;
  constructor(caches: Caches) {
    this.caches = caches;
  }

  /** The namespace's labels; undefined while the namespace is not in the cache (not known yet). */
  namespaceLabels(ns: string): Record<string, string> | undefined {
    const namespace = this.caches.namespaces.get(ns);
    return namespace === undefined ? undefined : (namespace.metadata?.labels ?? {});
  }

  storeMap(): Map<string, ObjectStore> {
    const m = new Map<string, ObjectStore>();
    for (const s of this.caches.stores.list()) if (s.metadata?.name) m.set(s.metadata.name, s);
    return m;
  }

  storeCredentials(store: ObjectStore): CredentialsLookup {
    const ref = store.spec.credentials.secretRef;
    const secret = this.caches.credentialSecret(ref.namespace, ref.name);
    if (secret === 'pending') {
      return {
        ok: false,
        reason: 'CredentialsPending',
        message: `Secret ${ref.namespace}/${ref.name} is not listed yet (see the operator's log if this lasts)`,
      };
    }
    return readStoreCredentials(secret, ref);
  }

  /**
   * Injected pods of `ns` carrying `identity` that can still run (see {@link isFinished}) and
   * look injected ({@link carriesSidecar}).
   */
  podsWithIdentity(ns: string, identity: string): Pod[] {
    return this.caches.pods
      .list(ns)
      .filter(
        (p) => p.metadata?.labels?.[IDENTITY_LABEL] === identity && !isFinished(p) && carriesSidecar(p),
      );
  }

  /** The zone of the pod's node, once it is scheduled and the node is labelled. */
  podZone(pod: Pod): string | undefined {
    const node = pod.spec?.nodeName;
    if (!node) return undefined;
    return this.caches.nodes.get(node)?.metadata?.labels?.[ZONE_LABEL] || undefined;
  }
}

/**
 * The identity label alone is not proof of injection: anyone who can create or label pods can set
 * it. A pod gets credentials only when it also has the sidecar container (as a container or a
 * native sidecar) and is not on the host network, where the sidecar's 127.0.0.1 would be the
 * node's. Hardening, not a boundary: whoever can create pods in a namespace can mount that
 * namespace's Secrets (README, "Security model").
 */
export function carriesSidecar(pod: Pod): boolean {
  if (pod.spec?.hostNetwork === true) return false;
  const named = (c: { name?: string }): boolean => c.name === SIDECAR_CONTAINER_NAME;
  return (pod.spec?.containers ?? []).some(named) || (pod.spec?.initContainers ?? []).some(named);
}

/**
 * A pod whose containers have all stopped for good (phase Succeeded or Failed: a completed Job,
 * an evicted pod). It keeps no grants and no credentials: a finished pod that is never deleted
 * would otherwise hold live store keys, and STS credentials renewed for ever.
 */
export function isFinished(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}
