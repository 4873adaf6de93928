/**
 * Streaming decoder for aws-chunked request bodies
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html,
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html):
 *
 *   hex-size[;chunk-signature=sig]\r\n <size bytes>\r\n ... 0[;chunk-signature=sig]\r\n
 *   [trailer-name:value\r\n ...] \r\n
 *
 * Output, by `output`:
 * - 'payload': the raw object bytes, as views of the input buffers (no copies);
 * - 'reframe': the same framing without chunk signatures and without x-amz-trailer-signature: a
 *   valid STREAMING-UNSIGNED-PAYLOAD-TRAILER body the backend checks against its checksum
 *   trailer. With a {@link ReframePlan} the payload is cut into chunks of REFRAME_CHUNK bytes
 *   and the trailers must be the ones x-amz-trailer declared, so the body's length is known
 *   before it starts and it can go out with a Content-Length;
 * - 'verbatim': the input itself, each input buffer passed on whole once its bytes are checked —
 *   for a client body that is unsigned already (STREAMING-UNSIGNED-PAYLOAD-TRAILER), which the
 *   backend can take as it is. Chunk extensions are refused there (the spec has none, and they
 *   would be forwarded).
 *
 * Any framing error, or a decoded length that differs from x-amz-decoded-content-length, fails
 * the stream *before* the last byte is passed on — so the backend never receives a complete
 * body and never commits a partial object: what would complete the backend's body (the last
 * payload bytes, the re-framed ending, the input buffer that ends the framing) is held back
 * until the input has ended with nothing after the framing. A backend may act on a complete
 * aws-chunked body before its HTTP body ends (MinIO stops reading at the trailer).
 */
import { Readable } from 'node:stream';
import { Errors, ProxyError } from '../errors.ts';
import type { BodyChunkLedger } from '../http1/release.ts';

/** Options for {@link AwsChunkedDecoder}. */
export interface AwsChunkedDecoderOptions {
  /** What to emit: see the module doc. */
  output: 'payload' | 'reframe' | 'verbatim';
  /**
   * 'verbatim': the input's length (the client's Content-Length), so a body that ends before its
   * framing does fails before its last buffer goes on (the backend would have it all otherwise).
   */
  inputLength?: number | undefined;
  /** x-amz-decoded-content-length, when the client sent it. */
  decodedLength: number | undefined;
  /** 'reframe': the fixed framing {@link planReframe} computed the length of. */
  plan?: ReframePlan | undefined;
  /**
   * Counts each data view handed on, so the backend client can free an input buffer once all
   * its views are written (proxy/http1/release.ts). The decoder keeps no input buffer after
   * decoding it (partial header lines are copied into a string).
   */
  ledger?: BodyChunkLedger | undefined;
  /**
   * The trailers the body may end with: the names x-amz-trailer declared (lower-cased), each at
   * most once, and whether one x-amz-trailer-signature may come (a signed body). Undefined: none
   * at all. An undeclared trailer would otherwise reach the backend, as a trailer or as a signed
   * header (withPlainBody) overriding the header the policy judged.
   */
  trailers?: { declared: readonly string[]; signed: boolean } | undefined;
}

const HEADER = 0;
const DATA = 1;
const DATA_CR = 2;
const DATA_LF = 3;
const TRAILER = 4;
const DONE = 5;
const MAX_LINE = 4096;
const SIZE_RE = /^([0-9a-fA-F]{1,15})(;.*)?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Trailer values become header values (DeleteObjects) or are framed again: no control bytes,
// and ASCII only (the line is read as latin1; a re-framed ending is written as UTF-8).
// eslint-disable-next-line no-control-regex -- matching control bytes is the point
const BAD_VALUE = /[\0-\x08\n-\x1f\x7f-\xff]/;
/** Trailers kept per body (each line at most MAX_LINE): the SDKs send one checksum. */
const MAX_TRAILERS = 16;
const CRLF = Buffer.from('\r\n');
/**
 * Pieces one client read may make before they go out as one copied buffer instead: a body of
 * 1-byte aws-chunked chunks made a push, a backend write and 3 writes when sent chunked, per
 * byte. SDK bodies (chunks of 8 KiB and more) make a few pieces per read and go out as views.
 */
const MAX_PIECES_PER_READ = 8;

/** The data chunk size of a planned re-framing: the AWS SDKs' own. */
export const REFRAME_CHUNK = 64 * 1024;
const REFRAME_CHUNK_HEAD = `${REFRAME_CHUNK.toString(16)}\r\n`;

/** Base64 lengths of the checksum trailers S3 defines: a value of any other length is refused. */
const CHECKSUM_VALUE_LENGTH: Readonly<Record<string, number>> = {
  'x-amz-checksum-crc32': 8,
  'x-amz-checksum-crc32c': 8,
  'x-amz-checksum-crc64nvme': 12,
  'x-amz-checksum-sha1': 28,
  'x-amz-checksum-sha256': 44,
};

/** True for the checksum trailers S3 defines (x-amz-checksum-crc32, …; not -type or -mode). */
export function isChecksumTrailer(name: string): boolean {
  return CHECKSUM_VALUE_LENGTH[name] !== undefined;
}

/** x-amz-trailer's names, lower-cased. */
export function declaredTrailers(header: string | undefined): string[] {
  if (header === undefined) return [];
  return header
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter((n) => n !== '');
}

/** A re-framing whose length is known up front: the trailers expected, in order, and the length. */
export interface ReframePlan {
  readonly trailers: readonly (readonly [name: string, valueLength: number])[];
  /** The re-framed body's length in bytes. */
  readonly length: number;
}

/**
 * The re-framed body's length, when it can be known before the body: the decoded length is
 * given and every trailer x-amz-trailer declares is a checksum (whose value's length is fixed).
 * Undefined otherwise, and the body must then go out chunked. AWS S3 takes an aws-chunked body
 * sent chunked, but not every S3-compatible store takes a PUT without a Content-Length (Ceph
 * RGW before 2023 answers 411 MissingContentLength).
 */
export function planReframe(
  decodedLength: number | undefined,
  trailerHeader: string | undefined,
): ReframePlan | undefined {
  if (decodedLength === undefined || trailerHeader === undefined) return undefined;
  const trailers: [string, number][] = [];
  for (const raw of trailerHeader.split(',')) {
    const name = raw.trim().toLowerCase();
    const valueLength = CHECKSUM_VALUE_LENGTH[name];
    if (valueLength === undefined || trailers.some(([n]) => n === name)) return undefined;
    trailers.push([name, valueLength]);
  }
  const full = Math.floor(decodedLength / REFRAME_CHUNK);
  const rest = decodedLength % REFRAME_CHUNK;
  let length = full * (REFRAME_CHUNK_HEAD.length + REFRAME_CHUNK + 2);
  if (rest > 0) length += rest.toString(16).length + 2 + rest + 2;
  length += '0\r\n'.length + '\r\n'.length;
  for (const [name, valueLength] of trailers) length += name.length + 1 + valueLength + 2;
  return { trailers, length };
}

/**
 * A Readable of `source`'s aws-chunked body as raw, re-framed or checked verbatim bytes; see the
 * module doc.
 *
 * It reads `source` itself, one chunk at a time: each chunk is decoded as it arrives and handed
 * on at once, and `source` is paused whenever this stream's consumer is (or what a chunk made is
 * not all taken), and resumed when the consumer asks for more (`_read`). Not a Transform: its
 * writable half added a write request, a callback and a 'drain' per client chunk, and a pipe
 * or a guard around it to keep the client request from being read ahead while the backend
 * socket is full; here there is nothing between the client request and the backend socket.
 */
export class AwsChunkedDecoder extends Readable {
  /** Object bytes decoded so far. */
  decoded = 0;
  /** Trailers received (name lower-cased), excluding the trailer signature. */
  readonly trailers: [string, string][] = [];
  private state = HEADER;
  private remaining = 0;
  private line = '';
  private readonly reframe: boolean;
  private readonly verbatim: boolean;
  private readonly inputLength: number | undefined;
  private received = 0;
  /** Output held back until the input ended cleanly (see the module doc). */
  private readonly held: (Buffer | string)[] = [];
  private readonly decodedLength: number | undefined;
  private readonly ledger: BodyChunkLedger | undefined;
  private readonly plan: ReframePlan | undefined;
  private readonly allowedTrailers: AwsChunkedDecoderOptions['trailers'];
  private trailerSignatureSeen = false;
  /** Planned re-framing: bytes left in the output chunk being written. */
  private outLeft = 0;
  /** Planned re-framing: the last output chunk's CRLF is still to be written. */
  private crlfOwed = false;
  private readonly source: Readable;
  /** Something was pushed since the last client chunk came in. */
  private pushed = false;
  /** What decoding the client chunk in hand made, pushed at its end ({@link flushPieces}). */
  private readonly pieces: (Buffer | string)[] = [];
  /** For each of {@link pieces}: the client chunk a data view is of (for the ledger), or undefined. */
  private readonly pieceSources: (Buffer | undefined)[] = [];

  /**
   * `source`: the aws-chunked body (the client request). This stream reads it from now on and,
   * once destroyed (failed, or by its consumer), stops reading it and leaves it paused.
   */
  constructor(source: Readable, opts: AwsChunkedDecoderOptions) {
    // No buffering beyond the chunk in hand: what one client chunk made waits here only while the
    // consumer is paused, and the client request is not read meanwhile.
    super({ highWaterMark: 0 });
    this.reframe = opts.output === 'reframe';
    this.verbatim = opts.output === 'verbatim';
    this.inputLength = opts.inputLength;
    this.decodedLength = opts.decodedLength;
    this.ledger = opts.ledger;
    this.plan = this.reframe ? opts.plan : undefined;
    this.allowedTrailers = opts.trailers;
    if (this.plan && this.decodedLength === undefined)
      throw new TypeError('a re-framing plan needs decodedLength');
    this.source = source;
    source.on('data', this.onSourceData);
    source.on('end', this.onSourceEnd);
    source.on('error', this.onSourceError);
    // Closed before its end without an error: a client request that ended early ('aborted', a
    // deprecated event, comes just before).
    source.on('close', this.onSourceClose);
    // Read when the consumer asks (_read), not before: 'data' alone would start it flowing.
    source.pause();
    // Already over: none of those events will come.
    if (source.errored || source.destroyed || source.readableEnded) {
      const err = source.errored ?? new ProxyError(Errors.IncompleteBody);
      process.nextTick(() => this.destroy(err));
    }
  }

  override _read(): void {
    this.source.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const source = this.source;
    source.off('data', this.onSourceData);
    source.off('end', this.onSourceEnd);
    source.off('close', this.onSourceClose);
    // A late failure of the request has nobody to go to now.
    source.off('error', this.onSourceError);
    source.on('error', ignore);
    source.pause();
    cb(err);
  }

  override push(chunk: Buffer | string | null): boolean {
    this.pushed = true;
    return super.push(chunk);
  }

  private readonly onSourceData = (chunk: Buffer): void => {
    if (this.destroyed) return;
    this.pushed = false;
    const err = this.decode(chunk);
    if (err) {
      this.pieces.length = 0;
      this.pieceSources.length = 0;
      this.destroy(err);
      return;
    }
    this.flushPieces();
    // The consumer paused (its socket is full) or left some of this chunk's output unread:
    // the client request waits, rather than buffer its next chunk behind this one. Not when
    // the chunk made nothing (a part of a chunk header): the consumer's read is still
    // outstanding, and _read is not called again until something is pushed.
    if (this.pushed && (this.readableFlowing !== true || this.readableLength > 0)) this.source.pause();
  };

  private readonly onSourceEnd = (): void => {
    if (this.destroyed) return;
    if (this.state !== DONE) {
      this.destroy(new ProxyError(Errors.IncompleteBody, 'The aws-chunked body ended early.'));
      return;
    }
    for (const out of this.held) this.push(out);
    this.held.length = 0;
    this.push(null);
  };

  private readonly onSourceError = (err: Error): void => {
    this.destroy(err);
  };

  private readonly onSourceClose = (): void => {
    if (!this.source.readableEnded) this.destroy(new ProxyError(Errors.IncompleteBody));
  };

  private fail(msg: string): ProxyError {
    return new ProxyError(Errors.MalformedChunkedEncoding, `Malformed aws-chunked body: ${msg}.`);
  }

  /** Consumes one complete header/trailer line; returns an error or undefined. */
  private onLine(line: string): ProxyError | undefined {
    if (this.state === HEADER) {
      const m = SIZE_RE.exec(line);
      if (!m) return this.fail('bad chunk header');
      if (this.verbatim && m[2] !== undefined) return this.fail('chunk extension in an unsigned body');
      const size = parseInt(m[1]!, 16);
      if (this.decodedLength !== undefined && this.decoded + size > this.decodedLength) {
        return new ProxyError(Errors.IncompleteBody, 'The body is longer than x-amz-decoded-content-length.');
      }
      if (size === 0) {
        this.state = TRAILER;
        return undefined;
      }
      if (this.reframe && !this.plan) this.piece(`${size.toString(16)}\r\n`, undefined);
      this.remaining = size;
      this.state = DATA;
      return undefined;
    }
    // TRAILER
    if (line === '') {
      if (this.decodedLength !== undefined && this.decoded !== this.decodedLength) {
        return new ProxyError(
          Errors.IncompleteBody,
          'The body is shorter than x-amz-decoded-content-length.',
        );
      }
      if (this.plan) {
        const err = this.checkPlannedTrailers(this.plan);
        if (err) return err;
      }
      if (this.reframe) {
        let end = '0\r\n';
        for (const [k, v] of this.trailers) end += `${k}:${v}\r\n`;
        this.held.push((this.crlfOwed ? '\r\n' : '') + end + '\r\n');
      }
      this.state = DONE;
      return undefined;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) return this.fail('bad trailer line');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (!TOKEN.test(name) || BAD_VALUE.test(value)) return this.fail('bad trailer line');
    const allowed = this.allowedTrailers;
    if (name === 'x-amz-trailer-signature') {
      if (!allowed?.signed || this.trailerSignatureSeen) return this.fail('unexpected trailer signature');
      this.trailerSignatureSeen = true;
      return undefined;
    }
    if (!allowed?.declared.includes(name)) return this.fail(`trailer ${name} not declared in x-amz-trailer`);
    if (this.trailers.some(([n]) => n === name)) return this.fail(`trailer ${name} given twice`);
    if (this.trailers.length === MAX_TRAILERS) return this.fail('too many trailers');
    this.trailers.push([name, value]);
    return undefined;
  }

  /** The trailers received are the planned ones (the length sent depends on it), put in its order. */
  private checkPlannedTrailers(plan: ReframePlan): ProxyError | undefined {
    if (this.trailers.length !== plan.trailers.length)
      return this.fail('the trailers differ from those x-amz-trailer declared');
    const ordered: [string, string][] = [];
    for (const [name, valueLength] of plan.trailers) {
      const got = this.trailers.find(([n]) => n === name);
      if (!got) return this.fail(`no ${name} trailer, which x-amz-trailer declared`);
      if (got[1].length !== valueLength)
        return this.fail(`the ${name} trailer is not a checksum of its length`);
      ordered.push(got);
    }
    this.trailers.splice(0, this.trailers.length, ...ordered);
    return undefined;
  }

  /** Planned re-framing: `view` goes out in chunks of REFRAME_CHUNK bytes, framed here. */
  private pushPlanned(view: Buffer, source: Buffer): void {
    let at = 0;
    while (at < view.length) {
      if (this.outLeft === 0) {
        // Bytes of this chunk: all that is left of the payload, up to REFRAME_CHUNK.
        const size = Math.min(REFRAME_CHUNK, this.decodedLength! - this.decoded + (view.length - at));
        const head = size === REFRAME_CHUNK ? REFRAME_CHUNK_HEAD : `${size.toString(16)}\r\n`;
        this.piece(this.crlfOwed ? `\r\n${head}` : head, undefined);
        this.crlfOwed = false;
        this.outLeft = size;
      }
      const n = Math.min(this.outLeft, view.length - at);
      const part = at === 0 && n === view.length ? view : view.subarray(at, at + n);
      this.piece(part, source);
      at += n;
      this.outLeft -= n;
      // The chunk's CRLF goes out with what follows it (the next head, or the ending): one
      // write fewer per chunk.
      if (this.outLeft === 0) this.crlfOwed = true;
    }
  }

  /** Queues `p` (a view of `source`, or framing of ours) to go out once the client chunk is decoded. */
  private piece(p: Buffer | string, source: Buffer | undefined): void {
    this.pieces.push(p);
    this.pieceSources.push(source);
  }

  /** Hands on what the client chunk made: as it is, or as one copy when it is many small pieces. */
  private flushPieces(): void {
    const { pieces, pieceSources } = this;
    if (pieces.length <= MAX_PIECES_PER_READ) {
      // All counted before any goes out: a piece written (and its chunk freed) before the next
      // view of the same chunk was counted would free that one's memory too.
      for (let k = 0; k < pieces.length; k++) {
        const source = pieceSources[k];
        if (source) this.ledger?.hold(pieces[k] as Buffer, source);
      }
      for (let k = 0; k < pieces.length; k++) this.push(pieces[k]!);
    } else {
      // A copy of our own, not counted: the client chunk is left to the GC.
      this.push(Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p))));
    }
    pieces.length = 0;
    pieceSources.length = 0;
  }

  /** Decodes one chunk of the body and queues what it makes; returns an error or undefined. */
  private decode(chunk: Buffer): ProxyError | undefined {
    let i = 0;
    const len = chunk.length;
    while (i < len) {
      const s = this.state;
      if (s === DATA) {
        const n = Math.min(this.remaining, len - i);
        this.remaining -= n;
        this.decoded += n;
        if (this.plan) {
          this.pushPlanned(i === 0 && n === len ? chunk : chunk.subarray(i, i + n), chunk);
        } else if (!this.verbatim) {
          const view = i === 0 && n === len ? chunk : chunk.subarray(i, i + n);
          // The payload's last bytes complete the backend's Content-Length: held back.
          if (!this.reframe && this.decoded === this.decodedLength) {
            this.ledger?.hold(view, chunk); // counted now: its chunk must outlive it
            this.held.push(view);
          } else this.piece(view, chunk);
        }
        i += n;
        if (this.remaining === 0) this.state = DATA_CR;
      } else if (s === DATA_CR || s === DATA_LF) {
        if (chunk[i] !== (s === DATA_CR ? 13 : 10)) return this.fail('chunk data not followed by CRLF');
        i++;
        if (s === DATA_LF) {
          if (this.reframe && !this.plan) this.piece(CRLF, undefined);
          this.state = HEADER;
        } else this.state = DATA_LF;
      } else if (s === HEADER || s === TRAILER) {
        const nl = chunk.indexOf(10, i);
        const end = nl === -1 ? len : nl;
        if (this.line.length + (end - i) > MAX_LINE) return this.fail('header line too long');
        this.line += chunk.toString('latin1', i, end);
        i = end;
        if (nl === -1) break;
        i++;
        const line = this.line;
        this.line = '';
        if (!line.endsWith('\r')) return this.fail('line not terminated by CRLF');
        const err = this.onLine(line.slice(0, -1));
        if (err) return err;
      } else {
        return new ProxyError(Errors.IncompleteBody, 'Bytes after the end of the aws-chunked body.');
      }
    }
    // Verbatim: the whole buffer, every byte of it checked (an error above kept it back); the
    // one that ends the framing is held back.
    if (this.verbatim) {
      this.received += len;
      if (this.received === this.inputLength && this.state !== DONE) {
        return new ProxyError(Errors.IncompleteBody, 'The aws-chunked body ended early.');
      }
      if (this.state === DONE) {
        this.ledger?.hold(chunk, chunk);
        this.held.push(chunk);
      } else this.piece(chunk, chunk);
    }
    return undefined;
  }
}

function ignore(): void {}
