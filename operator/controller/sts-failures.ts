/**
 * What the controller currently knows about failing STS AssumeRole calls, per store: the last
 * failure of each pod identity that uses the store. In memory only (level-triggered): every pod
 * reconcile replaces its identity's entries, so a success, a pod that no longer uses the store,
 * or a pod that is gone clears them; a restarted operator learns it all again from its first
 * reconciles. Status reconciles read {@link StsFailures.forStore}.
 */

/** A store's failing AssumeRole calls, as status reports them. */
export interface StsFailure {
  /** Identities (`namespace/identity`) whose last AssumeRole against the store failed. */
  pods: number;
  /** The error of the first such identity (sorted), so the message does not flap between pods. */
  message: string;
}

/** Longest error text kept (a status message, not a log). */
const MAX_MESSAGE = 512;

/** See the module comment. `onChange(store)` runs when a store's {@link StsFailure} changes. */
export class StsFailures {
  /** store → identity → error message. */
  private readonly byStore = new Map<string, Map<string, string>>();
  private readonly onChange: (store: string) => void;

  constructor(onChange: (store: string) => void) {
    this.onChange = onChange;
  }

  /**
   * Replaces everything known about `identity` (`namespace/identity`): it now fails against
   * exactly the stores in `failed` (store → error message) and against no other.
   */
  record(identity: string, failed: ReadonlyMap<string, string>): void {
    const touched = new Set<string>(failed.keys());
    for (const [store, ids] of this.byStore) if (ids.has(identity)) touched.add(store);
    // A change shows in the store's summary or in the identity's namespace's own (what its
    // BucketAccesses report): either is a change.
    const ns = identity.slice(0, identity.indexOf('/'));
    const summary = (store: string): string =>
      `${key(this.forStore(store))}\0${key(this.forStore(store, ns))}`;
    for (const store of touched) {
      const before = summary(store);
      let ids = this.byStore.get(store);
      const message = failed.get(store);
      if (message === undefined) {
        ids?.delete(identity);
        if (ids?.size === 0) this.byStore.delete(store);
      } else {
        if (!ids) this.byStore.set(store, (ids = new Map<string, string>()));
        ids.set(identity, message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message);
      }
      if (summary(store) !== before) this.onChange(store);
    }
  }

  /**
   * The store's current failure, or undefined when no identity's last AssumeRole failed. With
   * `namespace`, only that namespace's identities count: a BucketAccess's status must not carry
   * another tenant's failures, nor their error text.
   */
  forStore(store: string, namespace?: string): StsFailure | undefined {
    const ids = this.byStore.get(store);
    if (!ids || ids.size === 0) return undefined;
    const prefix = namespace === undefined ? '' : `${namespace}/`;
    const matching = [...ids.keys()].filter((id) => id.startsWith(prefix)).sort();
    const first = matching[0];
    if (first === undefined) return undefined;
    return { pods: matching.length, message: ids.get(first) as string };
  }
}

function key(f: StsFailure | undefined): string {
  return f ? `${f.pods}\n${f.message}` : '';
}
