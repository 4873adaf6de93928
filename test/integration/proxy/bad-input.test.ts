/**
 * Bad input: each gets a clear S3 XML error, the proxy keeps serving, and nothing partial is
 * left at the backend (checked directly on MinIO). Also the Expect: 100-continue handshake,
 * observed byte by byte.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { awsChunked, open, parseResponse, rawRequest, readAll, s3Code } from './raw.ts';
import { startStack } from './stack.ts';
import type { Stack } from './stack.ts';

const B = 'bad-input';
let s: Stack;

before(async () => {
  s = await startStack({
    buckets: [B],
    config: { timeouts: { clientIdleMs: 1500 }, limits: { maxHeaderBytes: 8192 } },
  });
  await s.client().send(new CreateBucketCommand({ Bucket: B }));
});
after(async () => {
  await s?.stop();
});

/**
 * True when MinIO (asked directly) has neither an object nor an unfinished multipart upload under
 * `key`: nothing partial was left.
 */
async function absent(key: string): Promise<boolean> {
  const uploads = await s.direct().send(new ListMultipartUploadsCommand({ Bucket: B, Prefix: key }));
  assert.deepEqual(uploads.Uploads ?? [], [], `an upload was left under ${key}`);
  try {
    await s.direct().send(new HeadObjectCommand({ Bucket: B, Key: key }));
    return false;
  } catch (err) {
    return (err as Error).name === 'NotFound';
  }
}

/** Asserts the object is at MinIO, asked directly (a HeadObject failing for any reason fails). */
async function stored(key: string): Promise<void> {
  await s.direct().send(new HeadObjectCommand({ Bucket: B, Key: key }));
}

/** Every key in the bucket, asked directly. */
async function keys(): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await s.direct().send(new ListObjectsV2Command({ Bucket: B, ContinuationToken: token }));
    for (const o of page.Contents ?? []) out.push(o.Key!);
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

async function stillServes(): Promise<void> {
  const r = await rawRequest(
    s.proxy.url,
    `GET /${B}?list-type=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
  );
  assert.equal(r.status, 200);
}

function chunkedPut(
  key: string,
  body: Buffer,
  decodedLength: number,
  mode = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
): Buffer {
  const head =
    `PUT /${B}/${key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\n` +
    `x-amz-content-sha256: ${mode}\r\nContent-Encoding: aws-chunked\r\n` +
    `x-amz-decoded-content-length: ${decodedLength}\r\n` +
    // Only a payload mode with trailers declares one (a trailer header on another is refused).
    (mode.endsWith('-TRAILER') ? 'x-amz-trailer: x-amz-checksum-crc32\r\n' : '') +
    '\r\n';
  return Buffer.concat([Buffer.from(head), body]);
}

void describe('malformed HTTP', () => {
  void test('garbage request line → 400 BadRequest XML', async () => {
    const r = await rawRequest(s.proxy.url, 'THIS IS NOT HTTP\r\n\r\n');
    assert.equal(r.status, 400);
    assert.equal(s3Code(r.body), 'BadRequest');
    assert.match(r.head, /x-amz-request-id: [0-9A-F]{16}/);
    await stillServes();
  });
  void test('oversized headers → 400 RequestHeaderSectionTooLarge', async () => {
    // Past limits.maxHeaderBytes (8 KiB here) and under Node's own default (16 KiB): the
    // configured limit is the one answering.
    const r = await rawRequest(
      s.proxy.url,
      `GET /${B}/k HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`,
    );
    assert.equal(r.status, 400);
    assert.equal(s3Code(r.body), 'RequestHeaderSectionTooLarge');
    await stillServes();
  });
  void test('unsupported method → 501 NotImplemented', async () => {
    const r = await rawRequest(s.proxy.url, `PATCH /${B}/k HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(r.status, 501);
    assert.equal(s3Code(r.body), 'NotImplemented');
    await stillServes();
  });
  // Node answers these three itself unless told otherwise: a bare 400, a bare 417, a closed
  // connection — no S3 error, no request id.
  void test('CONNECT → 501 NotImplemented XML with a request id', async () => {
    const r = await rawRequest(s.proxy.url, 'CONNECT store:443 HTTP/1.1\r\nHost: store:443\r\n\r\n');
    assert.equal(r.status, 501);
    assert.equal(s3Code(r.body), 'NotImplemented');
    assert.match(r.body, /CONNECT is not supported/);
    assert.match(r.head, /x-amz-request-id: [0-9A-F]{16}/);
    await stillServes();
  });
  void test('HTTP/1.1 without Host → 400 BadRequest XML; HTTP/1.0 without Host is served', async () => {
    const r = await rawRequest(s.proxy.url, `GET /${B}?list-type=2 HTTP/1.1\r\nConnection: close\r\n\r\n`);
    assert.equal(r.status, 400);
    assert.equal(s3Code(r.body), 'BadRequest');
    assert.match(r.body, /must carry a Host header/);
    assert.match(r.head, /x-amz-request-id: [0-9A-F]{16}/);
    const old = await rawRequest(s.proxy.url, `GET /${B}?list-type=2 HTTP/1.0\r\n\r\n`);
    assert.equal(old.status, 200);
  });
  void test('an Expect other than 100-continue → 417 ExpectationFailed XML, nothing stored', async () => {
    const r = await rawRequest(
      s.proxy.url,
      `PUT /${B}/expect-foo HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`,
    );
    assert.equal(r.status, 417);
    assert.equal(s3Code(r.body), 'ExpectationFailed');
    assert.match(r.head, /x-amz-request-id: [0-9A-F]{16}/);
    assert.ok(await absent('expect-foo'));
    await stillServes();
  });
  void test('Expect as Node reads it: 100-continue within a list is one; HTTP/1.0 ignores Expect', async () => {
    const sock = await open(s.proxy.url);
    sock.write(
      `PUT /${B}/expect-twice HTTP/1.1\r\nHost: x\r\nExpect: 100-continue, 100-continue\r\n` +
        'Content-Length: 3\r\nConnection: close\r\n\r\n',
    );
    assert.match(await readAll(sock, 10_000, '\r\n\r\n'), /^HTTP\/1\.1 100 Continue/);
    sock.write('abc');
    const twice = parseResponse(await readAll(sock, 10_000));
    sock.destroy();
    assert.equal(twice.status, 200, twice.text);
    await stored('expect-twice');
    const old = await rawRequest(
      s.proxy.url,
      `PUT /${B}/expect-old HTTP/1.0\r\nHost: x\r\nExpect: foo\r\nContent-Length: 3\r\n\r\nabc`,
    );
    assert.equal(old.status, 200, old.text);
    await stored('expect-old');
  });
  void test('a CONNECT whose client resets at once: the proxy keeps serving', async () => {
    for (let i = 0; i < 5; i++) {
      const c = await open(s.proxy.url);
      c.write('CONNECT store:443 HTTP/1.1\r\nHost: store:443\r\n\r\n');
      c.resetAndDestroy();
    }
    await new Promise((r) => setTimeout(r, 200));
    await stillServes();
  });
  void test('a key with a character XML cannot carry: the error document still parses', async () => {
    const r = await rawRequest(
      s.proxy.url,
      `GET /no-grant-bucket/a%01b%EF%BF%BE HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(r.status, 403);
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(r.body, /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/);
    assert.match(r.body, /<Resource>\/no-grant-bucket\/a%01b%EF%BF%BE<\/Resource>/);
  });
});

void describe('targets that cannot be represented unambiguously', () => {
  const cases: [string, string, number][] = [
    ['/Bad_Bucket/k', 'InvalidBucketName', 400],
    ['/ab/k', 'InvalidBucketName', 400],
    [`/${B}/a/../b`, 'InvalidURI', 400],
    [`/${B}/a/%2E%2E/b`, 'InvalidURI', 400],
    [`/${B}/./b`, 'InvalidURI', 400],
    [`/${B}/a%2Fb`, 'InvalidURI', 400],
    [`/${B}%2Fx/k`, 'InvalidBucketName', 400],
    [`/${B}/a//b`, 'InvalidURI', 400],
    [`/${B}/%ZZ`, 'InvalidURI', 400],
    [`http://elsewhere.example/${B}/k`, 'InvalidURI', 400],
  ];
  for (const [target, code, status] of cases) {
    void test(`${target} → ${status} ${code}, nothing written anywhere in the bucket`, async () => {
      const before = await keys();
      const r = await rawRequest(
        s.proxy.url,
        `PUT ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`,
      );
      assert.equal(r.status, status, r.text);
      assert.equal(s3Code(r.body), code);
      assert.deepEqual(await keys(), before);
      await stillServes();
    });
  }
});

void describe('aws-chunked framing and lengths', () => {
  const data = randomBytes(100_000);
  void test('broken chunk header → 400, nothing stored', async () => {
    const { body } = awsChunked(data, { chunkSize: 30_000, signed: false, trailer: true });
    const broken = Buffer.from(body.toString('latin1').replace(/^7530/, 'zz30'), 'latin1');
    const r = await rawRequest(s.proxy.url, chunkedPut('c/broken', broken, data.length));
    assert.equal(r.status, 400, r.text);
    assert.equal(s3Code(r.body), 'InvalidChunkSizeError', r.text);
    assert.ok(await absent('c/broken'));
    await stillServes();
  });
  void test('chunk data not followed by CRLF → 400, nothing stored', async () => {
    const { body } = awsChunked(data, { chunkSize: 30_000, signed: true });
    const broken = Buffer.from(body.toString('latin1').replace('\r\n7530', 'XX7530'), 'latin1');
    const r = await rawRequest(
      s.proxy.url,
      chunkedPut('c/nocrlf', broken, data.length, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'),
    );
    assert.equal(r.status, 400, r.text);
    assert.equal(s3Code(r.body), 'InvalidChunkSizeError', r.text);
    assert.ok(await absent('c/nocrlf'));
    await stillServes();
  });
  void test('decoded body longer than x-amz-decoded-content-length → 400 IncompleteBody', async () => {
    const { body } = awsChunked(data, { chunkSize: 30_000, signed: false, trailer: true });
    const r = await rawRequest(s.proxy.url, chunkedPut('c/longer', body, data.length - 10));
    assert.equal(r.status, 400, r.text);
    assert.equal(s3Code(r.body), 'IncompleteBody');
    assert.ok(await absent('c/longer'));
    await stillServes();
  });
  void test('decoded body shorter than x-amz-decoded-content-length → 400 IncompleteBody', async () => {
    const { body } = awsChunked(data, { chunkSize: 30_000, signed: true });
    const r = await rawRequest(
      s.proxy.url,
      chunkedPut('c/shorter', body, data.length + 10, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'),
    );
    assert.equal(r.status, 400, r.text);
    assert.equal(s3Code(r.body), 'IncompleteBody');
    assert.ok(await absent('c/shorter'));
    await stillServes();
  });
  void test('sent chunked (as the JS SDK streams), aws-chunked framing that stops short → 400, nothing stored', async () => {
    const { body } = awsChunked(data, { chunkSize: 30_000, signed: false, trailer: true });
    // Every data chunk, but not the last chunk and its trailer: the HTTP body itself ends cleanly.
    const cut = body.subarray(0, body.indexOf('\r\n0\r\n', 0, 'latin1') + 2);
    const head =
      `PUT /${B}/c/te-short HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n` +
      `x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\nContent-Encoding: aws-chunked\r\n` +
      `x-amz-decoded-content-length: ${data.length}\r\nx-amz-trailer: x-amz-checksum-crc32\r\n\r\n`;
    const http = Buffer.concat([
      Buffer.from(head),
      Buffer.from(`${cut.length.toString(16)}\r\n`),
      cut,
      Buffer.from('\r\n0\r\n\r\n'),
    ]);
    const r = await rawRequest(s.proxy.url, http);
    assert.equal(r.status, 400, r.text);
    assert.equal(s3Code(r.body), 'IncompleteBody');
    assert.ok(await absent('c/te-short'));
    await stillServes();
  });
  void test('plain body shorter than Content-Length, client stalls → 400 RequestTimeout, nothing stored', async () => {
    const r = await rawRequest(
      s.proxy.url,
      `PUT /${B}/c/stalled HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n${'a'.repeat(400)}`,
    );
    assert.equal(r.status, 400, r.text);
    assert.equal(s3Code(r.body), 'RequestTimeout');
    assert.ok(await absent('c/stalled'));
    await stillServes();
  });
  // DeleteObjects bodies are read whole before the forward phase (to check their keys against
  // the policy): a client stalling there gets the same RequestTimeout as a stalled upload.
  for (const framing of ['plain', 'aws-chunked'] as const) {
    void test(`DeleteObjects, ${framing} body cut short, client stalls → 400 RequestTimeout, nothing deleted`, async () => {
      await s.direct().send(new PutObjectCommand({ Bucket: B, Key: `c/keep-${framing}`, Body: 'x' }));
      const xml = `<Delete><Object><Key>c/keep-${framing}</Key></Object></Delete>`;
      const head =
        framing === 'plain'
          ? `Content-Length: ${xml.length}\r\n`
          : `Content-Length: 500\r\nx-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n` +
            `Content-Encoding: aws-chunked\r\nx-amz-decoded-content-length: ${xml.length}\r\n` +
            `x-amz-trailer: x-amz-checksum-crc32\r\n`;
      const partial =
        framing === 'plain' ? xml.slice(0, 20) : `${xml.length.toString(16)}\r\n${xml.slice(0, 20)}`;
      const r = await rawRequest(
        s.proxy.url,
        `POST /${B}?delete HTTP/1.1\r\nHost: x\r\n${head}\r\n${partial}`,
      );
      assert.equal(r.status, 400, r.text);
      assert.equal(s3Code(r.body), 'RequestTimeout');
      assert.match(r.head, /^connection: close\r?$/im);
      await stored(`c/keep-${framing}`);
      await stillServes();
    });
  }
  void test('plain body shorter than Content-Length, client hangs up → nothing stored', async () => {
    const sock = await open(s.proxy.url);
    sock.write(`PUT /${B}/c/hungup HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'a'.repeat(5000)}`);
    await new Promise((r) => setTimeout(r, 200));
    sock.destroy();
    await stillServes();
    assert.ok(await absent('c/hungup'));
  });
  void test('plain body longer than Content-Length → the extra bytes are a malformed next request: 400 XML', async () => {
    const r = await rawRequest(
      s.proxy.url,
      `PUT /${B}/c/extra HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGARBAGE GARBAGE\r\n\r\n`,
    );
    // The PUT of its three bytes is answered first, then the garbage after them.
    const statuses = [...r.text.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => m[1]);
    assert.deepEqual(statuses, ['200', '400'], r.text);
    assert.equal(r.status, 400, r.text);
    assert.equal(s3Code(r.body), 'BadRequest');
    const got = await s.direct().send(new GetObjectCommand({ Bucket: B, Key: 'c/extra' }));
    assert.equal(await got.Body!.transformToString(), 'abc');
    await stillServes();
  });
});

void describe('Expect: 100-continue', () => {
  void test('a denied upload is refused before 100 Continue, without reading the body', async () => {
    const sock = await open(s.proxy.url);
    sock.write(
      'PUT /not-granted/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\nExpect: 100-continue\r\n\r\n',
    );
    const r = parseResponse(await readAll(sock, 10_000));
    sock.destroy();
    assert.equal(r.status, 403);
    assert.equal(s3Code(r.body), 'AccessDenied');
    assert.ok(!r.text.includes('100 Continue'));
  });
  void test('an allowed upload gets 100 Continue, then its body is forwarded', async () => {
    const sock = await open(s.proxy.url);
    sock.write(
      `PUT /${B}/e/continued HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
    );
    const first = await readAll(sock, 10_000, '\r\n\r\n');
    assert.match(first, /^HTTP\/1\.1 100 Continue/);
    sock.write('hello');
    const r = parseResponse(await readAll(sock, 10_000));
    sock.destroy();
    assert.equal(r.status, 200, r.text);
    assert.ok(!(await absent('e/continued')));
  });
});
