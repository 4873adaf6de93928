/**
 * The one place raw configuration becomes typed: a proxy config file (YAML or JSON) and an
 * optional policy document (the operator's policy.json) are parsed and validated here, once, at
 * start. Everything below receives a {@link ProxyConfig} and never reads files or env for config.
 */
import { createRequire } from 'node:module';
import { dirname, isAbsolute, resolve } from 'node:path';
import type * as Yaml from 'yaml';
import { isValidBucketName } from '../s3/bucket.ts';
import {
  ConfigError,
  arr,
  at,
  int,
  intBetween,
  ms,
  msBetween,
  noUnknownKeys,
  obj,
  oneOf,
  optStr,
  str,
} from './fields.ts';
import type {
  AccessMode,
  BalancingAlgorithm,
  BucketConfigAccess,
  EndpointSpec,
  Grant,
  GrantCache,
  HealthCheckSpec,
  LeftOutSetting,
  ListenAddress,
  OutlierSpec,
  PodPolicyDocument,
  ProxyConfig,
  StoreSpec,
} from './types.ts';
import { STORE_PROVIDERS } from './types.ts';
import { parseStatusRanges } from './status-ranges.ts';

export { ConfigError } from './fields.ts';

const ACCESS: readonly AccessMode[] = ['read', 'write', 'list', 'delete'];
const ALGORITHMS: readonly BalancingAlgorithm[] = ['round-robin', 'least-in-flight', 'peak-ewma'];
const BUCKET_CONFIG: readonly BucketConfigAccess[] = [
  'config-read',
  'config-write',
  'create-bucket',
  'delete-bucket',
];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const STORE_NAME_RE = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

const require = createRequire(import.meta.url);

/**
 * Parses JSON or YAML text; a syntax error names the file. JSON is tried first and the yaml
 * package loaded only for text that is not JSON: an injected sidecar reads only the operator's
 * policy.json, and yaml's ~80 modules cost every sidecar ~0.7 MiB RSS (bench/proxy/PERFORMANCE.md,
 * session 11). Valid JSON means the same either way (JSON is YAML); a key given twice in one
 * object is refused either way too (JSON.parse alone would keep the last: a second "grants").
 */
export function parseDocumentText(text: string, source: string): unknown {
  let doc: unknown;
  try {
    doc = JSON.parse(text) as unknown;
  } catch {
    return parseYaml(text, source); // not JSON: YAML, a superset, decides and words the error
  }
  const twice = duplicateJsonKey(text);
  if (twice !== undefined) {
    throw new ConfigError(
      source,
      `not valid YAML/JSON: the key ${JSON.stringify(twice)} is given twice in one object`,
    );
  }
  return doc;
}

function parseYaml(text: string, source: string): unknown {
  const yaml = require('yaml') as typeof Yaml;
  try {
    return yaml.parse(text) as unknown;
  } catch (err) {
    throw new ConfigError(source, `not valid YAML/JSON: ${(err as Error).message}`);
  }
}

/**
 * The first key given twice in one object of `text`, which JSON.parse accepted, or undefined.
 * Tokens are strings and structure: in valid JSON a string followed by `:` is a key, and braces
 * or brackets inside strings are consumed with their string.
 */
function duplicateJsonKey(text: string): string | undefined {
  const open: (Set<string> | undefined)[] = []; // keys of each enclosing object (arrays: undefined)
  let lastString = '';
  for (const [token] of text.matchAll(/"(?:[^"\\]|\\.)*"|[{}[\]:]/g)) {
    if (token === '{') open.push(new Set());
    else if (token === '[') open.push(undefined);
    else if (token === '}' || token === ']') open.pop();
    else if (token === ':') {
      const key = JSON.parse(lastString) as string; // escapes decoded: "a" and "\u0061" are one key
      const keys = open.at(-1)!;
      if (keys.has(key)) return key;
      keys.add(key);
    } else lastString = token;
  }
  return undefined;
}

/**
 * "host:port", "[v6]:port", ":port" or {host, port}. No host (":7481", host "") listens on every
 * address of both families when the machine has IPv6 (Node's `::`, dual-stack), on every IPv4
 * address otherwise: what kubelet's probes of an IPv6-only pod need, where 0.0.0.0 is not
 * reachable.
 */
export function parseListen(v: unknown, path: string): ListenAddress {
  if (typeof v === 'object' && v !== null) {
    const o = obj(v, path);
    noUnknownKeys(o, ['host', 'port'], path);
    return { host: str(o.host, at(path, 'host')), port: intBetween(o.port, at(path, 'port'), 0, 65535) };
  }
  const s = str(v, path);
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(path, 'must be host:port (e.g. 127.0.0.1:7480)');
  return { host: (m[1] ?? m[2])!, port };
}

function parseEndpoint(v: unknown, path: string): EndpointSpec {
  const o = typeof v === 'string' ? { url: v } : obj(v, path);
  noUnknownKeys(o, ['url', 'zone'], path);
  const urlPath = at(path, 'url');
  const raw = str(o.url, urlPath);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(urlPath, 'must be http(s)://host:port');
  }
  if (
    (u.protocol !== 'http:' && u.protocol !== 'https:') ||
    u.username ||
    u.password ||
    (u.pathname !== '/' && u.pathname !== '') ||
    u.search ||
    u.hash
  ) {
    throw new ConfigError(urlPath, 'must be http(s)://host:port');
  }
  const zone = optStr(o.zone, at(path, 'zone'));
  return zone === undefined ? { url: u.origin } : { url: u.origin, zone };
}

/**
 * Told of a `balancing` setting of the operator's policy document that this sidecar cannot use
 * (a field a newer operator writes, a value outside this version's range): it is left out, its
 * default applies, and the rest of the document (the grants) still loads.
 */
export type DroppedSetting = (field: string, problem: string) => void;

function parseStore(v: unknown, path: string, baseDir: string, dropped?: DroppedSetting): StoreSpec {
  const o = obj(v, path);
  noUnknownKeys(
    o,
    ['name', 'endpoints', 'region', 'addressing', 'provider', 'credentials', 'balancing'],
    path,
  );
  const name = str(o.name, at(path, 'name'));
  if (!STORE_NAME_RE.test(name)) throw new ConfigError(at(path, 'name'), 'must be a DNS-style name');
  const eps = arr(o.endpoints, at(path, 'endpoints'));
  if (eps.length === 0) throw new ConfigError(at(path, 'endpoints'), 'must list at least one endpoint');
  const credPath = at(path, 'credentials');
  const cred = obj(o.credentials, credPath);
  noUnknownKeys(cred, ['file'], credPath);
  const file = str(cred.file, at(credPath, 'file'));
  const endpoints = eps.map((e, i) => parseEndpoint(e, at(at(path, 'endpoints'), i)));
  // One backend per URL: a URL listed twice (say with two zones) would be one backend with the
  // first zone, and removing either entry on a reload would drain it.
  endpoints.forEach((e, i) => {
    if (endpoints.findIndex((f) => f.url === e.url) !== i)
      throw new ConfigError(at(at(path, 'endpoints'), i), `${e.url} is listed twice`);
  });
  const store: StoreSpec = {
    name,
    endpoints,
    region: o.region === undefined ? 'us-east-1' : str(o.region, at(path, 'region')),
    addressing:
      o.addressing === undefined ? 'path' : oneOf(o.addressing, at(path, 'addressing'), ['path', 'virtual']),
    credentials: { file: isAbsolute(file) ? file : resolve(baseDir, file) },
  };
  if (o.provider !== undefined) store.provider = oneOf(o.provider, at(path, 'provider'), STORE_PROVIDERS);
  if (o.balancing !== undefined) {
    const balancing = dropped
      ? parseBalancingLeniently(o.balancing, at(path, 'balancing'), dropped)
      : parseBalancing(o.balancing, at(path, 'balancing'));
    if (balancing !== undefined) store.balancing = balancing;
  }
  return store;
}

/**
 * {@link parseBalancing}, leaving out each setting it refuses instead of refusing the document.
 * Balancing only tunes where allowed requests go, never what is allowed: a sidecar older than
 * its operator (pods keep theirs through an operator upgrade) must not keep a stale policy, with
 * revoked grants in it, because the new one carries a tuning key it does not know.
 */
function parseBalancingLeniently(
  v: unknown,
  path: string,
  dropped: DroppedSetting,
): NonNullable<StoreSpec['balancing']> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    dropped(path, 'must be an object');
    return undefined;
  }
  const o = structuredClone(v) as Record<string, unknown>;
  // An error's field is a dotted path: with a dot in a key it could name another setting.
  if (hasDottedKey(o)) return parseBalancing(o, path);
  // Each round drops the one setting named by the error; every key once at most.
  for (;;) {
    try {
      return parseBalancing(o, path);
    } catch (err) {
      if (!(err instanceof ConfigError) || !dropAt(o, path, err.path)) throw err;
      dropped(err.path, err.message.slice(err.path.length + 2));
    }
  }
}

function hasDottedKey(o: Record<string, unknown>): boolean {
  return Object.entries(o).some(
    ([k, v]) =>
      k.includes('.') ||
      (typeof v === 'object' &&
        v !== null &&
        !Array.isArray(v) &&
        hasDottedKey(v as Record<string, unknown>)),
  );
}

/**
 * Deletes the key `field` (a path under `base`, dotted) names in `o`; false if none. Own keys of
 * letters and digits only: a key such as `__proto__` is never walked into (deleting from
 * Object.prototype would break the whole process); its document is refused instead.
 */
function dropAt(o: Record<string, unknown>, base: string, field: string): boolean {
  if (!field.startsWith(`${base}.`)) return false;
  const keys = field.slice(base.length + 1).split('.');
  if (!keys.every((k) => /^[A-Za-z0-9]+$/.test(k))) return false;
  let node: Record<string, unknown> = o;
  for (const k of keys.slice(0, -1)) {
    const next = Object.hasOwn(node, k) ? node[k] : undefined;
    if (typeof next !== 'object' || next === null || Array.isArray(next)) return false;
    node = next as Record<string, unknown>;
  }
  const last = keys[keys.length - 1]!;
  if (!Object.hasOwn(node, last)) return false;
  delete node[last];
  return true;
}

/**
 * A store's `balancing`, field by field as the ObjectStore CRD allows it: a typo (`healthcheck:`,
 * `intervalMS:`) or a wrong type (`maxEjectionPercent: "50"`) fails here, naming the field,
 * instead of the default silently applying.
 */
function parseBalancing(v: unknown, path: string): NonNullable<StoreSpec['balancing']> {
  const o = obj(v, path);
  noUnknownKeys(o, ['algorithm', 'dnsRefreshMs', 'dnsAddressRetentionMs', 'healthCheck', 'outlier'], path);
  const out: NonNullable<StoreSpec['balancing']> = {};
  if (o.algorithm !== undefined) out.algorithm = oneOf(o.algorithm, at(path, 'algorithm'), ALGORITHMS);
  if (o.dnsRefreshMs !== undefined)
    out.dnsRefreshMs = msBetween(o.dnsRefreshMs, at(path, 'dnsRefreshMs'), 1000);
  if (o.dnsAddressRetentionMs !== undefined)
    out.dnsAddressRetentionMs = msBetween(o.dnsAddressRetentionMs, at(path, 'dnsAddressRetentionMs'), 0);
  if (o.healthCheck !== undefined) {
    const hp = at(path, 'healthCheck');
    const h = obj(o.healthCheck, hp);
    noUnknownKeys(h, ['path', 'expectStatus', 'intervalMs', 'timeoutMs', 'rise', 'fall'], hp);
    const hc: Partial<HealthCheckSpec> = {};
    if (h.path !== undefined) {
      // Written into the probe's request line: visible ASCII only, no space or CR/LF.
      if (typeof h.path !== 'string' || !/^\/[!-~]{0,255}$/.test(h.path)) {
        throw new ConfigError(at(hp, 'path'), 'must start with / and hold visible ASCII only (at most 256)');
      }
      hc.path = h.path;
    }
    if (h.expectStatus !== undefined) {
      if (typeof h.expectStatus !== 'string')
        throw new ConfigError(at(hp, 'expectStatus'), 'must be a string');
      const ranges = parseStatusRanges(h.expectStatus);
      if (typeof ranges === 'string') throw new ConfigError(at(hp, 'expectStatus'), ranges);
      hc.expectStatus = h.expectStatus;
    }
    if (h.intervalMs !== undefined) hc.intervalMs = msBetween(h.intervalMs, at(hp, 'intervalMs'), 100);
    if (h.timeoutMs !== undefined) hc.timeoutMs = msBetween(h.timeoutMs, at(hp, 'timeoutMs'), 1);
    if (h.rise !== undefined) hc.rise = intBetween(h.rise, at(hp, 'rise'), 1, 100);
    if (h.fall !== undefined) hc.fall = intBetween(h.fall, at(hp, 'fall'), 1, 100);
    out.healthCheck = hc;
  }
  if (o.outlier !== undefined) {
    const op = at(path, 'outlier');
    const x = obj(o.outlier, op);
    const keys = [
      'consecutive5xx',
      'consecutiveConnectFailures',
      'baseEjectionMs',
      'maxEjectionPercent',
      'panicThresholdPercent',
    ] as const;
    noUnknownKeys(x, keys, op);
    const outlier: Partial<OutlierSpec> = {};
    if (x.consecutive5xx !== undefined)
      outlier.consecutive5xx = intBetween(x.consecutive5xx, at(op, 'consecutive5xx'), 1);
    if (x.consecutiveConnectFailures !== undefined)
      outlier.consecutiveConnectFailures = intBetween(
        x.consecutiveConnectFailures,
        at(op, 'consecutiveConnectFailures'),
        1,
      );
    if (x.baseEjectionMs !== undefined)
      outlier.baseEjectionMs = msBetween(x.baseEjectionMs, at(op, 'baseEjectionMs'), 1);
    if (x.maxEjectionPercent !== undefined)
      outlier.maxEjectionPercent = intBetween(x.maxEjectionPercent, at(op, 'maxEjectionPercent'), 0, 100);
    if (x.panicThresholdPercent !== undefined)
      outlier.panicThresholdPercent = intBetween(
        x.panicThresholdPercent,
        at(op, 'panicThresholdPercent'),
        0,
        100,
      );
    out.outlier = outlier;
  }
  return out;
}

/** Read-cache settings of a grant: non-negative integers, both optional. */
function parseGrantCache(v: unknown, path: string): GrantCache {
  const o = obj(v, path);
  noUnknownKeys(o, ['ttlSeconds', 'maxSizeBytes'], path);
  const cache: GrantCache = {};
  if (o.ttlSeconds !== undefined) cache.ttlSeconds = int(o.ttlSeconds, at(path, 'ttlSeconds'), 0);
  if (o.maxSizeBytes !== undefined) cache.maxSizeBytes = int(o.maxSizeBytes, at(path, 'maxSizeBytes'), 0);
  return cache;
}

function parseGrant(v: unknown, path: string, stores: ReadonlySet<string>): Grant {
  const o = obj(v, path);
  noUnknownKeys(o, ['store', 'bucket', 'prefixes', 'access', 'bucketConfig', 'source', 'cache'], path);
  const store = str(o.store, at(path, 'store'));
  if (!stores.has(store))
    throw new ConfigError(at(path, 'store'), `names no store (have: ${[...stores].join(', ')})`);
  const bucket = str(o.bucket, at(path, 'bucket'));
  if (!isValidBucketName(bucket)) throw new ConfigError(at(path, 'bucket'), 'is not a valid S3 bucket name');
  const grant: Grant = {
    store,
    bucket,
    access: arr(o.access, at(path, 'access')).map((a, i) => oneOf(a, at(at(path, 'access'), i), ACCESS)),
  };
  if (o.prefixes !== undefined) {
    grant.prefixes = arr(o.prefixes, at(path, 'prefixes')).map((p, i) => {
      if (typeof p !== 'string') throw new ConfigError(at(at(path, 'prefixes'), i), 'must be a string');
      return p;
    });
  }
  if (o.bucketConfig !== undefined) {
    grant.bucketConfig = arr(o.bucketConfig, at(path, 'bucketConfig')).map((a, i) =>
      oneOf(a, at(at(path, 'bucketConfig'), i), BUCKET_CONFIG),
    );
  }
  const source = optStr(o.source, at(path, 'source'));
  if (source !== undefined) grant.source = source;
  if (o.cache !== undefined) grant.cache = parseGrantCache(o.cache, at(path, 'cache'));
  return grant;
}

/**
 * Validates a PodPolicyDocument. `raw` may be a whole document or an object carrying the same
 * fields (the proxy config's inline policy); `known` lists extra keys the caller allows.
 * Relative credential files resolve against `baseDir`.
 */
export function parsePolicyDocument(
  raw: unknown,
  baseDir: string,
  path = '',
  known: readonly string[] = [],
  dropped?: DroppedSetting,
): PodPolicyDocument {
  const o = obj(raw, path);
  noUnknownKeys(o, ['version', 'zone', 'stores', 'grants', ...known], path);
  if (o.version !== undefined && o.version !== 1) throw new ConfigError(at(path, 'version'), 'must be 1');
  const stores = arr(o.stores ?? [], at(path, 'stores')).map((s, i) =>
    parseStore(s, at(at(path, 'stores'), i), baseDir, dropped),
  );
  const names = new Set<string>();
  stores.forEach((s, i) => {
    if (names.has(s.name))
      throw new ConfigError(at(at(at(path, 'stores'), i), 'name'), `duplicate store ${s.name}`);
    names.add(s.name);
  });
  const grants = arr(o.grants ?? [], at(path, 'grants')).map((g, i) =>
    parseGrant(g, at(at(path, 'grants'), i), names),
  );
  const doc: PodPolicyDocument = { version: 1, stores, grants };
  const zone = optStr(o.zone, at(path, 'zone'));
  if (zone !== undefined) doc.zone = zone;
  return doc;
}

const CONFIG_KEYS = [
  'listen',
  'admin',
  'virtualHostDomains',
  'timeouts',
  'limits',
  'keepAlive',
  'shutdown',
  'logLevel',
] as const;
const TIMEOUT_KEYS = [
  'requestHeaderTimeoutMs',
  'clientIdleMs',
  'keepAliveIdleMs',
  'backendConnectMs',
  'backendFirstByteMs',
  'backendIdleMs',
] as const;

/** What {@link parseProxyConfig} needs besides the config object. */
export interface ParseProxyConfigInput {
  /** The parsed config file (or {} when only flags and a policy file are given). */
  config: unknown;
  /** Directory of the config file, for relative paths in it. */
  configDir: string;
  /** The parsed `--policy` file, if any: the stores and grants; the config may then hold none. */
  policy?: { raw: unknown; file: string };
  /** CLI flags; they win over the file. */
  flags?: { listen?: string; admin?: string; logLevel?: string };
}

/** Validates a whole proxy configuration, applying defaults. Throws {@link ConfigError}. */
export function parseProxyConfig(input: ParseProxyConfigInput): ProxyConfig {
  const o = obj(input.config ?? {}, '');
  const flags = input.flags ?? {};
  let policy: PodPolicyDocument;
  let policyFile: string | undefined;
  // The operator's document (--policy) is read leniently in its balancing settings; the config
  // file, written by hand, strictly.
  const droppedSettings: LeftOutSetting[] = [];
  if (input.policy) {
    noUnknownKeys(o, CONFIG_KEYS, '');
    policy = parsePolicyDocument(input.policy.raw, dirname(input.policy.file), '', [], (field, problem) =>
      droppedSettings.push({ field, problem }),
    );
    policyFile = input.policy.file;
  } else {
    policy = parsePolicyDocument(o, input.configDir, '', CONFIG_KEYS);
  }
  const t = obj(o.timeouts ?? {}, 'timeouts');
  noUnknownKeys(t, TIMEOUT_KEYS, 'timeouts');
  const limits = obj(o.limits ?? {}, 'limits');
  noUnknownKeys(limits, ['maxHeaderBytes'], 'limits');
  const ka = obj(o.keepAlive ?? {}, 'keepAlive');
  noUnknownKeys(ka, ['maxAgeMs', 'maxRequests'], 'keepAlive');
  const sd = obj(o.shutdown ?? {}, 'shutdown');
  noUnknownKeys(sd, ['graceMs'], 'shutdown');
  const domains = arr(o.virtualHostDomains ?? [], 'virtualHostDomains').map((d, i) =>
    // Lower-case and without a trailing dot: Hosts are matched in that form (proxy/s3/target.ts).
    str(d, at('virtualHostDomains', i)).toLowerCase().replace(/\.$/, ''),
  );
  const maxHeaderBytes = int(limits.maxHeaderBytes, 'limits.maxHeaderBytes', 16 * 1024, 1024 * 1024);
  if (maxHeaderBytes < 1024) throw new ConfigError('limits.maxHeaderBytes', 'must be at least 1024');
  // The file's own values are checked even when a flag overrides them: a broken file must not
  // pass today only to fail on the next start without the flag.
  const fileListen = parseListen(o.listen ?? '127.0.0.1:7480', 'listen');
  const fileAdmin = parseListen(o.admin ?? ':7481', 'admin');
  const fileLogLevel = oneOf(o.logLevel ?? 'info', 'logLevel', LOG_LEVELS);
  return {
    listen: flags.listen !== undefined ? parseListen(flags.listen, '--listen') : fileListen,
    admin: flags.admin !== undefined ? parseListen(flags.admin, '--admin') : fileAdmin,
    virtualHostDomains: domains,
    timeouts: {
      requestHeaderTimeoutMs: ms(t.requestHeaderTimeoutMs, 'timeouts.requestHeaderTimeoutMs', 10_000),
      clientIdleMs: ms(t.clientIdleMs, 'timeouts.clientIdleMs', 60_000),
      keepAliveIdleMs: ms(t.keepAliveIdleMs, 'timeouts.keepAliveIdleMs', 30_000),
      backendConnectMs: ms(t.backendConnectMs, 'timeouts.backendConnectMs', 2_000),
      backendFirstByteMs: ms(t.backendFirstByteMs, 'timeouts.backendFirstByteMs', 60_000),
      backendIdleMs: ms(t.backendIdleMs, 'timeouts.backendIdleMs', 60_000),
    },
    limits: { maxHeaderBytes },
    keepAlive: {
      maxAgeMs: ms(ka.maxAgeMs, 'keepAlive.maxAgeMs', 300_000),
      maxRequests: int(ka.maxRequests, 'keepAlive.maxRequests', 10_000),
    },
    shutdown: { graceMs: ms(sd.graceMs, 'shutdown.graceMs', 20_000) },
    logLevel: flags.logLevel !== undefined ? oneOf(flags.logLevel, '--log-level', LOG_LEVELS) : fileLogLevel,
    policyFile,
    policy,
    ...(droppedSettings.length > 0 && { droppedSettings }),
  };
}
