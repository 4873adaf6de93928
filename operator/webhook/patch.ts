/**
 * RFC 6902 JSON Patch, built explicitly (https://www.rfc-editor.org/rfc/rfc6902).
 *
 * The API server applies the webhook's patch to the object it sent, so every `add` must name a
 * parent that exists: a missing map or list is added whole, an existing one is extended entry by
 * entry (`/-` appends, an index inserts). Pointer tokens escape `~` as `~0` and `/` as `~1`
 * (RFC 6901 §4) — annotation keys such as `sluice.dev/status` contain a slash.
 */

/** One RFC 6902 operation; only the ones the webhook emits. */
export type PatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'test'; path: string; value: unknown };

/** Escapes one reference token (RFC 6901 §4: `~` first, then `/`, so `~1` is not re-escaped). */
export function escapeToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Reverses {@link escapeToken} (`~1` first, then `~0`, as RFC 6901 §4 requires). */
export function unescapeToken(token: string): string {
  return token.replaceAll('~1', '/').replaceAll('~0', '~');
}

/** Joins tokens into a JSON pointer, escaping each: `pointer('metadata','labels','a/b')`. */
export function pointer(...tokens: (string | number)[]): string {
  return tokens.map((t) => '/' + escapeToken(String(t))).join('');
}

/**
 * Accumulates operations against one document whose current shape the caller passes in, so
 * each helper can choose "add the whole field" or "extend it" without guessing.
 */
export class PatchBuilder {
  readonly ops: PatchOp[] = [];

  /** Sets `entries` in the map at `path`; `existing` is that map as it is now (or undefined). */
  setEntries(
    path: string,
    existing: Record<string, unknown> | undefined,
    entries: Record<string, unknown>,
  ): this {
    if (Object.keys(entries).length === 0) return this;
    if (existing === undefined || existing === null) {
      this.ops.push({ op: 'add', path, value: { ...entries } });
      return this;
    }
    for (const [key, value] of Object.entries(entries)) {
      const op = Object.hasOwn(existing, key) ? 'replace' : 'add';
      this.ops.push({ op, path: `${path}/${escapeToken(key)}`, value });
    }
    return this;
  }

  /** Appends `items` to the list at `path`; `existing` is that list now (or undefined). */
  append(path: string, existing: readonly unknown[] | undefined, items: readonly unknown[]): this {
    if (items.length === 0) return this;
    if (existing === undefined || existing === null) {
      this.ops.push({ op: 'add', path, value: [...items] });
      return this;
    }
    for (const item of items) this.ops.push({ op: 'add', path: `${path}/-`, value: item });
    return this;
  }

  /** Inserts `item` first in the list at `path` (shifting the rest), creating the list if missing. */
  prepend(path: string, existing: readonly unknown[] | undefined, item: unknown): this {
    if (existing === undefined || existing === null) this.ops.push({ op: 'add', path, value: [item] });
    else this.ops.push({ op: 'add', path: `${path}/0`, value: item });
    return this;
  }

  /** Replaces the value at `path`, which must exist. */
  replace(path: string, value: unknown): this {
    this.ops.push({ op: 'replace', path, value });
    return this;
  }
}

/** Thrown by {@link applyPatch} when an operation does not apply (the RFC says: abort the patch). */
export class PatchApplyError extends Error {
  readonly code = 'PatchApplyError';
}

/**
 * Applies `ops` to a deep copy of `doc` and returns it; `doc` is untouched. Used by
 * `sluice inject` (offline, the same patch the API server would apply) and by tests to check
 * that a patch applies to the object it was built from.
 */
export function applyPatch<T>(doc: T, ops: readonly PatchOp[]): T {
  let root: unknown = structuredClone(doc);
  for (const op of ops) root = applyOne(root, op);
  return root as T;
}

function applyOne(root: unknown, op: PatchOp): unknown {
  if (op.path === '') {
    if (op.op === 'test') {
      assertEqual(root, op.value, op.path);
      return root;
    }
    if (op.op === 'remove') throw new PatchApplyError('cannot remove the document root');
    return structuredClone(op.value);
  }
  if (!op.path.startsWith('/')) throw new PatchApplyError(`invalid pointer "${op.path}"`);
  const tokens = op.path.slice(1).split('/').map(unescapeToken);
  const last = tokens.pop() as string;
  let parent: unknown = root;
  for (const t of tokens) parent = child(parent, t, op.path);
  if (Array.isArray(parent)) applyToArray(parent, last, op);
  else if (parent !== null && typeof parent === 'object')
    applyToObject(parent as Record<string, unknown>, last, op);
  else throw new PatchApplyError(`parent of "${op.path}" is not a container`);
  return root;
}

function child(node: unknown, token: string, path: string): unknown {
  if (Array.isArray(node)) return node[arrayIndex(node, token, path, false)];
  if (node !== null && typeof node === 'object' && Object.hasOwn(node, token)) {
    return (node as Record<string, unknown>)[token];
  }
  throw new PatchApplyError(`path "${path}" does not exist`);
}

function arrayIndex(arr: unknown[], token: string, path: string, forAdd: boolean): number {
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new PatchApplyError(`bad array index in "${path}"`);
  const i = Number(token);
  if (i > arr.length || (!forAdd && i === arr.length))
    throw new PatchApplyError(`index out of range in "${path}"`);
  return i;
}

function applyToArray(arr: unknown[], token: string, op: PatchOp): void {
  if (op.op === 'add') {
    if (token === '-') arr.push(structuredClone(op.value));
    else arr.splice(arrayIndex(arr, token, op.path, true), 0, structuredClone(op.value));
    return;
  }
  const i = arrayIndex(arr, token, op.path, false);
  if (op.op === 'replace') arr[i] = structuredClone(op.value);
  else if (op.op === 'remove') arr.splice(i, 1);
  else assertEqual(arr[i], op.value, op.path);
}

function applyToObject(obj: Record<string, unknown>, key: string, op: PatchOp): void {
  if (op.op === 'add') {
    obj[key] = structuredClone(op.value);
    return;
  }
  if (!Object.hasOwn(obj, key)) throw new PatchApplyError(`path "${op.path}" does not exist`);
  if (op.op === 'replace') obj[key] = structuredClone(op.value);
  else if (op.op === 'remove') delete obj[key];
  else assertEqual(obj[key], op.value, op.path);
}

function assertEqual(actual: unknown, expected: unknown, path: string): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected))
    throw new PatchApplyError(`test failed at "${path}"`);
}
