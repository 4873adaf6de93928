/**
 * Leader election on a coordination.k8s.io/v1 Lease, after client-go's leaderelection package:
 * candidates try to take the Lease every retryPeriod; a Lease is free when its holder is empty
 * or when its record has not changed for leaseDuration *as observed locally* (so clock skew
 * between replicas does not matter); the leader renews every retryPeriod and steps down when
 * it could not renew for renewDeadline. Writes use the resourceVersion, so two candidates can
 * never both win the same round. On stop the leader releases the Lease so a successor takes
 * over at once.
 */
import { type KubeClient, isStatus, resourcePath } from './client.ts';

/** Options of {@link LeaderElector}. */
export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  /** This replica's identity (pod name + random suffix). */
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /**
   * Called once leadership is acquired. Renewing goes on while it runs (as client-go runs
   * OnStartedLeading in its own goroutine): a start that waits long for its caches must not
   * let the Lease expire under it, or two leaders would reconcile at once.
   */
  onStartedLeading: () => Promise<void> | void;
  /**
   * Called when leadership is lost or released, possibly while onStartedLeading still runs (it
   * must then make that start give up); both are awaited before competing again.
   */
  onStoppedLeading: () => Promise<void> | void;
  onError?: (err: unknown) => void;
  now?: () => number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}
interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Validates the timing options as client-go does: leaseDuration > renewDeadline > retryPeriod. */
export function validateLeaderTimings(
  o: Pick<LeaderElectionOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>,
): void {
  if (!(o.retryPeriodMs > 0)) throw new RangeError('leader election: retryPeriod must be > 0');
  if (!(o.renewDeadlineMs > o.retryPeriodMs))
    throw new RangeError('leader election: renewDeadline must be > retryPeriod');
  if (!(o.leaseDurationMs > o.renewDeadlineMs))
    throw new RangeError('leader election: leaseDuration must be > renewDeadline');
}

/** See the module comment. `run()` competes until `stop()`. */
export class LeaderElector {
  private readonly client: KubeClient;
  private readonly o: LeaderElectionOptions;
  private readonly now: () => number;
  private readonly path: string;
  private observedKey = '';
  private observedAt = 0;
  private leading = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(client: KubeClient, opts: LeaderElectionOptions) {
    validateLeaderTimings(opts);
    this.client = client;
    this.o = opts;
    this.now = opts.now ?? Date.now;
    this.path = resourcePath({
      group: 'coordination.k8s.io',
      version: 'v1',
      plural: 'leases',
      namespace: opts.namespace,
    });
  }

  /** True while this replica holds the Lease. */
  get isLeader(): boolean {
    return this.leading;
  }

  /** Starts competing in the background. */
  start(): void {
    this.stopped = false;
    this.loop ??= this.run();
  }

  /** Stops competing; a leader stops leading (callback awaited) and releases the Lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    this.loop = undefined;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      // Jitter (up to 20%) keeps candidates from retrying in lockstep.
      const t = setTimeout(done, ms * (1 + Math.random() * 0.2));
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      // Each round bounded, as a renewal is below: a hung call would stop this replica competing.
      if (!(await this.tryAcquireOrRenew(AbortSignal.timeout(this.o.renewDeadlineMs)))) {
        await this.sleep(this.o.retryPeriodMs);
        continue;
      }
      this.leading = true;
      const starting = (async () => this.o.onStartedLeading())().catch((err: unknown) =>
        this.o.onError?.(err),
      );
      let lastRenew = this.now();
      while (!this.stopped) {
        await this.sleep(this.o.retryPeriodMs);
        if (this.stopped) break;
        // Bounded by what is left of the renew deadline: a call that hangs (undici's own timeouts
        // are minutes) must not keep this replica leading while another takes the expired Lease.
        const left = Math.max(1, this.o.renewDeadlineMs - (this.now() - lastRenew));
        if (await this.tryAcquireOrRenew(AbortSignal.timeout(left))) lastRenew = this.now();
        else if (this.now() - lastRenew >= this.o.renewDeadlineMs) break;
      }
      this.leading = false;
      try {
        await this.o.onStoppedLeading();
      } catch (err) {
        this.o.onError?.(err);
      }
      await starting;
      if (this.stopped) await this.release();
    }
  }

  /** One round: true when this replica holds the Lease afterwards. */
  private async tryAcquireOrRenew(signal?: AbortSignal): Promise<boolean> {
    const now = this.now();
    const durationS = Math.ceil(this.o.leaseDurationMs / 1000);
    try {
      const lease = await this.client.getOrUndefined<Lease>(`${this.path}/${this.o.name}`, signal);
      if (!lease) {
        const first: Lease = {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: {
            holderIdentity: this.o.identity,
            leaseDurationSeconds: durationS,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        };
        await this.client.create(this.path, first, signal);
        return true;
      }
      const spec = lease.spec ?? {};
      const key = `${spec.holderIdentity ?? ''}|${spec.renewTime ?? ''}|${lease.metadata?.resourceVersion ?? ''}`;
      if (key !== this.observedKey) {
        this.observedKey = key;
        this.observedAt = now;
      }
      const holder = spec.holderIdentity ?? '';
      const isMine = holder === this.o.identity;
      const observedDurationMs = (spec.leaseDurationSeconds ?? durationS) * 1000;
      if (!isMine && holder !== '' && this.observedAt + observedDurationMs > now) return false;
      const next: LeaseSpec = {
        holderIdentity: this.o.identity,
        leaseDurationSeconds: durationS,
        acquireTime: isMine ? spec.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: isMine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      };
      await this.client.replace(`${this.path}/${this.o.name}`, { ...lease, spec: next }, signal);
      return true;
    } catch (err) {
      // 409: someone else wrote first this round; anything else: report and retry.
      if (!isStatus(err, 409)) this.o.onError?.(err);
      return false;
    }
  }

  /** Gives the Lease up (empty holder) so another replica need not wait for it to expire. */
  private async release(): Promise<void> {
    // Bounded: a shutdown must not wait minutes on an API server that does not answer.
    const signal = AbortSignal.timeout(this.o.renewDeadlineMs);
    try {
      const lease = await this.client.getOrUndefined<Lease>(`${this.path}/${this.o.name}`, signal);
      if (!lease || lease.spec?.holderIdentity !== this.o.identity) return;
      const now = this.now();
      await this.client.replace(
        `${this.path}/${this.o.name}`,
        {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(now) },
        },
        signal,
      );
    } catch (err) {
      this.o.onError?.(err);
    }
  }
}
