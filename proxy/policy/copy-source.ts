/**
 * `x-amz-copy-source` parsing for CopyObject / UploadPartCopy. Pure.
 *
 * Format (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html):
 * `[/]bucket/key[?versionId=id]`, URL-encoded. Backends parse it differently — MinIO
 * query-unescapes it (`+` becomes a space), then parses the *decoded* string as a URL (so a
 * decoded `?` or `#` ends the key and a decoded `%` is decoded again). We therefore accept only
 * values every such parser reads the same way, or reads within what the policy checked, and
 * refuse the rest with InvalidArgument: no raw `+`, strictly valid escapes, and after one decode
 * no `%` (a second decode could make anything of it), control characters, dot or empty segments.
 * The query part may only be `versionId=<token>`. A decoded `?` or `#` is kept (keys like
 * `track #1.mp3` are common): a backend that re-parses would read the key cut there, and the
 * engine requires read on that key too ({@link readsOfCopySource}).
 */
import { hasControlChar, isValidBucketName, keyProblem, strictDecode } from './target.ts';

/** A parsed copy source, or why the header was refused. */
export type CopySource =
  { ok: true; bucket: string; key: string; versionId: string | undefined } | { ok: false; message: string };

/**
 * A version ID, decoded once: AWS documents them as "URL-ready" and shows `/`, `+` and `=` in
 * them; botocore appends them raw, other SDKs percent-encode the whole value. Only the version
 * of the key already checked is chosen by it, never another key (the key ends at the `?`).
 */
const VERSION_ID_RE = /^[A-Za-z0-9._\-+/=]{1,1024}$/;

/** Parses one `x-amz-copy-source` header value. */
export function parseCopySource(header: string): CopySource {
  const fail = (message: string): CopySource => ({ ok: false, message });
  let raw = header;
  if (raw.startsWith('/')) raw = raw.slice(1);
  if (raw.startsWith('/')) return fail('copy source starts with //');
  const rawPath = raw.split('?')[0] ?? '';
  if (/[+\\#\s]/.test(rawPath) || hasControlChar(rawPath)) {
    return fail('copy source contains a raw +, \\, #, space or control character');
  }
  // Node hands header bytes over one per character (Latin-1); a backend reads raw bytes of 0x80
  // and up as UTF-8, so the key we check and the key it copies would differ. S3 wants it
  // URL-encoded anyway, as every SDK and the CLI send it.
  if (/[^\x20-\x7e]/.test(raw)) return fail('copy source contains raw non-ASCII bytes (URL-encode it)');

  let versionId: string | undefined;
  const qi = raw.indexOf('?');
  if (qi >= 0) {
    const m = /^versionId=(.*)$/.exec(raw.slice(qi + 1));
    const id = m?.[1] ? strictDecode(m[1]) : undefined;
    if (id === undefined || !VERSION_ID_RE.test(id)) return fail('copy source query must be ?versionId=<id>');
    versionId = id;
    raw = raw.slice(0, qi);
  }

  const decoded = strictDecode(raw);
  if (decoded === undefined) return fail('copy source contains a malformed percent-escape');
  if (decoded.includes('%') || hasControlChar(decoded)) {
    return fail('copy source decodes to % or a control character (backends would read it differently)');
  }
  const slash = decoded.indexOf('/');
  if (slash <= 0) return fail('copy source must be bucket/key');
  const bucket = decoded.slice(0, slash);
  const key = decoded.slice(slash + 1);
  if (!isValidBucketName(bucket)) return fail(`invalid copy source bucket ${JSON.stringify(bucket)}`);
  if (key === '') return fail('copy source has no key');
  const problem = keyProblem(key);
  if (problem) return fail(`copy source ${problem}`);
  const cut = cutKey(key);
  if (cut !== undefined) {
    const cutProblem = cut === '' ? 'has no key before ? or #' : keyProblem(cut);
    if (cutProblem) return fail(`copy source ${cutProblem} (as a backend that re-parses it would read it)`);
  }
  return { ok: true, bucket, key, versionId };
}

/** `key` cut at its first `?` or `#` (what a backend re-parsing the decoded value reads), if any. */
function cutKey(key: string): string | undefined {
  const q = key.indexOf('?');
  const h = key.indexOf('#');
  if (q < 0 && h < 0) return undefined;
  return key.slice(0, q < 0 ? h : h < 0 ? q : Math.min(q, h));
}

/** The keys a copy from `key` may read at the backend: the key, and the key cut at `?` or `#`. */
export function readsOfCopySource(key: string): string[] {
  const cut = cutKey(key);
  return cut === undefined ? [key] : [key, cut];
}
