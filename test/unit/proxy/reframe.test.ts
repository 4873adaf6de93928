/**
 * aws-chunked uploads with checksum trailers that are signed or sent chunked are re-framed in
 * fixed chunks so they reach the backend with a Content-Length: not every store takes a PUT
 * without one (Ceph RGW before 2023 answers 411 MissingContentLength).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { request } from 'undici';
import { ProxyError } from '../../../proxy/errors.ts';
import {
  AwsChunkedDecoder,
  REFRAME_CHUNK,
  declaredTrailers,
  planReframe,
} from '../../../proxy/sigv4/chunked.ts';
import { startFake } from './fake-backend.ts';
import type { FakeStack } from './fake-backend.ts';

const SIG = `;chunk-signature=${'ab'.repeat(32)}`;

/** A signed aws-chunked body of `data` in client chunks of `chunkSize`, ending with `trailers`. */
function signedBody(data: Buffer, chunkSize: number, trailers: string[]): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunkSize) {
    const c = data.subarray(i, i + chunkSize);
    parts.push(Buffer.from(`${c.length.toString(16)}${SIG}\r\n`), c, Buffer.from('\r\n'));
  }
  const lines = [...trailers, `x-amz-trailer-signature:${'cd'.repeat(32)}`];
  parts.push(Buffer.from(`0${SIG}\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`));
  return Buffer.concat(parts);
}

/** An unsigned aws-chunked body (STREAMING-UNSIGNED-PAYLOAD-TRAILER) of `data`. */
function awsChunkedUnsigned(data: Buffer, chunkSize: number, trailers: string[]): { body: Buffer } {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunkSize) {
    const c = data.subarray(i, i + chunkSize);
    parts.push(Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`0\r\n${trailers.map((l) => `${l}\r\n`).join('')}\r\n`));
  return { body: Buffer.concat(parts) };
}

/** Parses an unsigned aws-chunked body: its data chunk sizes, payload and trailer lines. */
function parseUnsigned(body: Buffer): { sizes: number[]; payload: Buffer; trailers: string[] } {
  const sizes: number[] = [];
  const payload: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    const line = body.toString('latin1', at, eol);
    assert.match(line, /^[0-9a-f]+$/, `chunk header at ${at}`);
    const size = parseInt(line, 16);
    at = eol + 2;
    if (size === 0) break;
    sizes.push(size);
    payload.push(body.subarray(at, at + size));
    at += size;
    assert.equal(body.toString('latin1', at, at + 2), '\r\n');
    at += 2;
  }
  const rest = body.toString('latin1', at);
  assert.ok(rest.endsWith('\r\n\r\n') || rest === '\r\n', 'ends with an empty line');
  const trailers = rest === '\r\n' ? [] : rest.slice(0, -4).split('\r\n');
  return { sizes, payload: Buffer.concat(payload), trailers };
}

async function reframe(
  input: Buffer,
  decodedLength: number,
  trailerHeader: string,
  split: number,
): Promise<Buffer> {
  const plan = planReframe(decodedLength, trailerHeader);
  assert.ok(plan);
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length; i += split) parts.push(input.subarray(i, i + split));
  const out = await buffer(
    new AwsChunkedDecoder(Readable.from(parts), {
      output: 'reframe',
      decodedLength,
      plan,
      trailers: { declared: declaredTrailers(trailerHeader), signed: true },
    }),
  );
  assert.equal(out.length, plan.length, `planned length (decoded ${decodedLength}, split ${split})`);
  return out;
}

const CRC32 = 'x-amz-checksum-crc32:AAAAAA==';
const SHA256 = `x-amz-checksum-sha256:${Buffer.alloc(32, 7).toString('base64')}`;
const CRC64 = `x-amz-checksum-crc64nvme:${Buffer.alloc(8, 1).toString('base64')}`;

void describe('planReframe', () => {
  void test('the planned length is the re-framed body, for every size around a chunk boundary', async () => {
    const sizes = [
      0,
      1,
      REFRAME_CHUNK - 1,
      REFRAME_CHUNK,
      REFRAME_CHUNK + 1,
      200 * 1024 + 3,
      3 * REFRAME_CHUNK,
    ];
    for (const size of sizes) {
      const data = randomBytes(size);
      for (const clientChunk of [7_001, 50_000, REFRAME_CHUNK]) {
        const input = signedBody(data, clientChunk, [CRC32]);
        const out = await reframe(input, size, 'x-amz-checksum-crc32', 4_096);
        const parsed = parseUnsigned(out);
        assert.ok(parsed.payload.equals(data), `payload of ${size} in client chunks of ${clientChunk}`);
        assert.deepEqual(parsed.trailers, [CRC32]);
        // Every chunk but the last is REFRAME_CHUNK bytes.
        assert.ok(
          parsed.sizes.slice(0, -1).every((n) => n === REFRAME_CHUNK),
          `sizes ${parsed.sizes.join()}`,
        );
        assert.equal(parsed.sizes.length, Math.ceil(size / REFRAME_CHUNK));
      }
    }
  });

  void test('several checksum trailers go out in the order x-amz-trailer declared them', async () => {
    const data = randomBytes(70_000);
    const input = signedBody(data, 8_192, [CRC64, SHA256]);
    const out = await reframe(input, data.length, 'x-amz-checksum-sha256, X-Amz-Checksum-CRC64NVME', 1_000);
    assert.deepEqual(parseUnsigned(out).trailers, [SHA256, CRC64]);
  });

  void test('no plan (the body goes out chunked) when the length cannot be known', () => {
    assert.equal(planReframe(undefined, 'x-amz-checksum-crc32'), undefined);
    assert.equal(planReframe(10, undefined), undefined);
    assert.equal(planReframe(10, 'x-amz-meta-anything'), undefined);
    assert.equal(planReframe(10, 'x-amz-checksum-crc32,x-amz-checksum-crc32'), undefined);
    assert.equal(planReframe(10, ''), undefined);
  });

  void test('trailers other than the declared ones fail the body before its end goes out', async () => {
    const data = randomBytes(100_000);
    const cases: [string, string[]][] = [
      ['another checksum than declared', [SHA256]],
      ['a value of the wrong length', ['x-amz-checksum-crc32:AAAAAAAAAA==']],
      ['no trailer', []],
      ['one more trailer', [CRC32, SHA256]],
    ];
    for (const [what, trailers] of cases) {
      const plan = planReframe(data.length, 'x-amz-checksum-crc32')!;
      const decoder = new AwsChunkedDecoder(Readable.from([signedBody(data, 30_000, trailers)]), {
        output: 'reframe',
        decodedLength: data.length,
        plan,
        trailers: { declared: ['x-amz-checksum-crc32'], signed: true },
      });
      const emitted: Buffer[] = [];
      decoder.on('data', (c: Buffer | string) => emitted.push(Buffer.from(c)));
      await assert.rejects(buffer(decoder), ProxyError, what);
      const sent = Buffer.concat(emitted);
      assert.ok(sent.length < plan.length, `${what}: the whole planned body went out`);
      assert.ok(!sent.toString('latin1').includes('\r\n0\r\n'), `${what}: the ending went out`);
    }
  });
});

void describe('through the proxy', () => {
  let f: FakeStack;
  before(async () => {
    f = await startFake();
  });
  after(async () => {
    await f?.stop();
  });

  async function putSigned(
    key: string,
    body: Buffer,
    decodedLength: number,
    trailer: string,
  ): Promise<Buffer> {
    let received: Buffer | undefined;
    f.handle((req, res) => {
      void buffer(req).then((b) => {
        received = b;
        res.end();
      });
    });
    const r = await request(`${f.proxy.url}/fake-bucket/${key}`, {
      method: 'PUT',
      body,
      headers: {
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': String(decodedLength),
        'x-amz-trailer': trailer,
      },
    });
    await r.body.text();
    assert.equal(r.statusCode, 200);
    return received!;
  }

  void test('checksum trailers: the backend gets a Content-Length, not a chunked body', async () => {
    const data = randomBytes(300_001);
    const received = await putSigned(
      'k/planned',
      signedBody(data, 100_000, [CRC32]),
      data.length,
      'x-amz-checksum-crc32',
    );
    const seen = f.seen.at(-1)!;
    assert.equal(seen.headers['transfer-encoding'], undefined);
    assert.equal(seen.headers['content-length'], String(received.length));
    assert.equal(seen.headers['x-amz-content-sha256'], 'STREAMING-UNSIGNED-PAYLOAD-TRAILER');
    assert.equal(seen.headers['x-amz-decoded-content-length'], String(data.length));
    const parsed = parseUnsigned(received);
    assert.ok(parsed.payload.equals(data));
    assert.deepEqual(parsed.trailers, [CRC32]);
  });

  void test('an unsigned body the client sent chunked gets a Content-Length too', async () => {
    const data = randomBytes(150_000);
    let received: Buffer | undefined;
    f.handle((req, res) => {
      void buffer(req).then((b) => {
        received = b;
        res.end();
      });
    });
    const { body } = awsChunkedUnsigned(data, 40_000, [CRC32]);
    const r = await request(`${f.proxy.url}/fake-bucket/k/unsigned-chunked`, {
      method: 'PUT',
      body: Readable.from([body.subarray(0, 1000), body.subarray(1000)]), // no length: sent chunked
      headers: {
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': String(data.length),
        'x-amz-trailer': 'x-amz-checksum-crc32',
      },
    });
    await r.body.text();
    assert.equal(r.statusCode, 200);
    const seen = f.seen.at(-1)!;
    assert.equal(seen.headers['transfer-encoding'], undefined);
    assert.equal(seen.headers['content-length'], String(received!.length));
    const parsed = parseUnsigned(received!);
    assert.ok(parsed.payload.equals(data));
    assert.deepEqual(parsed.sizes, [REFRAME_CHUNK, REFRAME_CHUNK, 150_000 - 2 * REFRAME_CHUNK]);
    assert.deepEqual(parsed.trailers, [CRC32]);
  });

  void test('a trailer whose length is unknown: the body still arrives, chunked', async () => {
    const data = randomBytes(1_000);
    const received = await putSigned(
      'k/unplanned',
      signedBody(data, 500, ['x-amz-meta-note:hi']),
      data.length,
      'x-amz-meta-note',
    );
    const seen = f.seen.at(-1)!;
    assert.equal(seen.headers['transfer-encoding'], 'chunked');
    assert.equal(seen.headers['content-length'], undefined);
    const parsed = parseUnsigned(received);
    assert.ok(parsed.payload.equals(data));
    assert.deepEqual(parsed.trailers, ['x-amz-meta-note:hi']);
  });
});
