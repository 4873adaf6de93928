/**
 * Parses an HTTP/1.1 response head (status line and header lines, without the final blank line)
 * and decides how its body is framed (RFC 9112 §6.3). Strict where a lenient parser would let a
 * confused backend desynchronise a reused connection: no obs-fold, no bare CR or LF, no space
 * before the colon, one Content-Length value, Transfer-Encoding only with chunked last.
 */
import { UpstreamError } from './errors.ts';

/** How the body after the head is delimited. */
export type BodyFraming =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  /** Until the backend closes the connection (no length, no chunking). */
  | { kind: 'close' };

export interface ResponseHead {
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  status: number;
  statusMessage: string;
  /** Header lines as received, flat [name, value, …] (latin1). */
  raw: string[];
  /** Lower-cased names; repeated headers joined with ", " (set-cookie: last wins, unused here). */
  headers: Record<string, string>;
  framing: BodyFraming;
  /** False when the connection cannot carry another request after this response. */
  keepAlive: boolean;
  /** `Keep-Alive: timeout=N` (RFC 2068 §19.7.1.1), ms: the backend closes an idle connection then. */
  keepAliveTimeoutMs: number | undefined;
}

// The reason phrase: HTAB, SP, VCHAR, obs-text (RFC 9112 §4) — what Node will write back out.
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, obs-text (0x80-0xff), space and tab; no other control bytes.
// eslint-disable-next-line no-control-regex -- matching control bytes is the point
const BAD_VALUE = /[\0-\x08\n-\x1f\x7f]/;
const DIGITS = /^\d{1,15}$/;
const KEEP_ALIVE_TIMEOUT = /(?:^|[\s,;])timeout\s*=\s*(\d{1,9})(?![\d])/gi;

function protocolError(message: string): UpstreamError {
  return new UpstreamError('PROTOCOL', `Invalid response from the backend: ${message}.`);
}

/**
 * `head` is the latin1 text up to (not including) the blank line; `method` is the request's
 * (a HEAD response has no body whatever its headers say).
 */
export function parseResponseHead(head: string, method: string): ResponseHead {
  const lines = head.split('\r\n');
  const m = STATUS_LINE.exec(lines[0]!);
  if (!m) throw protocolError('bad status line');
  const minor = Number(m[1]);
  const status = Number(m[2]);
  const raw: string[] = [];
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) throw protocolError('bad header line');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw protocolError('bad header name');
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE.test(value)) throw protocolError(`bad value of ${name}`);
    raw.push(name, value);
    const key = name.toLowerCase();
    const prev = headers[key];
    headers[key] = prev === undefined ? value : `${prev}, ${value}`;
  }
  const connection = headers.connection?.toLowerCase();
  let keepAlive =
    minor === 1
      ? !hasToken(connection, 'close')
      : hasToken(connection, 'keep-alive') && !hasToken(connection, 'close');
  let framing: BodyFraming;
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) {
    framing = { kind: 'none' };
  } else if (te !== undefined) {
    // A message with both is a smuggling vector: honour chunked, never reuse the connection.
    if (cl !== undefined) keepAlive = false;
    const codings = te.toLowerCase().split(',');
    if (codings[codings.length - 1]!.trim() === 'chunked') framing = { kind: 'chunked' };
    else {
      framing = { kind: 'close' };
      keepAlive = false;
    }
  } else if (cl !== undefined) {
    framing = { kind: 'length', length: contentLength(cl) };
  } else {
    framing = { kind: 'close' };
    keepAlive = false;
  }
  const keepAliveTimeoutMs = keepAlive ? keepAliveHintMs(headers['keep-alive']) : undefined;
  return { minor, status, statusMessage: m[3] ?? '', raw, headers, framing, keepAlive, keepAliveTimeoutMs };
}

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
