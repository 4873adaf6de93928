/**
 * The controller: informers on ObjectStores, BucketAccesses, injected Pods, per-pod Secrets,
 * Nodes, Namespaces and the stores' credential Secrets; every event becomes keys in ONE
 * de-duplicating queue; workers reconcile keys from the caches.
 *
 * Keys: `pod:<ns>/<identity>` (the per-pod Secret), `ba:<ns>/<name>` (BucketAccess status),
 * `store:<name>` (ObjectStore status). Fan-out is deliberately coarse (a BucketAccess change
 * requeues every identity of its namespace): reconciles are cheap no-ops when nothing changed,
 * and coarse fan-out cannot miss a dependency.
 */
import type { Logger } from 'pino';
import { IDENTITY_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../contract.ts';
import { type KubeClient, type KubeObject, KubeApiError } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import { WorkQueue } from '../kube/queue.ts';
import type { OperatorMetrics, ReconcileKind } from '../metrics.ts';
import { ControllerError } from './errors.ts';
import { EventRecorder } from './events.ts';
import { reconcilePodIdentity, type PodReconcilerDeps, type ReconcileResult } from './reconcile-pod.ts';
import { reconcileBucketAccessStatus, reconcileObjectStoreStatus } from './reconcile-status.ts';
import { StsFailures, type StsFailure } from './sts-failures.ts';
import { assumeRole as realAssumeRole, type AssumeRoleInput, type AssumedCredentials } from './sts-client.ts';
import { GROUP, VERSION } from './types.ts';
import type { BucketAccess, Namespace, Node, ObjectStore, Pod, Secret } from './types.ts';
import { isFinished, World } from './world.ts';

/** Options of {@link Controller}. */
export interface ControllerOptions {
  client: KubeClient;
  log: Logger;
  metrics: OperatorMetrics;
  /** Every key is re-reconciled this often (ms) even without events. */
  resyncPeriodMs: number;
  /** Concurrent reconciles. */
  workers: number;
  /** Name of this replica (Event reportingInstance). */
  instance: string;
  sts: { defaultDurationSeconds: number; renewFraction: number };
  /** Per-key backoff of failing reconciles. */
  backoff?: { baseMs: number; maxMs: number };
  /** Injectable for tests; defaults to the real STS client. */
  assumeRole?: (input: AssumeRoleInput) => Promise<AssumedCredentials>;
}

const CRD_BASE = `/apis/${GROUP}/${VERSION}`;
const ident = (o: { metadata?: { labels?: Record<string, string> } }): string | undefined =>
  o.metadata?.labels?.[IDENTITY_LABEL];

/** See the module comment. `start()` resolves once the caches are synced and workers run. */
export class Controller {
  private readonly o: ControllerOptions;
  private readonly queue: WorkQueue;
  private readonly stores: Informer<ObjectStore>;
  private readonly accesses: Informer<BucketAccess>;
  private readonly pods: Informer<Pod>;
  private readonly podSecrets: Informer<Secret>;
  private readonly nodes: Informer<Node>;
  private readonly namespaces: Informer<Namespace>;
  /** `ns/name` → informer on exactly that Secret (fieldSelector), one per referenced Secret. */
  private readonly credentialInformers = new Map<string, Informer<Secret>>();
  /** The first list of each credential informer (settles when listed, or when it gives up). */
  private readonly credentialStarts = new Map<string, Promise<void>>();
  private readonly world: World;
  private readonly deps: PodReconcilerDeps;
  /** Failing AssumeRole calls per store; a change requeues the store's and its accesses' status. */
  private readonly stsFailures: StsFailures;
  /** Last identity and scheduling-relevant signature per pod UID (to requeue an old identity). */
  private readonly podSeen = new Map<string, { key: string; sig: string }>();
  /** metadata.generation of each BucketAccess last seen (`ba:ns/name`): spec changes only. */
  private readonly accessGenerations = new Map<string, number>();
  private resyncTimer: NodeJS.Timeout | undefined;
  private workersDone: Promise<void>[] = [];
  private running = false;
  private started = false;

  constructor(o: ControllerOptions) {
    if (!(o.workers >= 1)) throw new RangeError('Controller: workers must be >= 1');
    if (!(o.resyncPeriodMs >= 1000)) throw new RangeError('Controller: resyncPeriodMs must be >= 1000');
    this.o = o;
    this.queue = new WorkQueue({
      baseBackoffMs: o.backoff?.baseMs ?? 200,
      maxBackoffMs: o.backoff?.maxMs ?? 60_000,
    });
    const informer = <T extends KubeObject>(
      resource: string,
      path: string,
      labelSelector?: string,
    ): Informer<T> =>
      new Informer<T>(o.client, {
        path,
        labelSelector,
        onError: (err) => {
          o.metrics.informerErrorsTotal.inc({ resource });
          o.log.warn({ err: String(err), resource }, 'list/watch failed; retrying');
        },
      });
    this.stores = informer<ObjectStore>('objectstores', `${CRD_BASE}/objectstores`);
    this.accesses = informer<BucketAccess>('bucketaccesses', `${CRD_BASE}/bucketaccesses`);
    this.pods = informer<Pod>('pods', '/api/v1/pods', IDENTITY_LABEL);
    // Only Secrets Sluice made: the informer never caches application Secrets.
    this.podSecrets = informer<Secret>(
      'secrets',
      '/api/v1/secrets',
      `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${IDENTITY_LABEL}`,
    );
    this.nodes = informer<Node>('nodes', '/api/v1/nodes');
    this.namespaces = informer<Namespace>('namespaces', '/api/v1/namespaces');
    this.world = new World({
      stores: this.stores,
      accesses: this.accesses,
      pods: this.pods,
      podSecrets: this.podSecrets,
      nodes: this.nodes,
      namespaces: this.namespaces,
      credentialSecret: (ns, name) => this.credentialSecret(ns, name),
    });
    this.stsFailures = new StsFailures((store) => this.enqueueStoreStatus(store));
    this.deps = {
      world: this.world,
      client: o.client,
      events: new EventRecorder(o.client, {
        component: 'sluice-operator',
        instance: o.instance,
        onError: (err) => o.log.debug({ err: String(err) }, 'event not recorded'),
      }),
      metrics: o.metrics,
      log: o.log,
      assumeRole: o.assumeRole ?? realAssumeRole,
      now: Date.now,
      sts: o.sts,
      conflictsReported: new Set(),
      stsFailures: this.stsFailures,
    };
    this.wire();
  }

  /** Read-only view of the caches (for tests and debugging). */
  get view(): World {
    return this.world;
  }

  /** Keys waiting in the queue. */
  get queueDepth(): number {
    return this.queue.length;
  }

  /**
   * Syncs the caches, then starts the workers. Once only: a stopped Controller is not started
   * again (its queue is shut down for good); leadership terms get a fresh one each
   * ({@link controllerPerTerm}). stop() may come while this waits for caches: it then rejects.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('Controller.start: a controller runs once; make a new one');
    this.started = true;
    this.running = true;
    const stillRunning = (): void => {
      if (!this.running) throw new Error('controller stopped while starting');
    };
    await Promise.all([this.namespaces.start(), this.nodes.start(), this.stores.start()]);
    stillRunning();
    // Store events during that first list already started credential informers: wait for all.
    await this.syncCredentialInformers();
    await Promise.all(this.credentialStarts.values());
    stillRunning();
    await Promise.all([this.accesses.start(), this.pods.start(), this.podSecrets.start()]);
    stillRunning();
    this.enqueueAll();
    for (let i = 0; i < this.o.workers; i++) this.workersDone.push(this.worker());
    this.resyncTimer = setInterval(() => this.enqueueAll(), this.o.resyncPeriodMs);
    this.resyncTimer.unref();
    this.o.log.info({ workers: this.o.workers }, 'controller started');
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.resyncTimer);
    this.queue.shutDown();
    const informers = [
      this.stores,
      this.accesses,
      this.pods,
      this.podSecrets,
      this.nodes,
      this.namespaces,
      ...this.credentialInformers.values(),
    ];
    await Promise.all(informers.map((i) => i.stop()));
    this.credentialInformers.clear();
    this.credentialStarts.clear();
    await Promise.all(this.workersDone);
    this.workersDone = [];
    this.o.log.info('controller stopped');
  }

  // ---- event → key mapping -------------------------------------------------------------

  private enqueue(key: string): void {
    this.queue.add(key);
    this.o.metrics.queueDepth.set(this.queue.length);
  }

  private enqueueAll(): void {
    for (const p of this.pods.list()) {
      const id = ident(p);
      if (id) this.enqueue(`pod:${p.metadata?.namespace}/${id}`);
    }
    // Orphans: Secrets whose pod went while we were not watching.
    for (const s of this.podSecrets.list()) {
      const id = ident(s);
      if (id) this.enqueue(`pod:${s.metadata?.namespace}/${id}`);
    }
    for (const b of this.accesses.list()) this.enqueue(`ba:${b.metadata?.namespace}/${b.metadata?.name}`);
    for (const s of this.stores.list()) this.enqueue(`store:${s.metadata?.name}`);
  }

  private enqueueNamespace(ns: string, withAccesses: boolean): void {
    for (const p of this.pods.list(ns)) {
      const id = ident(p);
      if (id) this.enqueue(`pod:${ns}/${id}`);
    }
    if (withAccesses) for (const b of this.accesses.list(ns)) this.enqueue(`ba:${ns}/${b.metadata?.name}`);
  }

  /** A store changed (spec or credentials): its status, and every namespace that uses it. */
  private enqueueStore(name: string): void {
    this.enqueue(`store:${name}`);
    const namespaces = new Set<string>();
    for (const b of this.accesses.list()) {
      if (b.spec.storeRef === name) {
        namespaces.add(b.metadata?.namespace ?? '');
        this.enqueue(`ba:${b.metadata?.namespace}/${b.metadata?.name}`);
      }
    }
    // Every BucketAccess of those namespaces: whether this store can be used decides which
    // of two grants of one bucket its pods get (status.ts GrantRefused).
    for (const ns of namespaces) this.enqueueNamespace(ns, true);
  }

  /**
   * Only the status of a store and of the BucketAccesses of the namespaces using it (not their
   * pods): STS failures changed, and with them which grant of a contested bucket is served.
   */
  private enqueueStoreStatus(name: string): void {
    this.enqueue(`store:${name}`);
    const namespaces = new Set<string>();
    for (const b of this.accesses.list())
      if (b.spec.storeRef === name) namespaces.add(b.metadata?.namespace ?? '');
    for (const b of this.accesses.list())
      if (namespaces.has(b.metadata?.namespace ?? ''))
        this.enqueue(`ba:${b.metadata?.namespace}/${b.metadata?.name}`);
  }

  private wire(): void {
    const onStore = (s: ObjectStore): void => {
      this.enqueueStore(s.metadata?.name ?? '');
      this.syncCredentialInformers().catch((err: unknown) =>
        this.o.log.warn({ err: String(err) }, 'credential watch sync failed'),
      );
    };
    for (const v of ['add', 'update', 'delete'] as const) {
      this.stores.on(v, onStore);
      this.accesses.on(v, (b) => {
        const ns = b.metadata?.namespace ?? '';
        const key = `ba:${ns}/${b.metadata?.name}`;
        this.enqueue(key);
        // A new spec (not our own status writes, which move no generation): every BucketAccess
        // of the namespace, as its grants may now conflict with theirs, or no longer
        // (status.ts GrantRefused).
        const generation = v === 'delete' ? undefined : b.metadata?.generation;
        const specChanged = v !== 'update' || this.accessGenerations.get(key) !== generation;
        if (generation === undefined) this.accessGenerations.delete(key);
        else this.accessGenerations.set(key, generation);
        this.enqueueNamespace(ns, specChanged);
      });
      this.pods.on(v, (p) => this.onPod(p, v === 'delete'));
      this.podSecrets.on(v, (s) => {
        const id = ident(s);
        if (id) this.enqueue(`pod:${s.metadata?.namespace}/${id}`);
      });
      this.nodes.on(v, (n) => {
        for (const p of this.pods.list()) {
          const id = ident(p);
          if (id && p.spec?.nodeName === n.metadata?.name) this.enqueue(`pod:${p.metadata?.namespace}/${id}`);
        }
      });
      this.namespaces.on(v, (n) => this.enqueueNamespace(n.metadata?.name ?? '', true));
    }
  }

  private onPod(p: Pod, deleted: boolean): void {
    const ns = p.metadata?.namespace ?? '';
    const uid = p.metadata?.uid ?? '';
    const id = ident(p);
    const key = id ? `pod:${ns}/${id}` : '';
    const sig = JSON.stringify([
      p.metadata?.labels ?? {},
      p.spec?.serviceAccountName ?? '',
      p.spec?.nodeName ?? '',
      isFinished(p),
    ]);
    const seen = this.podSeen.get(uid);
    if (seen && seen.key !== key) this.enqueue(seen.key); // identity label changed: the old one too
    if (key) this.enqueue(key);
    if (deleted) {
      this.podSeen.delete(uid);
      this.deps.conflictsReported.delete(uid);
    } else {
      this.podSeen.set(uid, { key, sig });
    }
    // matchedPods of the namespace's BucketAccesses only moves when selection inputs change.
    if (deleted || !seen || seen.sig !== sig)
      for (const b of this.accesses.list(ns)) this.enqueue(`ba:${ns}/${b.metadata?.name}`);
  }

  /**
   * A store's credential Secret from its informer's cache, or 'pending' while that informer has
   * not listed yet — at start, after a failover, or just after a store's secretRef changed.
   * Taken for "no Secret", a pod's grants on the store would be revoked until the list arrived
   * (reconcile-pod.ts retries instead; status says CredentialsPending).
   */
  private credentialSecret(namespace: string, name: string): Secret | undefined | 'pending' {
    const inf = this.credentialInformers.get(`${namespace}/${name}`);
    return inf?.synced ? inf.get(name, namespace) : 'pending';
  }

  /** Starts an informer per Secret referenced by a store, stops the ones no longer referenced. */
  private async syncCredentialInformers(): Promise<void> {
    if (!this.running) return;
    const wanted = new Map<string, { namespace: string; name: string }>();
    for (const s of this.stores.list()) {
      const ref = s.spec?.credentials?.secretRef;
      if (ref?.namespace && ref.name) wanted.set(`${ref.namespace}/${ref.name}`, ref);
    }
    const starting: Promise<void>[] = [];
    for (const [key, ref] of wanted) {
      if (this.credentialInformers.has(key)) continue;
      const inf = new Informer<Secret>(this.o.client, {
        path: `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/secrets`,
        fieldSelector: `metadata.name=${ref.name}`,
        onError: (err) => {
          this.o.metrics.informerErrorsTotal.inc({ resource: 'credential-secrets' });
          this.o.log.warn({ err: String(err), secret: key }, 'credential Secret watch failed; retrying');
        },
      });
      const onChange = (): void => {
        for (const s of this.stores.list()) {
          const r = s.spec.credentials.secretRef;
          if (`${r.namespace}/${r.name}` === key) this.enqueueStore(s.metadata?.name ?? '');
        }
      };
      inf.on('add', onChange);
      inf.on('update', onChange);
      inf.on('delete', onChange);
      this.credentialInformers.set(key, inf);
      // Listed: what waited for it (CredentialsPending) is looked at again, Secret or none.
      const started = inf.start().then(onChange, (err: unknown) => {
        // Stopped before its first list (the store no longer refers to it, or we stopped).
        this.o.log.debug({ err: String(err), secret: key }, 'credential Secret watch ended before its list');
      });
      this.credentialStarts.set(key, started);
      starting.push(started);
    }
    for (const [key, inf] of this.credentialInformers) {
      if (!wanted.has(key)) {
        this.credentialInformers.delete(key);
        this.credentialStarts.delete(key);
        starting.push(inf.stop());
      }
    }
    await Promise.all(starting);
  }

  // ---- workers -------------------------------------------------------------------------

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      this.o.metrics.queueDepth.set(this.queue.length);
      if (key === undefined) return;
      await this.process(key);
      this.queue.done(key);
    }
  }

  private readonly stsFailure = (store: string, namespace?: string): StsFailure | undefined =>
    this.stsFailures.forStore(store, namespace);

  private async process(key: string): Promise<void> {
    const colon = key.indexOf(':');
    const kindTag = key.slice(0, colon);
    const rest = key.slice(colon + 1);
    const kind: ReconcileKind = kindTag === 'pod' ? 'pod' : kindTag === 'ba' ? 'bucketaccess' : 'objectstore';
    const end = this.o.metrics.reconcileDuration.startTimer({ kind });
    try {
      let result: ReconcileResult = {};
      const slash = rest.indexOf('/');
      if (kindTag === 'pod')
        result = await reconcilePodIdentity(this.deps, rest.slice(0, slash), rest.slice(slash + 1));
      else if (kindTag === 'ba')
        await reconcileBucketAccessStatus(
          this.world,
          this.o.client,
          rest.slice(0, slash),
          rest.slice(slash + 1),
          new Date(),
          this.stsFailure,
        );
      else await reconcileObjectStoreStatus(this.world, this.o.client, rest, new Date(), this.stsFailure);
      if (result.renewalFailed) {
        // Old credentials still serve; the failing STS is asked again with backoff.
        const delay = this.queue.addRateLimited(key);
        this.o.log.warn({ key, retryInMs: delay }, 'STS renewal failed; the current credentials stay');
      } else this.queue.forget(key);
      if (result.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
      this.o.metrics.reconcilesTotal.inc({ kind, result: 'success' });
    } catch (err) {
      const code =
        err instanceof ControllerError
          ? err.code
          : err instanceof KubeApiError
            ? err.reason || String(err.status)
            : 'Internal';
      this.o.metrics.reconcilesTotal.inc({ kind, result: 'error' });
      this.o.metrics.reconcileErrorsTotal.inc({ kind, code });
      if (!this.running) return;
      const delay = this.queue.addRateLimited(key);
      this.o.log.warn({ key, code, err: (err as Error).message, retryInMs: delay }, 'reconcile failed');
    } finally {
      end();
    }
  }
}

/**
 * Leader callbacks that run a fresh Controller for each leadership term. A replica that loses
 * the Lease (an API server blip longer than renewDeadline) and wins it back must reconcile
 * again; a stopped Controller cannot (its queue is shut down, its informers' last watches may
 * still be ending), so each term makes its own.
 */
export function controllerPerTerm(make: () => Controller): {
  onStartedLeading(): Promise<void>;
  onStoppedLeading(): Promise<void>;
  /** The controller of the current term, if any. */
  readonly current: Controller | undefined;
} {
  let current: Controller | undefined;
  return {
    async onStartedLeading() {
      const c = make();
      current = c;
      await c.start();
    },
    async onStoppedLeading() {
      const c = current;
      current = undefined;
      await c?.stop();
    },
    get current() {
      return current;
    },
  };
}
