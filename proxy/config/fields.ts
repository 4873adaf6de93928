/**
 * Tiny typed readers over untrusted parsed YAML/JSON. Each throws a {@link ConfigError} naming
 * the exact field path ("stores[0].endpoints[1].url: must be http(s)://host:port"), so a bad
 * config fails at start with the fix in the message.
 */

/** A configuration error; `path` is the offending field. */
export class ConfigError extends Error {
  readonly path: string;
  constructor(path: string, problem: string) {
    super(`${path || '<root>'}: ${problem}`);
    this.name = 'ConfigError';
    this.path = path;
  }
}

/** `base.key` or `key` when base is the root. */
export function at(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return base ? `${base}.${key}` : key;
}

/** A plain object (not null, not an array). */
export function obj(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ConfigError(path, 'must be an object');
  return v as Record<string, unknown>;
}

/** Rejects keys not in `known`, catching typos like `timeout:` for `timeouts:`. */
export function noUnknownKeys(o: Record<string, unknown>, known: readonly string[], path: string): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw new ConfigError(at(path, k), `unknown field (known: ${known.join(', ')})`);
  }
}

export function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(path, 'must be a non-empty string');
  return v;
}

export function optStr(v: unknown, path: string): string | undefined {
  return v === undefined ? undefined : str(v, path);
}

/** An integer within [min, max]. */
export function intBetween(v: unknown, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(path, `must be an integer between ${min} and ${max}`);
  }
  return v;
}

/** A non-negative integer, default `def` when absent. */
export function int(v: unknown, path: string, def: number, max = Number.MAX_SAFE_INTEGER): number {
  return v === undefined ? def : intBetween(v, path, 0, max);
}

/**
 * The longest delay Node's timers take (2^31 - 1 ms, ~24.8 days). A longer one is not clamped:
 * setTimeout fires it after 1 ms, so "a huge number meaning never" would fail every request.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** A duration in ms within [min, MAX_TIMER_MS]. */
export function msBetween(v: unknown, path: string, min: number): number {
  return intBetween(v, path, min, MAX_TIMER_MS);
}

/** A duration in ms (0 allowed), default `def` when absent. */
export function ms(v: unknown, path: string, def: number): number {
  return int(v, path, def, MAX_TIMER_MS);
}

export function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw new ConfigError(path, 'must be a list');
  return v;
}

export function oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(path, `must be one of ${allowed.join(', ')}`);
  }
  return v as T;
}
