/**
 * Store credentials from files (keys of a mounted Secret), reloaded when they change. Kubelet
 * updates a Secret volume by writing a new timestamped directory and atomically renaming the
 * `..data` symlink onto it, so the directory is watched (not the file: its inode never changes
 * under the name we open) and every change re-reads every file. A reload builds a new
 * {@link StoreSigner}; requests already in flight keep the signer they started with, so no
 * request is dropped. A file that fails to parse keeps the last good credentials.
 *
 * The set of stores follows the policy document ({@link Signers.stage}): signers are keyed by
 * store name and rebuilt when a store's credentials file or region changes.
 */
import { readFileSync, realpathSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { StoreSpec } from './config/types.ts';
import { StoreSigner } from './sigv4/signer.ts';
import type { StoreCredentials } from './sigv4/signer.ts';

const CREDENTIAL_FIELDS = ['accessKeyId', 'secretAccessKey', 'sessionToken'];

/** A field name without case, `_` or `-`: session_token, SessionToken and sessionToken are one. */
function looseName(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '');
}

/** Reads and validates one credentials file {accessKeyId, secretAccessKey, sessionToken?}. */
export function readCredentialsFile(file: string): StoreCredentials {
  const text = readFileSync(file, 'utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    // Not the parser's message: V8 quotes the text around the error, and this text is a secret
    // (a raw key file mounted by mistake would reach the logs).
    throw new Error(`${file}: not valid JSON`);
  }
  if (typeof raw !== 'object' || raw === null) throw new Error(`${file}: must be a JSON object`);
  const o = raw as Record<string, unknown>;
  // A misspelt field (session_token, SessionToken) would otherwise be dropped silently, and the
  // only sign of it a store answering 403 to every request. Other fields (an STS answer's
  // expiration) are left alone.
  for (const k of Object.keys(o)) {
    const meant = CREDENTIAL_FIELDS.find((f) => f !== k && looseName(f) === looseName(k));
    if (meant !== undefined) throw new Error(`${file}: field ${JSON.stringify(k)} should be spelt ${meant}`);
  }
  if (typeof o.accessKeyId !== 'string' || !o.accessKeyId)
    throw new Error(`${file}: accessKeyId must be a non-empty string`);
  if (typeof o.secretAccessKey !== 'string' || !o.secretAccessKey) {
    throw new Error(`${file}: secretAccessKey must be a non-empty string`);
  }
  if (o.sessionToken !== undefined && typeof o.sessionToken !== 'string') {
    throw new Error(`${file}: sessionToken must be a string`);
  }
  const creds: StoreCredentials = { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey };
  if (o.sessionToken) creds.sessionToken = o.sessionToken;
  return creds;
}

function same(a: StoreCredentials, b: StoreCredentials): boolean {
  return (
    a.accessKeyId === b.accessKeyId &&
    a.secretAccessKey === b.secretAccessKey &&
    a.sessionToken === b.sessionToken
  );
}

interface SignerEntry {
  creds: StoreCredentials;
  signer: StoreSigner;
  /** The file and region it was built from. */
  file: string;
  region: string;
}

/** A change of the store set, read and validated, not yet applied (see {@link Signers.stage}). */
export interface StagedSigners {
  /** Installs the new stores' signers (before the new authorizer is swapped in). */
  open(): void;
  /** Forgets the removed stores' signers (after their pools drained) unless they came back. */
  retire(): void;
}

/** The current signer of every store. */
export class Signers {
  private stores: readonly StoreSpec[];
  private readonly current = new Map<string, SignerEntry>();
  /** Increments on every reload that changed something. */
  generation = 0;

  /** Loads every store's credentials; throws (naming the file) when one is unusable at start. */
  constructor(stores: readonly StoreSpec[]) {
    this.stores = stores;
    for (const s of stores) this.current.set(s.name, entry(s, readCredentialsFile(s.credentials.file)));
  }

  /**
   * Prepares the signers of a new store set: a store that is new, or whose credentials file or
   * region changed, has its file read now — throwing (naming the file) when unusable, which
   * rejects the reload and changes nothing. Unchanged stores keep their signer.
   */
  stage(stores: readonly StoreSpec[]): StagedSigners {
    const fresh = new Map<string, SignerEntry>();
    for (const s of stores) {
      const prev = this.current.get(s.name);
      if (prev && prev.file === s.credentials.file && prev.region === s.region) continue;
      fresh.set(s.name, entry(s, readCredentialsFile(s.credentials.file)));
    }
    const names = new Set(stores.map((s) => s.name));
    const gone = [...this.current].filter(([name]) => !names.has(name));
    return {
      open: () => {
        this.stores = stores;
        for (const [name, e] of fresh) this.current.set(name, e);
        if (fresh.size > 0) this.generation++;
      },
      retire: () => {
        for (const [name, e] of gone) {
          if (this.current.get(name) === e && !this.stores.some((s) => s.name === name)) {
            this.current.delete(name);
          }
        }
      },
    };
  }

  /** The signer for `store`'s current credentials. */
  get(store: string): StoreSigner | undefined {
    return this.current.get(store)?.signer;
  }

  /** Re-reads every file. Returns the stores whose credentials changed and the errors met. */
  reload(): { changed: string[]; errors: Error[] } {
    const changed: string[] = [];
    const errors: Error[] = [];
    for (const s of this.stores) {
      try {
        const creds = readCredentialsFile(s.credentials.file);
        const prev = this.current.get(s.name);
        if (prev && same(prev.creds, creds)) continue;
        this.current.set(s.name, entry(s, creds));
        changed.push(s.name);
      } catch (err) {
        errors.push(err as Error);
      }
    }
    if (changed.length > 0) this.generation++;
    return { changed, errors };
  }

  /** The files to watch. */
  files(): string[] {
    return this.stores.map((s) => s.credentials.file);
  }
}

/** Where `dir` resolves to now ('' when it does not exist: watched again once it does). */
function realDir(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return '';
  }
}

function entry(s: StoreSpec, creds: StoreCredentials): SignerEntry {
  return { creds, signer: new StoreSigner(s.region, creds), file: s.credentials.file, region: s.region };
}

/**
 * Calls `onChange` (debounced) whenever anything changes in the directories holding `files`,
 * plus every `pollMs` as a safety net for filesystems without change events. `files` may be a
 * function: it is asked again after every `onChange`, and directories are watched or dropped to
 * match (a policy reload that adds a store adds its credentials file).
 */
export function watchFiles(
  files: readonly string[] | (() => readonly string[]),
  onChange: () => void,
  debounceMs = 50,
  pollMs = 10_000,
): () => void {
  const list = typeof files === 'function' ? files : () => files;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  // Each directory with the path it resolved to when watched. A file in a subdirectory of a
  // Secret volume (`items: [{path: aws/creds.json}]`) sits behind kubelet's `aws -> ..data/aws`
  // symlink: the watch follows it into one timestamped directory, which the next swap deletes,
  // so a directory that now resolves elsewhere is watched again.
  const watchers = new Map<string, { watcher: FSWatcher; real: string }>();
  const sync = (): void => {
    const dirs = new Map(list().map((f) => [dirname(f), realDir(dirname(f))]));
    for (const [dir, w] of watchers) {
      if (dirs.get(dir) === w.real) continue;
      w.watcher.close();
      watchers.delete(dir);
    }
    for (const [dir, real] of dirs) {
      if (watchers.has(dir)) continue;
      try {
        const watcher = watch(dir, { persistent: false }, fire);
        watcher.on('error', () => undefined);
        watchers.set(dir, { watcher, real });
      } catch {
        // The poll below still picks changes up.
      }
    }
  };
  const run = (): void => {
    onChange();
    if (!stopped) sync();
  };
  function fire(): void {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      run();
    }, debounceMs);
  }
  sync();
  const poll = pollMs > 0 ? setInterval(run, pollMs) : undefined;
  poll?.unref();
  return () => {
    stopped = true;
    for (const w of watchers.values()) w.watcher.close();
    watchers.clear();
    if (timer) clearTimeout(timer);
    if (poll) clearInterval(poll);
  };
}
