/**
 * Namespace labels for the injection decision, behind a small TTL cache: a namespace's labels
 * rarely change and every pod admission in it would otherwise cost an API call. A label change
 * takes effect within `ttlMs`. Concurrent misses for one namespace share one request.
 */
import { IDENTITY_LABEL } from '../contract.ts';
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';

/** Labels of namespace `name`, or undefined if it does not exist. Rejects on API errors. */
export type NamespaceLabelLookup = (name: string) => Promise<Readonly<Record<string, string>> | undefined>;

export interface CacheOptions {
  ttlMs?: number;
  /** Bound on cached namespaces; the oldest entry goes first. */
  maxEntries?: number;
  now?: () => number;
  /** Told hit/miss/error, for metrics. */
  onLookup?: (result: 'hit' | 'miss' | 'error') => void;
}

/**
 * The API server's answer to a webhook's own call, or a rejection after `ms`: the client's own
 * limit is 300 s, and one stuck call (shared by every admission of its namespace) would hold
 * every pod of the namespace past the API server's webhook timeout, refused, until it died.
 * The call itself is left to finish; nothing waits for it.
 */
export function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer from the API server in ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** How long a webhook's own API call may take: well inside the chart's 10 s webhook timeout. */
export const API_CALL_DEADLINE_MS = 4_000;

/** Wraps `fetch` in the cache. Errors are not cached: the next admission retries. */
export function cachedNamespaceLookup(
  fetch: NamespaceLabelLookup,
  opts: CacheOptions = {},
): NamespaceLabelLookup {
  const ttl = opts.ttlMs ?? 30_000;
  const max = opts.maxEntries ?? 10_000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { at: number; labels: Readonly<Record<string, string>> | undefined }>();
  const inflight = new Map<string, ReturnType<NamespaceLabelLookup>>();
  return async (name) => {
    const hit = cache.get(name);
    if (hit && now() - hit.at < ttl) {
      opts.onLookup?.('hit');
      return hit.labels;
    }
    let p = inflight.get(name);
    if (!p) {
      p = fetch(name).finally(() => inflight.delete(name));
      inflight.set(name, p);
    }
    try {
      const labels = await p;
      cache.delete(name);
      cache.set(name, { at: now(), labels });
      if (cache.size > max) cache.delete(cache.keys().next().value!);
      opts.onLookup?.('miss');
      return labels;
    } catch (err) {
      opts.onLookup?.('error');
      throw err;
    }
  };
}

/** Reads namespace labels from the API server (needs `get` on namespaces). */
export function kubeNamespaceLookup(kubeConfig: KubeConfig): NamespaceLabelLookup {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  return async (name) => {
    try {
      const ns = await withDeadline(api.readNamespace({ name }), API_CALL_DEADLINE_MS, `namespace ${name}`);
      return ns.metadata?.labels ?? {};
    } catch (err) {
      if ((err as { code?: unknown }).code === 404) return undefined;
      throw err;
    }
  };
}

/**
 * Whether a pod of `namespace` already carries `identity` (its label). A pod being admitted does
 * not exist yet, so on a webhook re-invocation the answer is no; a copy of an existing pod's
 * manifest (its labels and volumes included) gets yes.
 */
export type IdentityInUse = (namespace: string, identity: string) => Promise<boolean>;

/** {@link IdentityInUse} through the API: one list call, at most one item. */
export function kubeIdentityLookup(kubeConfig: KubeConfig): IdentityInUse {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  return async (namespace, identity) => {
    const pods = await withDeadline(
      api.listNamespacedPod({ namespace, labelSelector: `${IDENTITY_LABEL}=${identity}`, limit: 1 }),
      API_CALL_DEADLINE_MS,
      `pods of identity ${identity}`,
    );
    return pods.items.length > 0;
  };
}
