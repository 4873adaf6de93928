/**
 * The live policy: one immutable {@link Authorizer} at a time, swapped atomically on reload.
 *
 * A request reads `current` once, in its authorize phase, and keeps that object, so a reload
 * never changes the rules under a request in flight and never drops one. A new document is
 * parsed and validated (proxy/config/parse.ts names the bad field), then indexed
 * (createAuthorizer refuses unenforceable grants); only if all of that succeeds does it replace
 * the current one. Otherwise the previous policy stays, an error is logged and
 * `sluice_policy_reload_errors_total` goes up.
 *
 * Stores and the pod's zone follow the document too, when the proxy gives a {@link StoreSync}
 * (proxy/balancer/store-sync.ts: pools, signers, the store table). A reload that changes them is
 * applied in this order, so no request is ever authorized for a store it cannot route to:
 * validate and stage everything (balancing options, endpoint URLs, credentials files — any
 * failure rejects the whole document) → open new and edited stores → swap the authorizer →
 * retire removed stores (their pools drain; requests in flight finish). Without a StoreSync
 * (standalone uses) the stores stay those of the start document and a grant naming another
 * store is refused.
 *
 * The proxy's file watcher (proxy/credentials.ts watchFiles, which also follows kubelet's ..data
 * symlink swap) calls {@link PolicyState.reloadFile}; nothing here watches files itself.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseDocumentText, parsePolicyDocument } from '../config/parse.ts';
import type { LeftOutSetting, PodPolicyDocument, StoreSpec } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { PolicyValidationError } from './errors.ts';
import { createAuthorizer } from './index.ts';
import type { Authorizer, AuthorizerOptions } from './index.ts';
import type { PolicyMetrics } from './metrics.ts';

/** What a reload did. */
export type ReloadResult = 'changed' | 'unchanged' | 'rejected';

/** A document's stores and zone, validated and staged; see the module comment for the order. */
export interface StagedStores {
  /** Makes new and edited stores routable. Called before the new authorizer goes live. */
  open(): void;
  /** Drains and forgets removed stores. Called after the swap; must not throw. */
  retire(): void;
  /** What changed, for the reload log line. */
  readonly summary: Record<string, unknown>;
}

/** Applies store and zone changes to the running proxy. */
export interface StoreSync {
  /** Validates and stages `doc`'s stores; throws (the reload is rejected) changing nothing. */
  prepare(doc: PodPolicyDocument): StagedStores;
}

/** Options for {@link PolicyState}. */
export interface PolicyStateOptions extends AuthorizerOptions {
  /** Applies store and zone changes; without it, stores are fixed at start. */
  stores?: StoreSync;
  metrics?: PolicyMetrics;
  log?: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Unix time in ms (tests). */
  now?: () => number;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The current policy of one proxy. */
export class PolicyState {
  #current: Authorizer;
  readonly #stores: readonly StoreSpec[];
  readonly #opts: PolicyStateOptions;
  /** The last text rejected: the file watcher polls, and one bad file is one error, not one per poll. */
  #rejectedText: string | undefined;
  /** The last text whose left-out balancing settings were logged. */
  #warnedText: string | undefined = undefined;

  /** Builds the initial authorizer; throws (naming the field) if the start policy is unusable. */
  constructor(doc: PodPolicyDocument, opts: PolicyStateOptions = {}) {
    // Every authorizer this state builds reports its denials to the metrics.
    this.#opts = opts.metrics ? { ...opts, onDeny: (reason) => opts.metrics?.denied(reason) } : opts;
    this.#stores = doc.stores;
    this.#current = createAuthorizer(doc, this.#opts);
    opts.metrics?.lastReload.set((opts.now ?? Date.now)() / 1000);
  }

  /** The authorizer to use for a request starting now. */
  get current(): Authorizer {
    return this.#current;
  }

  /** Re-reads `file` and applies it. Never throws. */
  reloadFile(file: string): ReloadResult {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      return this.#reject(file, err as Error);
    }
    return this.apply(text, file);
  }

  /** Validates `text` (YAML/JSON of a PodPolicyDocument) and swaps it in. Never throws. */
  apply(text: string, file: string): ReloadResult {
    if (text === this.#rejectedText) return 'rejected';
    let next: Authorizer;
    let doc: PodPolicyDocument;
    try {
      const dropped: LeftOutSetting[] = [];
      doc = parsePolicyDocument(parseDocumentText(text, file), dirname(file), '', [], (field, problem) =>
        dropped.push({ field, problem }),
      );
      // Once per document text that changes something: the file is polled every 10 s (and the
      // start logged those of the first).
      if (sameJson(doc, this.#current.document)) return 'unchanged';
      if (text !== this.#warnedText) {
        for (const d of dropped)
          this.#opts.log?.warn({ file, ...d }, 'policy setting left out: this sidecar cannot use it');
        this.#warnedText = text;
      }
      if (this.#opts.stores !== undefined) {
        next = createAuthorizer(doc, this.#opts);
      } else if (!sameJson(doc.stores, this.#stores)) {
        const running = new Set(this.#stores.map((s) => s.name));
        doc.grants.forEach((g, i) => {
          if (!running.has(g.store)) {
            throw new PolicyValidationError(
              `grants[${i}].store`,
              `store ${g.store} is not running; store changes need a restart`,
            );
          }
        });
        this.#opts.log?.warn(
          { file },
          'policy changed its stores; grants are reloaded, store changes need a restart',
        );
        doc.stores = [...this.#stores];
        next = createAuthorizer(doc, this.#opts);
      } else {
        next = createAuthorizer(doc, this.#opts);
      }
    } catch (err) {
      this.#rejectedText = text;
      return this.#reject(file, err as Error);
    }
    const prev = this.#current.document;
    let staged: StagedStores | undefined;
    if (this.#opts.stores && (!sameJson(doc.stores, prev.stores) || doc.zone !== prev.zone)) {
      try {
        staged = this.#opts.stores.prepare(doc);
      } catch (err) {
        // Not remembered as a bad text: a credentials file that appears later makes it good.
        return this.#reject(file, err as Error);
      }
    }
    this.#rejectedText = undefined;
    staged?.open();
    this.#current = next;
    staged?.retire();
    this.#opts.metrics?.lastReload.set((this.#opts.now ?? Date.now)() / 1000);
    this.#opts.log?.info(
      { file, grants: next.document.grants.length, ...staged?.summary },
      'policy reloaded',
    );
    return 'changed';
  }

  #reject(file: string, err: Error): ReloadResult {
    this.#opts.metrics?.reloadErrors.inc();
    this.#opts.log?.error({ file, err: err.message }, 'policy reload rejected; keeping the previous policy');
    return 'rejected';
  }
}
