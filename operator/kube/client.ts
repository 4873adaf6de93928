/**
 * A small JSON REST client for the Kubernetes API: authentication and TLS come from a
 * @kubernetes/client-node KubeConfig, everything else is plain HTTP so that every call the
 * operator makes (paths, verbs, patch types) is visible in one place and in RBAC.
 */
import { fetch } from 'undici';
import type { KubeConfig } from '@kubernetes/client-node';
import { RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';

/** A non-2xx answer from the API server, with the Status object's reason and message. */
export class KubeApiError extends Error {
  readonly code = 'KUBE_API_ERROR';
  readonly status: number;
  /** metav1.Status reason, e.g. NotFound, AlreadyExists, Conflict, Invalid, Forbidden. */
  readonly reason: string;
  /** 409 conflicts, 429 and 5xx are worth retrying; the rest are not without a change. */
  readonly retryable: boolean;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
    this.retryable = status === 409 || status === 429 || status >= 500;
  }
}

/** True when `err` is a {@link KubeApiError} with this HTTP status. */
export function isStatus(err: unknown, status: number): boolean {
  return err instanceof KubeApiError && err.status === status;
}

/** Patch content types the API server accepts (strategic merge is core types only). */
export type PatchType = 'merge' | 'json' | 'strategic';
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

/** Minimal object shape every Kubernetes object has. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
    creationTimestamp?: string | Date;
    deletionTimestamp?: string | Date;
    [k: string]: unknown;
  };
}

/** metav1.OwnerReference. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** A list answer: items plus the resourceVersion a watch continues from. */
export interface KubeList<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/**
 * JSON client bound to one KubeConfig. Methods take API paths (e.g.
 * `/api/v1/namespaces/ns/secrets/x`) and throw {@link KubeApiError} on non-2xx answers.
 */
export class KubeClient {
  readonly kubeConfig: KubeConfig;
  readonly server: string;

  constructor(kubeConfig: KubeConfig) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('KubeClient: kubeconfig has no current cluster');
    this.kubeConfig = kubeConfig;
    this.server = cluster.server.replace(/\/+$/, '');
  }

  /** One request; `body` is JSON-encoded; returns the decoded JSON answer (undefined on empty). */
  async request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    opts: {
      body?: unknown;
      query?: Record<string, string | undefined>;
      patchType?: PatchType;
      /** Aborts the call (a deadline of the caller's: undici's own timeouts are minutes). */
      signal?: AbortSignal;
    } = {},
  ): Promise<T> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const ctx = new RequestContext(url.toString(), method);
    await this.kubeConfig.applySecurityAuthentication(ctx);
    const headers: Record<string, string> = { ...ctx.getHeaders(), accept: 'application/json' };
    if (opts.body !== undefined) {
      headers['content-type'] = opts.patchType ? PATCH_CONTENT_TYPE[opts.patchType] : 'application/json';
    }
    const res = await fetch(url, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      dispatcher: ctx.getDispatcher(),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const text = await res.text();
    if (res.status < 200 || res.status >= 300) {
      let reason = '';
      let message = text || `HTTP ${res.status}`;
      try {
        const status = JSON.parse(text) as { reason?: string; message?: string };
        reason = status.reason ?? '';
        message = status.message ?? message;
      } catch {
        // not a metav1.Status: keep the raw body as the message
      }
      throw new KubeApiError(res.status, reason, `${method} ${path}: ${res.status} ${message}`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }
  /** GET that answers undefined on 404. */
  async getOrUndefined<T>(path: string, signal?: AbortSignal): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', path, signal ? { signal } : {});
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }
  list<T>(path: string, query: Record<string, string | undefined> = {}): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('GET', path, { query });
  }
  create<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.request<T>('POST', path, signal ? { body, signal } : { body });
  }
  replace<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.request<T>('PUT', path, signal ? { body, signal } : { body });
  }
  patch<T>(path: string, body: unknown, patchType: PatchType = 'merge'): Promise<T> {
    return this.request<T>('PATCH', path, { body, patchType });
  }
  /** DELETE; a precondition on the UID makes it safe against a same-named successor. */
  async delete(path: string, preconditionUid?: string): Promise<void> {
    const body = preconditionUid
      ? { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: preconditionUid } }
      : undefined;
    await this.request('DELETE', path, { body });
  }
}

/** API path of a resource collection or object. `group` '' is the core group. */
export function resourcePath(r: {
  group: string;
  version: string;
  plural: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}): string {
  let p = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  if (r.namespace) p += `/namespaces/${encodeURIComponent(r.namespace)}`;
  p += `/${r.plural}`;
  if (r.name) p += `/${encodeURIComponent(r.name)}`;
  if (r.subresource) p += `/${r.subresource}`;
  return p;
}
