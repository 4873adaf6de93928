/**
 * Incremental decoder of a chunked response body (RFC 9112 §7.1). Payload bytes are handed out
 * as views of the input (no copy); the framing (size lines, extensions, CRLFs, trailers) is
 * consumed byte by byte, so it may split anywhere across reads. Trailers are read and dropped:
 * S3 backends send none, and the client gets its own chunked framing from Node's server.
 */
import { UpstreamError } from './errors.ts';

// Decoder states (plain constants: type stripping allows no enums).
const SIZE = 0;
const EXTENSION = 1;
const SIZE_LF = 2;
const DATA = 3;
const DATA_CR = 4;
const DATA_LF = 5;
const TRAILER_LINE = 6;
const TRAILER_LF = 7;

/** Longest chunk-size line (hex digits plus extensions) or trailer line accepted. */
const MAX_LINE = 4096;
/** A chunk size above 2^53 cannot be counted exactly; 13 hex digits is far beyond any object. */
const MAX_SIZE_DIGITS = 13;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

function framingError(what: string): UpstreamError {
  return new UpstreamError('PROTOCOL', `Invalid chunked body from the backend: ${what}.`);
}

export class ChunkedDecoder {
  private state = SIZE;
  private digits = 0;
  private remaining = 0;
  private lineLength = 0;

  /**
   * Decodes `buf[start, end)`, calling `onData` with each payload view. Returns the index just
   * past the body's end if it ended in this slice, else -1 (more input needed). Throws
   * UpstreamError on bad framing.
   */
  decode(buf: Buffer, start: number, end: number, onData: (b: Buffer) => void): number {
    let i = start;
    while (i < end) {
      switch (this.state) {
        case DATA: {
          const n = Math.min(this.remaining, end - i);
          onData(buf.subarray(i, i + n));
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = DATA_CR;
          break;
        }
        case SIZE: {
          const c = buf[i++]!;
          const v = hexValue(c);
          if (v >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) throw framingError('chunk size too large');
            this.remaining = this.remaining * 16 + v;
          } else if (this.digits === 0) {
            throw framingError('missing chunk size');
          } else if (c === 0x0d) {
            this.state = SIZE_LF;
          } else if (c === 0x3b || c === 0x20 || c === 0x09) {
            this.state = EXTENSION;
            this.lineLength = this.digits + 1;
          } else {
            throw framingError('bad chunk size');
          }
          break;
        }
        case EXTENSION: {
          const c = buf[i++]!;
          if (c === 0x0d) this.state = SIZE_LF;
          else if (c === 0x0a || c === 0) throw framingError('bad chunk extension');
          else if (++this.lineLength > MAX_LINE) throw framingError('chunk extension too long');
          break;
        }
        case SIZE_LF: {
          if (buf[i++] !== 0x0a) throw framingError('expected LF after chunk size');
          this.digits = 0;
          if (this.remaining === 0) {
            this.state = TRAILER_LINE;
            this.lineLength = 0;
          } else {
            this.state = DATA;
          }
          break;
        }
        case DATA_CR: {
          if (buf[i++] !== 0x0d) throw framingError('expected CRLF after chunk data');
          this.state = DATA_LF;
          break;
        }
        case DATA_LF: {
          if (buf[i++] !== 0x0a) throw framingError('expected CRLF after chunk data');
          this.state = SIZE;
          break;
        }
        case TRAILER_LINE: {
          const c = buf[i++]!;
          if (c === 0x0d) this.state = TRAILER_LF;
          else if (c === 0x0a || c === 0) throw framingError('bad trailer');
          else if (++this.lineLength > MAX_LINE) throw framingError('trailer too long');
          break;
        }
        case TRAILER_LF: {
          if (buf[i++] !== 0x0a) throw framingError('expected LF in trailers');
          if (this.lineLength === 0) {
            this.state = SIZE;
            return i;
          }
          this.lineLength = 0;
          this.state = TRAILER_LINE;
          break;
        }
      }
    }
    return -1;
  }
}
