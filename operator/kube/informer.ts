/**
 * An informer: list + watch of one resource into a local cache, with add/update/delete
 * callbacks. Built on @kubernetes/client-node's ListWatch, plus what it lacks for a controller:
 * it restarts itself (with capped exponential backoff) after a watch or list error instead of
 * stopping for good, and `start()` resolves only once the first list is in the cache.
 */
import { ListWatch, Watch } from '@kubernetes/client-node';
import type { KubernetesObject, KubernetesListObject } from '@kubernetes/client-node';
import type { KubeClient, KubeObject } from './client.ts';

/** What an informer watches. */
export interface InformerOptions {
  /** Collection path, e.g. `/api/v1/pods` or `/apis/sluice.dev/v1alpha1/objectstores`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** First retry delay after an error (ms); doubled per consecutive error up to maxRetryMs. */
  baseRetryMs?: number;
  maxRetryMs?: number;
  /** Called with every list/watch error (for logs and metrics); the informer retries by itself. */
  onError?: (err: unknown) => void;
}

type Handler<T> = (obj: T) => void;

/** Local cache of one resource kept current by list+watch; see the module comment. */
export class Informer<T extends KubeObject> {
  readonly path: string;
  private readonly lw: ListWatch<KubernetesObject>;
  private readonly opts: InformerOptions;
  private stopped = false;
  /** The first list is in the cache (start() resolved). */
  private listed = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(client: KubeClient, opts: InformerOptions) {
    this.opts = opts;
    this.path = opts.path;
    // Objects stay plain JSON (timestamps as strings): the cache never deserialises them.
    const listFn = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      const list = await client.list<KubernetesObject>(opts.path, {
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
      });
      return list;
    };
    this.lw = new ListWatch<KubernetesObject>(
      opts.path,
      new Watch(client.kubeConfig),
      listFn,
      false,
      opts.labelSelector,
      opts.fieldSelector,
    );
    this.lw.on('error', (err: unknown) => this.retry(err));
  }

  on(verb: 'add' | 'update' | 'delete', cb: Handler<T>): void {
    this.lw.on(verb, (obj: KubernetesObject) => {
      this.failures = 0; // an event proves the watch works again: reset the backoff
      cb(obj as T);
    });
  }

  /**
   * Lists, fills the cache, starts watching; resolves once the first list is cached. A failing
   * list (e.g. 429 while a new CRD's storage initialises, 403 until RBAC is fixed) is reported
   * through onError and retried with backoff — like client-go's WaitForCacheSync, it waits.
   * Rejects only if stop() is called first.
   */
  async start(): Promise<void> {
    this.stopped = false;
    for (let attempt = 0; ; attempt++) {
      let failed: unknown;
      const onFirstError = (err: unknown): void => {
        failed ??= err ?? new Error('list failed');
      };
      this.lw.on('error', onFirstError);
      try {
        await this.lw.start();
      } finally {
        this.lw.off('error', onFirstError);
      }
      // The permanent error handler scheduled a retry; this loop does it instead.
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      if (failed === undefined) {
        this.failures = 0;
        this.listed = true;
        return;
      }
      if (this.stopped) throw new Error(`informer ${this.path} stopped before its first list`);
      const base = this.opts.baseRetryMs ?? 500;
      await new Promise((r) => setTimeout(r, Math.min(base * 2 ** attempt, this.opts.maxRetryMs ?? 30_000)));
      if (this.stopped) throw new Error(`informer ${this.path} stopped before its first list`);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.lw.stop();
  }

  /** True once the first list is cached: before that, an absent object may just be unlisted. */
  get synced(): boolean {
    return this.listed;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace) as T | undefined;
  }

  list(namespace?: string): readonly T[] {
    return this.lw.list(namespace) as readonly T[];
  }

  private retry(err: unknown): void {
    this.opts.onError?.(err);
    if (this.stopped || this.retryTimer) return;
    const base = this.opts.baseRetryMs ?? 500;
    const delay = Math.min(base * 2 ** this.failures, this.opts.maxRetryMs ?? 30_000);
    this.failures++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.stopped) return;
      // start() re-lists (a fresh resourceVersion is not needed: ListWatch keeps its own).
      this.lw.start().catch((e: unknown) => this.retry(e));
    }, delay);
    this.retryTimer.unref();
  }
}
