/**
 * How a parsed (bucket, key, query) is written back onto the wire towards the backend. The proxy
 * never forwards the client's raw path: it forwards this re-encoding of what it parsed, so the
 * policy decision and the backend see the very same object. Encoding is SigV4's UriEncode
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html): every byte
 * except A-Z a-z 0-9 - . _ ~ is percent-encoded, '/' kept in keys. The query string is written in
 * SigV4 canonical order, so the bytes sent are the bytes signed.
 */

/** RFC 3986 encoding of a whole component ('/' encoded). */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const UNRESERVED_PATH = /^[A-Za-z0-9\-._~/]*$/;

/** RFC 3986 encoding of an object key, keeping '/' as the separator. */
export function encodeKey(key: string): string {
  // Most keys need no encoding at all: skip the encoder and its two regex passes.
  if (UNRESERVED_PATH.test(key)) return key;
  return uriEncode(key).replace(/%2F/g, '/');
}

/**
 * The request path for a backend: path-style `/bucket/key`, or `/key` when the bucket travels in
 * the Host header (virtual addressing). `/` for service-level requests.
 */
export function encodePath(bucket: string | undefined, key: string | undefined, virtual: boolean): string {
  if (bucket === undefined) return '/';
  if (virtual) return key === undefined ? '/' : `/${encodeKey(key)}`;
  return key === undefined ? `/${bucket}` : `/${bucket}/${encodeKey(key)}`;
}

/** Query parameters as the signer wants them: name → value, or all values of a repeated name. */
export type QueryMap = Record<string, string | string[]>;

/** Converts parsed parameters into a {@link QueryMap}, preserving repeated names. */
export function toQueryMap(params: URLSearchParams): QueryMap {
  const out: QueryMap = Object.create(null) as QueryMap;
  for (const [k, v] of params) {
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[k] = [prev, v];
  }
  return out;
}

/**
 * The canonical query string (sorted by encoded name, then value; `name=` for valueless
 * sub-resources). Identical to @smithy/signature-v4's getCanonicalQuery — a unit test holds it
 * to that — so the string forwarded is the string signed.
 */
export function canonicalQuery(q: QueryMap): string {
  const parts: [string, string][] = [];
  for (const k in q) {
    const v = q[k]!;
    const ek = uriEncode(k);
    const vals = Array.isArray(v) ? v.map((x) => `${ek}=${uriEncode(x)}`).sort() : [`${ek}=${uriEncode(v)}`];
    parts.push([ek, vals.join('&')]);
  }
  parts.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return parts.map((p) => p[1]).join('&');
}
