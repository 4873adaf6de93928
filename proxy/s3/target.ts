/**
 * Parses an S3 request target — Host header + request-target — into (bucket, key, query),
 * decoding each exactly once. Path-style always; virtual-hosted when Host is
 * `<bucket>.<configured domain>`. Anything that cannot be represented unambiguously is refused
 * here, so authorization and forwarding (which re-encodes from these values, see canonical.ts)
 * can never disagree about which object a request names:
 *  - absolute-form targets naming another host than Host,
 *  - `.`/`..` segments and empty segments (`//`) in keys, which path normalisation anywhere
 *    between here and the disk could resolve differently,
 *  - encoded slashes (`%2F`) in the bucket or key, which would split differently once decoded,
 *  - malformed percent-encoding and invalid bucket names.
 * The policy helper may tighten this further; keep every rule here.
 */
import { Errors, ProxyError } from '../errors.ts';
import { isValidBucketName } from './bucket.ts';

/** A parsed request target. */
export interface S3Target {
  /** Decoded bucket, undefined for service-level requests (ListBuckets). */
  bucket: string | undefined;
  /** Decoded key, undefined for bucket-level requests. */
  key: string | undefined;
  /** Decoded query parameters ('+' is a space, as in application/x-www-form-urlencoded). */
  query: URLSearchParams;
  style: 'path' | 'virtual';
}

function decode(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ProxyError(Errors.InvalidURI, `Malformed percent-encoding in the ${what}.`);
  }
}

/**
 * Strips the port and lower-cases a Host header value, and drops one trailing dot: a client that
 * sends the fully qualified `bucket.s3.example.` means the same host (RFC 1034 §3.1).
 */
export function hostName(host: string): string {
  const h = host.toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  const name = colon === -1 ? h : h.slice(0, colon);
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

function bucketFromHost(host: string | undefined, domains: readonly string[]): string | undefined {
  if (!host || domains.length === 0) return undefined;
  const name = hostName(host);
  for (const d of domains) {
    if (name.length > d.length + 1 && name.endsWith(d) && name[name.length - d.length - 1] === '.') {
      return name.slice(0, name.length - d.length - 1);
    }
  }
  return undefined;
}

function checkKey(key: string): void {
  for (const seg of key.split('/')) {
    if (seg === '.' || seg === '..') {
      throw new ProxyError(Errors.InvalidURI, 'Object keys with "." or ".." path segments are not accepted.');
    }
  }
  if (key.includes('//') || key.startsWith('/'))
    throw new ProxyError(Errors.InvalidURI, 'Object keys with empty path segments are not accepted.');
  if (key.includes('\0')) throw new ProxyError(Errors.InvalidURI, 'Object keys may not contain NUL.');
}

/**
 * Parses one request target. `url` is the raw request-target (origin-form or absolute-form),
 * `host` the Host header. Throws ProxyError (S3 InvalidURI / InvalidBucketName) on anything
 * ambiguous.
 */
export function parseTarget(url: string, host: string | undefined, domains: readonly string[]): S3Target {
  let target = url;
  if (!target.startsWith('/')) {
    // absolute-form (RFC 9112 §3.2.2) is legal HTTP but must name the host we were asked for.
    const m = /^https?:\/\/([^/?#]+)(.*)$/i.exec(target);
    if (!m || !host || m[1]!.toLowerCase() !== host.toLowerCase()) {
      throw new ProxyError(Errors.InvalidURI, 'The request target must be a path on this host.');
    }
    target = m[2] || '/';
    if (!target.startsWith('/')) throw new ProxyError(Errors.InvalidURI);
  }
  const hash = target.indexOf('#');
  if (hash !== -1) target = target.slice(0, hash);
  const qi = target.indexOf('?');
  const rawPath = qi === -1 ? target : target.slice(0, qi);
  const query = new URLSearchParams(qi === -1 ? '' : target.slice(qi + 1));

  let bucket: string | undefined;
  let rawKey: string;
  const vhBucket = bucketFromHost(host, domains);
  if (vhBucket !== undefined) {
    bucket = vhBucket;
    rawKey = rawPath.slice(1);
  } else {
    const slash = rawPath.indexOf('/', 1);
    const rawBucket = slash === -1 ? rawPath.slice(1) : rawPath.slice(1, slash);
    rawKey = slash === -1 ? '' : rawPath.slice(slash + 1);
    if (rawBucket === '') {
      if (rawKey !== '') throw new ProxyError(Errors.InvalidURI, 'Empty path segments are not accepted.');
      return { bucket: undefined, key: undefined, query, style: 'path' };
    }
    if (/%2f/i.test(rawBucket))
      throw new ProxyError(Errors.InvalidBucketName, 'Encoded slashes in the bucket name are not accepted.');
    bucket = decode(rawBucket, 'bucket name');
  }
  if (!isValidBucketName(bucket)) throw new ProxyError(Errors.InvalidBucketName);
  if (rawKey === '')
    return { bucket, key: undefined, query, style: vhBucket === undefined ? 'path' : 'virtual' };
  if (/%2f/i.test(rawKey))
    throw new ProxyError(Errors.InvalidURI, 'Encoded slashes in object keys are not accepted.');
  const key = decode(rawKey, 'object key');
  checkKey(key);
  return { bucket, key, query, style: vhBucket === undefined ? 'path' : 'virtual' };
}
