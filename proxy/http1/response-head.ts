/**
 * Parses an HTTP/1.1 response head (status line and header lines, without the final blank line)
 * and decides how its body is framed (RFC 9112 §6.3). Strict where a lenient parser would let a
 * confused backend desynchronise a reused connection: no obs-fold, no bare CR or LF, no space
 * before the colon, one Content-Length value, Transfer-Encoding only with chunked last.
 *
 * One pass over the text with byte-class tables, no regular expression or lower-casing per
 * header, and the name → value record built only when asked for ({@link ResponseHead.headers}):
 * a MinIO head of 16 lines took 11 µs with a split, two regular expressions per line and that
 * record; the request path needs only the few headers it reads here (bench/proxy/PERFORMANCE.md,
 * session 13).
 */
import { UpstreamError } from './errors.ts';

/** How the body after the head is delimited. */
export type BodyFraming =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  /** Until the backend closes the connection (no length, no chunking). */
  | { kind: 'close' };

// The reason phrase: HTAB, SP, VCHAR, obs-text (RFC 9112 §4) — what Node will write back out.
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
const DIGITS = /^\d{1,15}$/;
const KEEP_ALIVE_TIMEOUT = /(?:^|[\s,;])timeout\s*=\s*(\d{1,9})(?![\d])/gi;

/** tchar (RFC 9110 §5.6.2): the bytes a header name may have. */
const TOKEN_BYTE = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TOKEN_BYTE[c.charCodeAt(0)] = 1;
/** Field value bytes: visible ASCII, obs-text (0x80–0xff), space and tab; no other control byte. */
const VALUE_BYTE = new Uint8Array(256);
for (let b = 0; b < 256; b++) VALUE_BYTE[b] = b === 9 || (b >= 0x20 && b !== 0x7f) ? 1 : 0;

const SP = 0x20;
const HTAB = 0x09;

/** Hop-by-hop header names (RFC 9110 §7.6.1), lower-cased: not passed on to the client. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-connection',
]);
/**
 * Headers a backend's Connection header may name that are still passed on: what every client
 * reads (RFC 9110 §7.6.1 forbids a sender to list them; a backend that does anyway must not cost
 * a HeadObject its size or a GET its ETag). `x-amz-*` headers pass too.
 */
const END_TO_END = new Set([
  'content-length',
  'content-type',
  'content-range',
  'content-encoding',
  'content-disposition',
  'content-language',
  'cache-control',
  'expires',
  'etag',
  'last-modified',
  'date',
  'accept-ranges',
]);
/** The lengths of HOP_BY_HOP's names, content-length's and x-amz-request-id's: a cheap first test. */
const WATCHED_LENGTHS = new Set([2, 7, 10, 14, 16, 17]);

export class ResponseHead {
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly minor: number;
  readonly status: number;
  readonly statusMessage: string;
  /** Header lines as received, flat [name, value, …] (latin1, values without surrounding OWS). */
  readonly raw: string[];
  readonly framing: BodyFraming;
  /** False when the connection cannot carry another request after this response. */
  readonly keepAlive: boolean;
  /** `Keep-Alive: timeout=N` (RFC 2068 §19.7.1.1), ms: the backend closes an idle connection then. */
  readonly keepAliveTimeoutMs: number | undefined;
  /** Content-Length as sent (repeats joined with ", "), or undefined. */
  readonly contentLength: string | undefined;
  /** The backend's x-amz-request-id (repeats joined with ", "), or undefined. */
  readonly requestId: string | undefined;
  /** A hop-by-hop header (Connection, Keep-Alive, Transfer-Encoding, TE, …) is among raw. */
  readonly hasHopByHop: boolean;
  /**
   * Headers the backend's Connection header names (lower-cased; not close or keep-alive), which
   * are hop-by-hop too (RFC 9110 §7.6.1), or undefined.
   */
  readonly connectionNamed: readonly string[] | undefined;
  private record: Record<string, string> | undefined = undefined;

  constructor(fields: Omit<ResponseHead, 'headers'>) {
    this.minor = fields.minor;
    this.status = fields.status;
    this.statusMessage = fields.statusMessage;
    this.raw = fields.raw;
    this.framing = fields.framing;
    this.keepAlive = fields.keepAlive;
    this.keepAliveTimeoutMs = fields.keepAliveTimeoutMs;
    this.contentLength = fields.contentLength;
    this.requestId = fields.requestId;
    this.hasHopByHop = fields.hasHopByHop;
    this.connectionNamed = fields.connectionNamed;
  }

  /** Lower-cased names; repeated headers joined with ", " (set-cookie: last wins, unused here). */
  get headers(): Record<string, string> {
    if (this.record === undefined) {
      const out: Record<string, string> = {};
      for (let i = 0; i < this.raw.length; i += 2) {
        const key = this.raw[i]!.toLowerCase();
        const prev = out[key];
        out[key] = prev === undefined ? this.raw[i + 1]! : `${prev}, ${this.raw[i + 1]!}`;
      }
      this.record = out;
    }
    return this.record;
  }
}

/** `identity` alone (or repeated): RFC 2616's "no coding". */
function onlyIdentity(te: string): boolean {
  return te.split(',').every((c) => c.trim().toLowerCase() === 'identity');
}

function protocolError(message: string): UpstreamError {
  return new UpstreamError('PROTOCOL', `Invalid response from the backend: ${message}.`);
}

const joined = (prev: string | undefined, value: string): string =>
  prev === undefined ? value : `${prev}, ${value}`;

/**
 * `head` is the latin1 text up to (not including) the blank line; `method` is the request's
 * (a HEAD response has no body whatever its headers say).
 */
export function parseResponseHead(head: string, method: string): ResponseHead {
  let eol = head.indexOf('\r\n');
  if (eol < 0) eol = head.length;
  const m = STATUS_LINE.exec(eol === head.length ? head : head.slice(0, eol));
  if (!m) throw protocolError('bad status line');
  const minor = Number(m[1]);
  const status = Number(m[2]);
  const raw: string[] = [];
  let connection: string | undefined;
  let te: string | undefined;
  let cl: string | undefined;
  let keepAliveHeader: string | undefined;
  let requestId: string | undefined;
  let hasHopByHop = false;
  let start = eol + 2;
  while (start <= head.length && eol < head.length) {
    let end = head.indexOf('\r\n', start);
    if (end < 0) end = head.length;
    eol = end;
    // name: one or more token bytes up to the colon
    let i = start;
    while (i < end && TOKEN_BYTE[head.charCodeAt(i)] === 1) i++;
    if (i === end || head.charCodeAt(i) !== 0x3a) {
      // A line with no colon (or with nothing before it) is not a header line at all.
      const colon = head.indexOf(':', start);
      if (colon < 0 || colon >= end || colon === start) throw protocolError('bad header line');
      throw protocolError('bad header name');
    }
    if (i === start) throw protocolError('bad header line');
    const name = head.slice(start, i);
    // value: without surrounding spaces and tabs; every byte a field-value byte
    let vs = i + 1;
    let ve = end;
    while (vs < ve && (head.charCodeAt(vs) === SP || head.charCodeAt(vs) === HTAB)) vs++;
    while (ve > vs && (head.charCodeAt(ve - 1) === SP || head.charCodeAt(ve - 1) === HTAB)) ve--;
    for (let j = vs; j < ve; j++) {
      const c = head.charCodeAt(j);
      if (c > 0xff || VALUE_BYTE[c] === 0) throw protocolError(`bad value of ${name}`);
    }
    const value = head.slice(vs, ve);
    raw.push(name, value);
    if (WATCHED_LENGTHS.has(name.length)) {
      const key = name.toLowerCase();
      if (HOP_BY_HOP.has(key)) hasHopByHop = true;
      if (key === 'connection') connection = joined(connection, value);
      else if (key === 'transfer-encoding') te = joined(te, value);
      else if (key === 'content-length') cl = joined(cl, value);
      else if (key === 'keep-alive') keepAliveHeader = joined(keepAliveHeader, value);
      else if (key === 'x-amz-request-id') requestId = joined(requestId, value);
    }
    start = end + 2;
  }
  const conn = connection?.toLowerCase();
  let connectionNamed: string[] | undefined;
  if (conn !== undefined && conn !== 'keep-alive' && conn !== 'close') {
    for (const t of conn.split(',')) {
      const token = t.trim();
      if (token === '' || token === 'close' || token === 'keep-alive' || END_TO_END.has(token)) continue;
      if (token.startsWith('x-amz-')) continue;
      (connectionNamed ??= []).push(token);
    }
  }
  let keepAlive =
    minor === 1 ? !hasToken(conn, 'close') : hasToken(conn, 'keep-alive') && !hasToken(conn, 'close');
  let framing: BodyFraming;
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) {
    framing = NO_BODY;
    // Checked though it frames nothing: differing values would reach the client (a HEAD's
    // Content-Length is the object's size, which clients read).
    if (cl !== undefined) contentLength(cl);
  } else if (te !== undefined && !onlyIdentity(te)) {
    // A message with both is a smuggling vector: honour chunked, never reuse the connection.
    // So is Transfer-Encoding in HTTP/1.0, which has none (RFC 9112 §6.1).
    if (cl !== undefined || minor === 0) keepAlive = false;
    // Exactly chunked: the client gets the body without our Transfer-Encoding header, so any
    // other coding — gzip, or chunked twice — would reach it applied and unannounced, a corrupt
    // object. (`identity`, from RFC 2616, means none: framed as if the header were absent.)
    const codings = te
      .split(',')
      .map((c) => c.trim().toLowerCase())
      .filter((c) => c !== 'identity');
    if (codings.length !== 1 || codings[0] !== 'chunked')
      throw protocolError(`unsupported transfer coding in ${te}`);
    framing = CHUNKED;
  } else if (cl !== undefined) {
    framing = { kind: 'length', length: contentLength(cl) };
  } else {
    framing = TO_CLOSE;
    keepAlive = false;
  }
  const keepAliveTimeoutMs = keepAlive ? keepAliveHintMs(keepAliveHeader) : undefined;
  return new ResponseHead({
    minor,
    status,
    statusMessage: m[3] ?? '',
    raw,
    framing,
    keepAlive,
    keepAliveTimeoutMs,
    contentLength: cl,
    requestId,
    hasHopByHop: hasHopByHop || connectionNamed !== undefined,
    connectionNamed,
  });
}

const NO_BODY: BodyFraming = Object.freeze({ kind: 'none' });
const CHUNKED: BodyFraming = Object.freeze({ kind: 'chunked' });
const TO_CLOSE: BodyFraming = Object.freeze({ kind: 'close' });

/** The smallest `timeout=N` of a Keep-Alive header (repeated ones are joined), ms. */
function keepAliveHintMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  let least: number | undefined;
  for (const m of value.matchAll(KEEP_ALIVE_TIMEOUT)) {
    const ms = Number(m[1]) * 1000;
    if (least === undefined || ms < least) least = ms;
  }
  return least;
}

/** One Content-Length; repeated identical values ("5, 5") are one, differing ones an error. */
function contentLength(v: string): number {
  if (DIGITS.test(v)) return Number(v); // the usual case: one value
  let out: string | undefined;
  for (const part of v.split(',')) {
    const p = part.trim();
    if (!DIGITS.test(p)) throw protocolError('bad Content-Length');
    if (out !== undefined && out !== p) throw protocolError('conflicting Content-Length');
    out = p;
  }
  return Number(out);
}

function hasToken(list: string | undefined, token: string): boolean {
  if (list === undefined) return false;
  for (const t of list.split(',')) if (t.trim() === token) return true;
  return false;
}
