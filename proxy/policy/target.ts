/**
 * Request-target canonicalisation: raw request target + Host → the one (bucket, key, query) that
 * is both authorized and forwarded. Pure.
 *
 * The invariant this module exists for: the (bucket, key) the policy authorizes is byte-for-byte
 * the (bucket, key) the backend acts on. So the target is decoded exactly once, here, and the
 * forwarder re-encodes from the decoded values ({@link encodeObjectPath}) instead of passing the
 * client's bytes through. Everything two reasonable parsers could read differently is refused
 * rather than normalised:
 * - absolute-form (`http://host/…`) and asterisk-form targets; a target starting with `//`
 *   (WHATWG URL parsing reads `//evil/x` as a host); raw `\` (WHATWG URL turns it into `/`); `#`;
 * - malformed percent-escapes and escapes that do not decode to UTF-8 (Go keeps the raw bytes);
 * - an encoded `/` in the bucket segment (the bucket would change on a second decode);
 * - `.` / `..` segments and empty segments (`a//b`) in the key, decoded (`%2e%2E` included):
 *   some backends and intermediaries clean paths, which could move a key out of its prefix;
 * - `;` in the query (Go's ParseQuery refuses it, other parsers split on it).
 *
 * Host: under a configured virtual-host domain, `<bucket>.<domain>` names the bucket and the
 * whole path is the key — whatever bucket-like segment the path starts with (the path never
 * overrides the Host). Any other Host is path-style: the proxy never routes on Host (it only
 * talks to its configured stores and sets the backend's Host itself), so a Host naming another
 * host can reach nothing. With `allowedHosts` set, other Hosts are refused outright.
 */
import { isValidBucketName } from '../s3/bucket.ts';

/** How the proxy is addressed. Hostnames lower-case, without port. */
export interface TargetOptions {
  /** `<bucket>.<domain>` under each of these is virtual-hosted-style addressing. */
  virtualHostDomains?: readonly string[];
  /** If set, a Host outside this list (and outside the virtual-host domains) is refused. */
  allowedHosts?: readonly string[];
}

/** A canonical target, or why there is none. */
export type TargetResult =
  | {
      ok: true;
      /** Decoded bucket; undefined for service-level requests (ListBuckets). */
      bucket: string | undefined;
      /** Decoded key; undefined for bucket-level requests. */
      key: string | undefined;
      /** Decoded query (form decoding: `+` is a space, as S3 reads it). */
      query: URLSearchParams;
      style: 'path' | 'virtual';
    }
  | { ok: false; message: string };

/** S3 bucket naming rules; the request path's own check, so both parsers agree. */
export { isValidBucketName };

/** True if `s` has a C0 control character or DEL (never valid raw in a request target). */
export function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Percent-decodes once, strictly: every `%` starts a valid escape and the bytes are UTF-8. */
export function strictDecode(raw: string): string | undefined {
  if (/%(?![0-9A-Fa-f]{2})/.test(raw)) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/** Why a decoded key is refused, or undefined if it is acceptable. */
export function keyProblem(key: string): string | undefined {
  if (key.includes('\0')) return 'key contains NUL';
  const segments = key.split('/');
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    if (s === '.' || s === '..') return 'key contains a dot segment';
    // A trailing slash (a "folder" marker) is fine; an empty segment anywhere else is `//`.
    if (s === '' && i !== segments.length - 1) return 'key contains an empty segment (//)';
  }
  return undefined;
}

let lastHost: string | undefined;
let lastHostName: string | undefined;

/** The Host header's name, lower-case, without port; undefined when malformed. */
function hostName(host: string): string | undefined {
  // A pod's requests carry the same Host nearly always: the last answer is kept.
  if (host !== lastHost) {
    lastHostName = parseHostName(host);
    lastHost = host;
  }
  return lastHostName;
}

function parseHostName(host: string): string | undefined {
  const h = host.trim().toLowerCase();
  if (h === '' || /[\s/@\\?#]/.test(h)) return undefined;
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return undefined;
    const rest = h.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    return h.slice(1, end);
  }
  const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(h);
  // One trailing dot is the fully qualified form of the same name (as in proxy/s3/target.ts).
  return m?.[1]?.replace(/\.$/, '');
}

function parseQuery(raw: string): URLSearchParams | string {
  if (raw.includes(';')) return 'query contains ";"';
  const query = new URLSearchParams();
  if (raw === '') return query;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = strictDecode((eq < 0 ? part : part.slice(0, eq)).replaceAll('+', ' '));
    const value = strictDecode(eq < 0 ? '' : part.slice(eq + 1).replaceAll('+', ' '));
    if (name === undefined || value === undefined) return 'query contains a malformed percent-escape';
    query.append(name, value);
  }
  return query;
}

/**
 * Canonicalises one request. `rawTarget` is the request-target exactly as received
 * (`req.url` in node:http); `host` the Host header.
 */
export function canonicalTarget(
  rawTarget: string,
  host: string | undefined,
  opts: TargetOptions = {},
): TargetResult {
  const fail = (message: string): TargetResult => ({ ok: false, message });
  if (!rawTarget.startsWith('/')) return fail('request target must be origin-form (/bucket/key)');
  if (rawTarget.startsWith('//')) return fail('request target starts with //');
  if (/[\\#\s]/.test(rawTarget) || hasControlChar(rawTarget))
    return fail('request target contains \\, # or a control character');

  const qi = rawTarget.indexOf('?');
  const rawPath = qi < 0 ? rawTarget : rawTarget.slice(0, qi);
  const query = parseQuery(qi < 0 ? '' : rawTarget.slice(qi + 1));
  if (typeof query === 'string') return fail(query);

  let vhostBucket: string | undefined;
  if (host !== undefined) {
    const name = hostName(host);
    if (name === undefined) return fail('Host header is malformed');
    const domain = (opts.virtualHostDomains ?? []).find((d) => name.endsWith(`.${d}`));
    if (domain !== undefined) {
      vhostBucket = name.slice(0, -(domain.length + 1));
    } else if (
      opts.allowedHosts &&
      !opts.allowedHosts.includes(name) &&
      !(opts.virtualHostDomains ?? []).includes(name)
    ) {
      return fail(`Host ${name} does not address this proxy`);
    }
  }

  let bucket: string | undefined;
  let rawKey: string;
  if (vhostBucket !== undefined) {
    bucket = vhostBucket;
    rawKey = rawPath.slice(1);
  } else {
    const slash = rawPath.indexOf('/', 1);
    const rawBucket = slash < 0 ? rawPath.slice(1) : rawPath.slice(1, slash);
    rawKey = slash < 0 ? '' : rawPath.slice(slash + 1);
    if (rawBucket === '') {
      if (rawKey !== '') return fail('empty bucket segment');
      bucket = undefined;
    } else {
      bucket = strictDecode(rawBucket);
      if (bucket === undefined) return fail('bucket contains a malformed percent-escape');
    }
  }
  if (bucket !== undefined && !isValidBucketName(bucket))
    return fail(`invalid bucket name ${JSON.stringify(bucket)}`);

  let key: string | undefined;
  if (rawKey !== '') {
    key = strictDecode(rawKey);
    if (key === undefined) return fail('key contains a malformed percent-escape');
    const problem = keyProblem(key);
    if (problem) return fail(problem);
  }
  return { ok: true, bucket, key, query, style: vhostBucket !== undefined ? 'virtual' : 'path' };
}

/** RFC 3986 unreserved characters stay; everything else is %XX of its UTF-8 bytes. */
function encodeSegment(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The path-style path to forward for a canonical (bucket, key): each key segment encoded, `/`
 * kept, so the backend's single decode yields exactly `key`.
 */
export function encodeObjectPath(bucket: string | undefined, key: string | undefined): string {
  if (bucket === undefined) return '/';
  if (key === undefined) return `/${bucket}`;
  return `/${bucket}/${key.split('/').map(encodeSegment).join('/')}`;
}
