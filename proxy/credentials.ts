/**
 * Store credentials from files (keys of a mounted Secret), reloaded when they change. Kubelet
 * updates a Secret volume by writing a new timestamped directory and atomically renaming the
 * `..data` symlink onto it, so the directory is watched (not the file: its inode never changes
 * under the name we open) and every change re-reads every file. A reload builds a new
 * {@link StoreSigner}; requests already in flight keep the signer they started with, so no
 * request is dropped. A file that fails to parse keeps the last good credentials.
 */
import { readFileSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { StoreSpec } from './config/types.ts';
import { StoreSigner } from './sigv4/signer.ts';
import type { StoreCredentials } from './sigv4/signer.ts';

/** Reads and validates one credentials file {accessKeyId, secretAccessKey, sessionToken?}. */
export function readCredentialsFile(file: string): StoreCredentials {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  if (typeof raw !== 'object' || raw === null) throw new Error(`${file}: must be a JSON object`);
  const o = raw as Record<string, unknown>;
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

/** The current signer of every store. */
export class Signers {
  private readonly stores: readonly StoreSpec[];
  private readonly current = new Map<string, { creds: StoreCredentials; signer: StoreSigner }>();
  /** Increments on every reload that changed something. */
  generation = 0;

  /** Loads every store's credentials; throws (naming the file) when one is unusable at start. */
  constructor(stores: readonly StoreSpec[]) {
    this.stores = stores;
    for (const s of stores) {
      const creds = readCredentialsFile(s.credentials.file);
      this.current.set(s.name, { creds, signer: new StoreSigner(s.region, creds) });
    }
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
        this.current.set(s.name, { creds, signer: new StoreSigner(s.region, creds) });
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

/**
 * Calls `onChange` (debounced) whenever anything changes in the directories holding `files`,
 * plus every `pollMs` as a safety net for filesystems without change events.
 */
export function watchFiles(
  files: readonly string[],
  onChange: () => void,
  debounceMs = 50,
  pollMs = 10_000,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      onChange();
    }, debounceMs);
  };
  const watchers: FSWatcher[] = [];
  for (const dir of new Set(files.map((f) => dirname(f)))) {
    try {
      const w = watch(dir, { persistent: false }, fire);
      w.on('error', () => undefined);
      watchers.push(w);
    } catch {
      // The poll below still picks changes up.
    }
  }
  const poll = pollMs > 0 ? setInterval(onChange, pollMs) : undefined;
  poll?.unref();
  return () => {
    for (const w of watchers) w.close();
    if (timer) clearTimeout(timer);
    if (poll) clearInterval(poll);
  };
}
