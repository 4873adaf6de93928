/**
 * The sign phase's first half: builds the backend-independent upstream request from the parsed
 * target and the client's headers. Client auth is dropped here (Authorization, X-Amz-Date,
 * X-Amz-Security-Token, the client's x-amz-content-sha256), hop-by-hop headers too, and the body
 * becomes a stream in the payload mode the backend gets (see sigv4/payload.ts).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { Errors, ProxyError } from '../errors.ts';
import { BodyChunkLedger } from '../http1/release.ts';
import { canonicalQuery, encodePath, toQueryMap } from '../s3/canonical.ts';
import type { StoreProvider } from '../config/types.ts';
import {
  canonicalHeaderValue,
  canonicalHeaderValueGo,
  sortSignedHeaders,
} from '../sigv4/canonical-request.ts';
import type { S3Target } from '../s3/target.ts';
import {
  AwsChunkedDecoder,
  declaredTrailers,
  isChecksumTrailer,
  planReframe,
  type AwsChunkedDecoderOptions,
} from '../sigv4/chunked.ts';
import { STREAMING_UNSIGNED_TRAILER, UNSIGNED_PAYLOAD } from '../sigv4/payload.ts';
import type { PayloadMode } from '../sigv4/payload.ts';
import type { UpstreamRequest } from './context.ts';

/** Headers never forwarded: hop-by-hop (RFC 9110 §7.6.1), client auth, and those we recompute. */
const DROP = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'authorization',
  'x-amz-security-token',
  'x-amz-region-set', // SigV4a's part of the client's signature
  'x-amz-date',
  'x-amz-content-sha256',
  'content-length',
  'x-amz-decoded-content-length',
  'content-encoding',
  // Who the client is, as the app says: stores take the source IP of their policy conditions
  // (aws:SourceIp) and audit logs from these (MinIO: X-Forwarded-For, X-Real-IP, Forwarded), and
  // the request comes from the sidecar, not from wherever the app claims.
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-server',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
]);

/**
 * Headers Node's request parser keeps once (the first line wins in req.headers) while
 * req.rawHeaders, which is what is forwarded, keeps every line: given twice, the policy and the
 * store could read different values (a second Content-Type: multipart/form-data would turn a POST
 * into a form upload at MinIO, whose router matches any of the values). Refused. A bit each, so
 * that telling repeats needs no set per request.
 */
const SINGLE_VALUED: ReadonlyMap<string, number> = new Map(
  [
    'content-type',
    'content-md5',
    'user-agent',
    'referer',
    'if-modified-since',
    'if-unmodified-since',
    'from',
    'max-forwards',
    'expires',
  ].map((name, i) => [name, 1 << i]),
);

const KEEP_ALIVE: readonly string[] = ['keep-alive'];
const CLOSE: readonly string[] = ['close'];

/** The header names a request's Connection header lists (lower-cased), or undefined. */
function connectionTokens(req: IncomingMessage): readonly string[] | undefined {
  const connection = req.headers.connection;
  if (connection === undefined) return undefined;
  // What nearly every client sends, without a split per request.
  if (connection.length <= 10) {
    const lower = connection.toLowerCase();
    if (lower === 'keep-alive') return KEEP_ALIVE;
    if (lower === 'close') return CLOSE;
  }
  return connection
    .toLowerCase()
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

/**
 * A header the policy reads (`x-amz-*`, Content-Type, Content-MD5) that the request carries and
 * its Connection header names, if any. A proxy drops headers Connection names (RFC 9110 §7.6.1),
 * and buildUpstream does for any other (an h2c upgrade's HTTP2-Settings); these are refused
 * instead: the policy judged the request with the header (a CopyObject, by its
 * x-amz-copy-source) and the store would get it without (a plain PutObject).
 */
export function connectionNamedHeader(req: IncomingMessage): string | undefined {
  const tokens = connectionTokens(req);
  if (tokens === undefined) return undefined;
  for (const name of tokens) {
    const readByPolicy = name.startsWith('x-amz-') || name === 'content-type' || name === 'content-md5';
    if (readByPolicy && req.headers[name] !== undefined) return name;
  }
  return undefined;
}

function parseLength(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,15}$/.test(v)) throw new ProxyError(Errors.InvalidArgument, `Invalid ${name}.`);
  return Number(v);
}

/** A Content-Encoding without its aws-chunked coding, the only one undone here: any other describes the object. */
function withoutAwsChunked(encoding: string | undefined): string {
  return (encoding ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s && s.toLowerCase() !== 'aws-chunked')
    .join(',');
}

/** True for the headers SigV4 signs here: x-amz-* and Content-MD5. */
function isSigned(lowerName: string): boolean {
  return lowerName.startsWith('x-amz-') || lowerName === 'content-md5';
}

/**
 * Builds the upstream request; throws ProxyError on unusable framing headers. `reframeTrailers`
 * false: an aws-chunked body with trailers is decoded to its payload (for a body read whole and
 * sent on with withPlainBody), not re-framed.
 */
export function buildUpstream(
  req: IncomingMessage,
  target: S3Target,
  payload: PayloadMode,
  reframeTrailers = true,
  provider?: StoreProvider,
): UpstreamRequest {
  const raw = req.rawHeaders;
  const headers: string[] = [];
  const signed: Record<string, string> = Object.create(null) as Record<string, string>;
  let seen = 0; // SINGLE_VALUED bits
  // Hop-by-hop by the client's own Connection header (those the policy reads were refused).
  const named = connectionTokens(req);
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (DROP.has(lower) || named?.includes(lower)) continue;
    const bit = SINGLE_VALUED.get(lower);
    if (bit !== undefined) {
      if (seen & bit) throw new ProxyError(Errors.InvalidArgument, `Header ${name} is given more than once.`);
      seen |= bit;
    }
    if (isSigned(lower)) {
      const prev = signed[lower];
      signed[lower] = prev === undefined ? raw[i + 1]! : `${prev},${raw[i + 1]!}`;
    } else {
      headers.push(name, raw[i + 1]!);
    }
  }

  const te = req.headers['transfer-encoding'];
  const contentLength = parseLength(req.headers['content-length'], 'Content-Length');
  const hasBody = te !== undefined || (contentLength !== undefined && contentLength > 0);
  const encoding = req.headers['content-encoding'];
  let body: UpstreamRequest['body'];
  let releaseBody: UpstreamRequest['releaseBody'] = false;

  if (payload.kind === 'chunked') {
    const decodedLength = parseLength(
      req.headers['x-amz-decoded-content-length'] as string | undefined,
      'x-amz-decoded-content-length',
    );
    if (!payload.trailer && decodedLength === undefined) throw new ProxyError(Errors.MissingContentLength);
    const trailerHeader = req.headers['x-amz-trailer'] as string | undefined;
    // A body framed without trailers has none to declare: the header would go on, signed, and
    // the trailer it names would be dropped by the decoder.
    if (!payload.trailer && trailerHeader !== undefined)
      throw new ProxyError(Errors.InvalidArgument, 'x-amz-trailer needs a STREAMING-…-TRAILER payload.');
    // With trailers the backend gets aws-chunked too (it checks the checksum trailer): a client
    // body that is unsigned and has a Content-Length goes on verbatim; a signed one (without
    // its signatures) or one sent chunked is re-framed, in chunks of a fixed size whose length
    // is known when its trailers are checksums (planReframe), else sent chunked. Not every
    // store takes a PUT without a Content-Length (Ceph RGW before 2023 answers 411).
    const plan =
      payload.trailer && reframeTrailers && (payload.signed || contentLength === undefined)
        ? planReframe(decodedLength, trailerHeader)
        : undefined;
    const output: AwsChunkedDecoderOptions['output'] = !(payload.trailer && reframeTrailers)
      ? 'payload'
      : payload.signed || plan
        ? 'reframe'
        : 'verbatim';
    // The decoder's output is of the client request's own chunks: freed once written.
    const ledger = new BodyChunkLedger();
    const decoder = new AwsChunkedDecoder(req, {
      output,
      decodedLength,
      plan,
      ledger,
      inputLength: contentLength,
      trailers: payload.trailer
        ? { declared: declaredTrailers(trailerHeader), signed: payload.signed }
        : undefined,
    });
    // Its failures reach the forward phase through the backend client (onResponseError); this
    // keeps one that comes when nobody reads it any more from becoming uncaught.
    decoder.on('error', ignore);
    body = decoder;
    releaseBody = ledger;
    if (payload.trailer) {
      signed['x-amz-content-sha256'] = STREAMING_UNSIGNED_TRAILER;
      if (decodedLength !== undefined) signed['x-amz-decoded-content-length'] = String(decodedLength);
      headers.push('content-encoding', encoding ?? 'aws-chunked');
      if (output === 'verbatim' && contentLength !== undefined)
        headers.push('content-length', String(contentLength));
      if (plan) headers.push('content-length', String(plan.length));
    } else {
      signed['x-amz-content-sha256'] = UNSIGNED_PAYLOAD;
      headers.push('content-length', String(decodedLength));
      const rest = withoutAwsChunked(encoding);
      if (rest) headers.push('content-encoding', rest);
    }
  } else {
    signed['x-amz-content-sha256'] = payload.kind === 'sha256' ? payload.hash : UNSIGNED_PAYLOAD;
    if (encoding !== undefined) headers.push('content-encoding', encoding);
    if (contentLength !== undefined) headers.push('content-length', String(contentLength));
    // The client request itself: the backend client reads it with backpressure and never
    // destroys it (proxy/http1/types.ts), so an error can still be answered on its socket.
    body = hasBody ? req : undefined;
    // Its chunks are Node's fresh copies, read by nobody else: freed once written.
    releaseBody = hasBody;
  }

  const method = req.method ?? 'GET';
  // MinIO folds Unicode spaces in header values when it checks the signature (config/types.ts).
  const foldHeaderValue = provider === 'minio' ? canonicalHeaderValueGo : canonicalHeaderValue;
  // Signed headers go out with the client's bytes (x-amz-meta-* values are stored as sent); only
  // the signature sees them folded (canonicalHeaderValue).
  for (const name in signed) headers.push(name, signed[name]!);
  return {
    method,
    virtualPath: encodePath(target.bucket, target.key, true),
    canonical: {
      method,
      path: encodePath(target.bucket, target.key, false),
      // No query (GET/PUT/HEAD of an object, the hot case): nothing to convert or sort.
      query: target.query.size === 0 ? '' : canonicalQuery(toQueryMap(target.query)),
      ...sortSignedHeaders(signed, foldHeaderValue),
      payloadHash: signed['x-amz-content-sha256'],
    },
    headers,
    body,
    releaseBody,
    foldHeaderValue,
  };
}

/** Headers of an aws-chunked upstream request that describe the framing, not the payload. */
const FRAMING = new Set([
  'content-length',
  'x-amz-decoded-content-length',
  'x-amz-trailer',
  'x-amz-content-sha256',
]);

/**
 * The upstream request `up`, whose body was aws-chunked with trailers, with the whole decoded
 * `payload` as a plain body instead: checksum trailers become headers and the payload's
 * SHA-256 is signed, so the backend still verifies every byte. For small bodies a backend needs
 * whole: MinIO parses a DeleteObjects body as XML without undoing aws-chunked.
 */
export function withPlainBody(
  up: UpstreamRequest,
  payload: Buffer,
  trailers: readonly (readonly [string, string])[],
): UpstreamRequest {
  const headers: string[] = [];
  // A checksum sent both as a header and as a trailer: the trailer's, which covers the body.
  const fromTrailers = new Set<string>();
  for (const [name] of trailers) if (isChecksumTrailer(name)) fromTrailers.add(name);
  for (let i = 0; i < up.headers.length; i += 2) {
    const name = up.headers[i]!;
    const lower = name.toLowerCase();
    if (FRAMING.has(lower) || fromTrailers.has(lower)) continue;
    if (lower === 'content-encoding') {
      const rest = withoutAwsChunked(up.headers[i + 1]);
      if (rest) headers.push(name, rest);
    } else {
      headers.push(name, up.headers[i + 1]!);
    }
  }
  for (const [name, value] of trailers) if (fromTrailers.has(name)) headers.push(name, value);
  const payloadHash = createHash('sha256').update(payload).digest('hex');
  headers.push('x-amz-content-sha256', payloadHash, 'content-length', String(payload.length));
  const signed: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i < headers.length; i += 2) {
    const lower = headers[i]!.toLowerCase();
    if (isSigned(lower)) signed[lower] = headers[i + 1]!;
  }
  return {
    ...up,
    canonical: { ...up.canonical, ...sortSignedHeaders(signed, up.foldHeaderValue), payloadHash },
    headers,
    body: payload.length > 0 ? Readable.from([payload], { objectMode: false }) : undefined,
    releaseBody: false, // a buffer of ours, not the client's chunks
  };
}

function ignore(): void {}
