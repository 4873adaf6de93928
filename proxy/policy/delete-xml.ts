/**
 * A small, strict parser for the DeleteObjects request body — and nothing else. Pure.
 *
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html:
 * `<Delete><Quiet>bool</Quiet><Object><Key>k</Key><VersionId>v</VersionId>…</Object>…</Delete>`.
 *
 * Why a dedicated parser: the proxy must read every key exactly as the backend will, and a
 * general XML parser brings entity expansion (billion laughs), external entities and namespace
 * rules we would have to reason about. This one accepts the S3 schema and refuses anything else:
 * - no DOCTYPE (so no entity declarations); only the five predefined entities and numeric
 *   character references, which must name an XML character;
 * - CDATA, comments and processing instructions are handled the way Go's encoding/xml (MinIO)
 *   handles them; line endings in text are normalised (\r\n and \r → \n) as XML requires, so the
 *   key we check is the key the backend sees;
 * - unknown or prefixed elements, a second <Key> in an <Object>, text outside leaves → refused;
 * - at most {@link MAX_DELETE_KEYS} objects (S3's limit).
 */

/** S3's limit on keys per DeleteObjects request. */
export const MAX_DELETE_KEYS = 1000;
/** The body bound: 1000 keys of 1024 bytes, escaped, with version ids, fit comfortably. */
export const MAX_DELETE_BODY_BYTES = 1024 * 1024;

/** One object named in the body. */
export interface DeleteEntry {
  key: string;
  versionId: string | undefined;
}

export type DeleteBody =
  { ok: true; quiet: boolean; objects: DeleteEntry[] } | { ok: false; tooLarge: boolean; message: string };

const OBJECT_CHILDREN = new Set(['Key', 'VersionId', 'ETag', 'LastModifiedTime', 'Size']);
const NAME_RE = /^[A-Za-z_][A-Za-z0-9._-]*/;
const PREDEFINED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function isXmlChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

class Malformed extends Error {}

/** Decodes character data: entities and character references, line-ending normalisation. */
function decodeText(raw: string): string {
  const normalised = raw.replace(/\r\n?/g, '\n');
  return normalised.replace(/&([^;&]*);|&/g, (whole, ref: string | undefined) => {
    if (ref === undefined) throw new Malformed('bare & in text');
    const named = PREDEFINED[ref];
    if (named !== undefined) return named;
    const m = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(ref);
    if (!m) throw new Malformed(`unknown entity ${whole}`);
    const cp = m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2] ?? '', 10);
    if (!isXmlChar(cp)) throw new Malformed(`character reference ${whole} is not an XML character`);
    return String.fromCodePoint(cp);
  });
}

interface Tag {
  kind: 'open' | 'close' | 'empty';
  name: string;
  attrs: string;
}

/** Tokenises into tags and text; comments and PIs are dropped, CDATA becomes literal text. */
function* tokens(xml: string): Generator<Tag | { kind: 'text'; text: string }> {
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    if (lt < 0) {
      yield { kind: 'text', text: decodeText(xml.slice(i)) };
      return;
    }
    if (lt > i) yield { kind: 'text', text: decodeText(xml.slice(i, lt)) };
    if (xml.startsWith('<!--', lt)) {
      const end = xml.indexOf('-->', lt + 4);
      if (end < 0) throw new Malformed('unterminated comment');
      i = end + 3;
    } else if (xml.startsWith('<![CDATA[', lt)) {
      const end = xml.indexOf(']]>', lt + 9);
      if (end < 0) throw new Malformed('unterminated CDATA');
      yield { kind: 'text', text: xml.slice(lt + 9, end).replace(/\r\n?/g, '\n') };
      i = end + 3;
    } else if (xml.startsWith('<?', lt)) {
      const end = xml.indexOf('?>', lt + 2);
      if (end < 0) throw new Malformed('unterminated processing instruction');
      i = end + 2;
    } else if (xml.startsWith('<!', lt)) {
      throw new Malformed('DOCTYPE and declarations are not allowed');
    } else {
      const end = xml.indexOf('>', lt + 1);
      if (end < 0) throw new Malformed('unterminated tag');
      let body = xml.slice(lt + 1, end);
      let kind: Tag['kind'] = 'open';
      if (body.startsWith('/')) {
        kind = 'close';
        body = body.slice(1);
      } else if (body.endsWith('/')) {
        kind = 'empty';
        body = body.slice(0, -1);
      }
      const m = NAME_RE.exec(body);
      if (!m) throw new Malformed('malformed tag');
      const name = m[0];
      const attrs = body.slice(name.length);
      if (attrs !== '' && !/^\s/.test(attrs)) throw new Malformed(`malformed tag <${body}>`);
      if (kind === 'close' && attrs.trim() !== '') throw new Malformed('attributes on a closing tag');
      yield { kind, name, attrs: attrs.trim() };
      i = end + 1;
    }
  }
}

/** Only a default namespace declaration is accepted, on the root. */
function checkAttrs(tag: Tag, root: boolean): void {
  if (tag.attrs === '') return;
  if (root && /^xmlns\s*=\s*("[^"<&]*"|'[^'<&]*')$/.test(tag.attrs)) return;
  throw new Malformed(`unexpected attributes on <${tag.name}>`);
}

/** Parses a DeleteObjects body. Never throws. */
export function parseDeleteBody(body: Buffer | string): DeleteBody {
  const size = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  if (size > MAX_DELETE_BODY_BYTES) {
    return { ok: false, tooLarge: true, message: `body exceeds ${MAX_DELETE_BODY_BYTES} bytes` };
  }
  let xml: string;
  try {
    xml = typeof body === 'string' ? body : new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return { ok: false, tooLarge: false, message: 'body is not UTF-8' };
  }
  if (xml.startsWith('\uFEFF')) xml = xml.slice(1);
  try {
    return parse(xml);
  } catch (err) {
    if (err instanceof Malformed)
      return { ok: false, tooLarge: err.message.startsWith('more than'), message: err.message };
    throw err;
  }
}

function parse(xml: string): DeleteBody {
  // Path of open elements; text is collected only inside leaves.
  const stack: string[] = [];
  let sawRoot = false;
  let quiet = false;
  const objects: DeleteEntry[] = [];
  let current: { key?: string; versionId?: string; seen: Set<string> } | undefined;
  let text: string | undefined;

  for (const tok of tokens(xml)) {
    if (tok.kind === 'text') {
      if (text !== undefined) text += tok.text;
      else if (tok.text.trim() !== '') throw new Malformed('text outside a value element');
      continue;
    }
    const depth = stack.length;
    if (tok.kind === 'open' || tok.kind === 'empty') {
      checkAttrs(tok, depth === 0);
      if (text !== undefined) throw new Malformed(`<${tok.name}> inside a value element`);
      if (depth === 0) {
        if (sawRoot || tok.name !== 'Delete') throw new Malformed('root element must be <Delete>');
        sawRoot = true;
      } else if (depth === 1) {
        if (tok.name === 'Object') {
          if (objects.length >= MAX_DELETE_KEYS) throw new Malformed(`more than ${MAX_DELETE_KEYS} objects`);
          current = { seen: new Set() };
        } else if (tok.name === 'Quiet') {
          text = '';
        } else {
          throw new Malformed(`unexpected <${tok.name}> in <Delete>`);
        }
      } else if (depth === 2 && stack[1] === 'Object') {
        if (!OBJECT_CHILDREN.has(tok.name)) throw new Malformed(`unexpected <${tok.name}> in <Object>`);
        if (current?.seen.has(tok.name)) throw new Malformed(`<${tok.name}> given twice in one <Object>`);
        current?.seen.add(tok.name);
        text = '';
      } else {
        throw new Malformed(`unexpected <${tok.name}>`);
      }
      if (tok.kind === 'open') {
        stack.push(tok.name);
        continue;
      }
      // <X/>: an empty element closes at once.
      stack.push(tok.name);
    }
    const name = stack.pop();
    if (name === undefined || name !== tok.name) throw new Malformed(`mismatched </${tok.name}>`);
    const value = text;
    text = undefined;
    if (stack.length === 2 && current) {
      if (name === 'Key') current.key = value ?? '';
      if (name === 'VersionId') current.versionId = value ?? '';
    } else if (stack.length === 1 && name === 'Object') {
      if (current?.key === undefined || current.key === '') throw new Malformed('<Object> without a <Key>');
      objects.push({ key: current.key, versionId: current.versionId });
      current = undefined;
    } else if (stack.length === 1 && name === 'Quiet') {
      const v = (value ?? '').trim();
      if (v !== 'true' && v !== 'false') throw new Malformed('<Quiet> must be true or false');
      quiet = v === 'true';
    }
  }
  if (!sawRoot || stack.length !== 0) throw new Malformed('document is incomplete');
  if (objects.length === 0) throw new Malformed('no <Object> in <Delete>');
  return { ok: true, quiet, objects };
}
