/**
 * The backend-independent parts of a SigV4 canonical request
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html), computed once
 * per request by the sign phase's first half so that each attempt's signature (signer.ts) only
 * merges in host, x-amz-date and x-amz-security-token and hashes: no sorting, no re-encoding,
 * no URL objects on the hot path.
 */

/** A request's canonical parts, minus what depends on the backend (host) or the clock. */
export interface CanonicalParts {
  method: string;
  /** Canonical path: the already-encoded path, sent verbatim (S3 does not double-encode). */
  path: string;
  /** Canonical query string, sorted ('' when none) — also the bytes sent. */
  query: string;
  /**
   * Signed header names, lower-case, sorted, unique; never host, x-amz-date,
   * x-amz-security-token, authorization or date (the signer owns those).
   */
  headerNames: readonly string[];
  /** Values for headerNames, canonical (see {@link canonicalHeaderValue}). */
  headerValues: readonly string[];
  /** The x-amz-content-sha256 value (hex, UNSIGNED-PAYLOAD or STREAMING-…), also among the headers. */
  payloadHash: string;
}

/** Headers a caller may not pass in CanonicalParts: the signer writes them itself. */
export const SIGNER_OWNED_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'x-amz-date',
  'x-amz-security-token',
  'authorization',
  'date',
]);

const NEEDS_FOLDING = /[\r\n\t]| {2}|^ | $/;

/**
 * A header value as SigV4 signs it: CR/LF become spaces, runs of spaces and tabs fold to one,
 * one leading and one trailing space go — exactly @smithy/signature-v4's getCanonicalHeaders,
 * so the two sign alike. The common value needs none of it and is returned as is.
 */
export function canonicalHeaderValue(v: string): string {
  if (!NEEDS_FOLDING.test(v)) return v;
  return v
    .replace(/[\r\n]/g, ' ')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '');
}

/**
 * The UTF-8 bytes (as the latin1 characters the values hold) of every character Go's
 * unicode.IsSpace accepts: ASCII whitespace, U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028,
 * U+2029, U+202F, U+205F, U+3000. Each starts with a lead byte, never a continuation byte, so a
 * match starts a character wherever Go's decoder would start one.
 */
const GO_SPACES =
  /(?:[\t\n\v\f\r ]|\xc2[\x85\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]|\xe2\x81\x9f|\xe3\x80\x80)+/g;
const MULTIBYTE_SPACE_LEAD = /[\xc2\xe1\xe2\xe3]/;

/**
 * A header value as MinIO checks it: `strings.Join(strings.Fields(v), " ")` over the value's
 * bytes read as UTF-8 (cmd/signature-v4.go, signV4TrimAll), which folds every Unicode space, not
 * only ASCII ones. A value without a byte that can start a multibyte space folds as SigV4 does.
 */
export function canonicalHeaderValueGo(v: string): string {
  if (!MULTIBYTE_SPACE_LEAD.test(v)) return canonicalHeaderValue(v);
  return v.replace(GO_SPACES, ' ').replace(/^ | $/g, '');
}

/**
 * Sorts a record of lower-case header names to signed values into CanonicalParts' two arrays,
 * each value folded by `fold`. Throws on a name the signer owns. Called once per request, not per
 * attempt.
 */
export function sortSignedHeaders(
  headers: Readonly<Record<string, string>>,
  fold: (v: string) => string = canonicalHeaderValue,
): {
  headerNames: string[];
  headerValues: string[];
} {
  const headerNames = Object.keys(headers).sort();
  const headerValues = new Array<string>(headerNames.length);
  for (let i = 0; i < headerNames.length; i++) {
    const name = headerNames[i]!;
    if (SIGNER_OWNED_HEADERS.has(name)) throw new Error(`the signer sets ${name} itself`);
    headerValues[i] = fold(headers[name]!);
  }
  return { headerNames, headerValues };
}
