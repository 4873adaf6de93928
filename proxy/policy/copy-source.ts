/**
 * `x-amz-copy-source` parsing for CopyObject / UploadPartCopy. Pure.
 *
 * Format (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html):
 * `[/]bucket/key[?versionId=id]`, URL-encoded. Backends parse it differently — MinIO
 * query-unescapes it (`+` becomes a space), then parses the *decoded* string as a URL (so a
 * decoded `?` or `#` ends the key and a decoded `%` is decoded again). We therefore accept only
 * values every such parser reads the same way, and refuse the rest with InvalidArgument:
 * no raw `+`, strictly valid escapes, and after one decode no `%`, `?`, `#`, control
 * characters, dot or empty segments. The query part may only be `versionId=<token>`.
 */
import { hasControlChar, isValidBucketName, keyProblem, strictDecode } from './target.ts';

/** A parsed copy source, or why the header was refused. */
export type CopySource =
  { ok: true; bucket: string; key: string; versionId: string | undefined } | { ok: false; message: string };

const VERSION_ID_RE = /^[A-Za-z0-9._-]{1,1024}$/;

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

  let versionId: string | undefined;
  const qi = raw.indexOf('?');
  if (qi >= 0) {
    const m = /^versionId=(.*)$/.exec(raw.slice(qi + 1));
    if (!m?.[1] || !VERSION_ID_RE.test(m[1])) return fail('copy source query must be ?versionId=<id>');
    versionId = m[1];
    raw = raw.slice(0, qi);
  }

  const decoded = strictDecode(raw);
  if (decoded === undefined) return fail('copy source contains a malformed percent-escape');
  if (/[%?#]/.test(decoded) || hasControlChar(decoded)) {
    return fail('copy source decodes to %, ?, # or a control character (backends would read it differently)');
  }
  const slash = decoded.indexOf('/');
  if (slash <= 0) return fail('copy source must be bucket/key');
  const bucket = decoded.slice(0, slash);
  const key = decoded.slice(slash + 1);
  if (!isValidBucketName(bucket)) return fail(`invalid copy source bucket ${JSON.stringify(bucket)}`);
  if (key === '') return fail('copy source has no key');
  const problem = keyProblem(key);
  if (problem) return fail(`copy source ${problem}`);
  return { ok: true, bucket, key, versionId };
}
