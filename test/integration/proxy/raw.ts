/**
 * Raw HTTP/1.1 over a socket, for requests no well-behaved client would send (malformed
 * framing, lies about lengths, Expect handshakes observed byte by byte).
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { crc32 } from 'node:zlib';

/** What came back before the server closed (or the wait ended). */
export interface RawResponse {
  status: number;
  head: string;
  body: string;
  /** Everything received, including any 100 Continue. */
  text: string;
}

/** Opens a socket to an http://host:port url. */
export function open(url: string): Promise<Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => resolve(s));
    s.once('error', reject);
  });
}

/** Reads until the socket closes or `untilText` appears, bounded by `waitMs`. */
export function readAll(s: Socket, waitMs = 10_000, untilText?: string): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const done = (): void => {
      clearTimeout(timer);
      s.off('data', onData);
      resolve(text);
    };
    const onData = (b: Buffer): void => {
      text += b.toString('latin1');
      if (untilText && text.includes(untilText)) done();
    };
    const timer = setTimeout(done, waitMs);
    s.on('data', onData);
    s.once('close', done);
    s.once('error', done);
  });
}

/** Parses the last final response in `text`. */
export function parseResponse(text: string): RawResponse {
  const finals = text.split(/(?=HTTP\/1\.1 \d{3} )/).filter((p) => !p.startsWith('HTTP/1.1 100'));
  const last = finals[finals.length - 1] ?? '';
  const [head = '', body = ''] = last.split('\r\n\r\n', 2);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body, text };
}

/**
 * Sends `data` on a fresh connection and reads the answer until the server closes (or, given
 * `untilText`, until that text arrives: a kept-alive connection does not close).
 */
export async function rawRequest(
  url: string,
  data: string | Buffer,
  waitMs = 10_000,
  untilText?: string,
): Promise<RawResponse> {
  const s = await open(url);
  s.write(data);
  const text = await readAll(s, waitMs, untilText);
  s.destroy();
  return parseResponse(text);
}

/** The S3 error code of an XML error body. */
export function s3Code(body: string): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
}

/** An aws-chunked body; `signed` adds (meaningless) chunk signatures, as a client with other keys would. */
export function awsChunked(
  data: Buffer,
  opts: { chunkSize: number; signed: boolean; trailer?: boolean },
): { body: Buffer; checksum: string } {
  const sig = (): string => (opts.signed ? `;chunk-signature=${'ab'.repeat(32)}` : '');
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += opts.chunkSize) {
    const c = data.subarray(i, i + opts.chunkSize);
    parts.push(Buffer.from(`${c.length.toString(16)}${sig()}\r\n`), c, Buffer.from('\r\n'));
  }
  const cs = Buffer.alloc(4);
  cs.writeUInt32BE(crc32(data) >>> 0);
  const checksum = cs.toString('base64');
  let end = `0${sig()}\r\n`;
  if (opts.trailer) {
    end += `x-amz-checksum-crc32:${checksum}\r\n`;
    if (opts.signed) end += `x-amz-trailer-signature:${'cd'.repeat(32)}\r\n`;
  }
  parts.push(Buffer.from(end + '\r\n'));
  return { body: Buffer.concat(parts), checksum };
}
