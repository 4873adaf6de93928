import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { BodyChunkLedger } from '../../../proxy/http1/release.ts';
import { AwsChunkedDecoder, planReframe } from '../../../proxy/sigv4/chunked.ts';
import { until } from '../../testbed/until.ts';
import { makePool, request, response, startRawServer } from './raw-server.ts';

// releaseBodyChunks: the exchange frees each body chunk once the socket has written it (the
// chunks of a client request are Node's fresh copies; left to the GC, 64 uploads kept over
// 100 MB of them alive). The bytes must still all arrive, and only whole buffers may be freed.

const POLL = { everyMs: 10 };

/** `count` chunks of `size` random bytes, each the whole of its own ArrayBuffer (as Node's are). */
function ownChunks(count: number, size: number): Buffer[] {
  return Array.from({ length: count }, () => {
    const chunk = Buffer.allocUnsafeSlow(size);
    randomBytes(size).copy(chunk);
    return chunk;
  });
}

/** `framed` cut into chunks of `size`, each copied into a buffer of its own (as Node's are). */
function clientChunks(framed: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < framed.length; i += size) {
    const piece = framed.subarray(i, i + size);
    const own = Buffer.allocUnsafeSlow(piece.length);
    piece.copy(own);
    chunks.push(own);
  }
  return chunks;
}

function sha256(parts: Buffer[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

async function upload(
  t: Parameters<typeof startRawServer>[0],
  chunks: Buffer[],
  releaseBodyChunks: boolean | BodyChunkLedger,
  opts: { body?: (source: PassThrough) => Readable; total?: number } = {},
): Promise<{ result: Error | 'end' | undefined; received: Buffer }> {
  const srv = await startRawServer(t, (c) => c.socket.write(response('stored')));
  const pool = makePool(t, srv.origin);
  const total = opts.total ?? chunks.reduce((n, c) => n + c.length, 0);
  // What the test writes into; the exchange reads `body`, which reads it (or is it).
  const source = new PassThrough({ highWaterMark: 0 });
  const body = opts.body ? opts.body(source) : source;
  let result: Error | 'end' | undefined;
  pool.dispatch(
    request({
      method: 'PUT',
      headers: ['host', 'backend', 'content-length', String(total)],
      body,
      releaseBodyChunks,
    }),
    {
      onResponseStart() {},
      onResponseData() {},
      onResponseEnd: () => (result = 'end'),
      onResponseError: (_c, err) => (result = err),
    },
  );
  for (const chunk of chunks) {
    if (!source.write(chunk)) await new Promise((resolve) => source.once('drain', resolve));
  }
  source.end();
  await until(() => result !== undefined, 'the exchange ended', POLL);
  return { result, received: srv.conns[0]!.requests[0]!.body };
}

void describe('UpstreamPool: releaseBodyChunks', () => {
  void test('every written chunk is freed, and the backend got every byte', async (t) => {
    const chunks = ownChunks(64, 64 * 1024);
    const expected = sha256(chunks);
    const { result, received } = await upload(t, chunks, true);
    assert.equal(result, 'end');
    assert.equal(createHash('sha256').update(received).digest('hex'), expected);
    await until(() => chunks.every((c) => c.buffer.byteLength === 0), 'all chunks freed', POLL);
    assert.ok(chunks.every((c) => c.length === 0));
  });

  void test('without the option the chunks stay the caller’s, untouched', async (t) => {
    const chunks = ownChunks(8, 64 * 1024);
    const expected = sha256(chunks);
    const { result } = await upload(t, chunks, false);
    assert.equal(result, 'end');
    assert.ok(chunks.every((c) => c.length === 64 * 1024 && c.buffer.byteLength === 64 * 1024));
    assert.equal(sha256(chunks), expected);
  });

  void test('a chunk that is a slice of a larger buffer is never freed', async (t) => {
    const shared = randomBytes(4 * 64 * 1024);
    const slices = [0, 1, 2, 3].map((i) => shared.subarray(i * 65536, (i + 1) * 65536));
    const whole = ownChunks(2, 65536);
    const { result, received } = await upload(t, [...slices, ...whole], true);
    assert.equal(result, 'end');
    assert.ok(received.subarray(0, shared.length).equals(shared));
    await until(() => whole.every((c) => c.buffer.byteLength === 0), 'the whole chunks freed', POLL);
    assert.equal(shared.buffer.byteLength >= shared.length, true, 'the shared buffer is still there');
    assert.ok(slices.every((s) => s.length === 65536));
  });

  void test('aws-chunked: the decoder’s views are counted, each client chunk freed after its last view', async (t) => {
    // The object in 96 KiB aws-chunked chunks, the framed body cut into 64 KiB client chunks
    // (each its own buffer, as Node's HTTP server hands them out): views straddle the cuts.
    const object = randomBytes(1024 * 1024 + 7);
    const parts: Buffer[] = [];
    for (let i = 0; i < object.length; i += 96 * 1024) {
      const data = object.subarray(i, i + 96 * 1024);
      parts.push(
        Buffer.from(`${data.length.toString(16)};chunk-signature=${'0'.repeat(64)}\r\n`),
        data,
        Buffer.from('\r\n'),
      );
    }
    parts.push(Buffer.from(`0;chunk-signature=${'0'.repeat(64)}\r\n\r\n`));
    const chunks = clientChunks(Buffer.concat(parts), 64 * 1024);
    const ledger = new BodyChunkLedger();
    const decoder = (source: PassThrough): Readable => {
      const d = new AwsChunkedDecoder(source, { output: 'payload', decodedLength: object.length, ledger });
      d.on('error', () => undefined);
      return d;
    };
    const { result, received } = await upload(t, chunks, ledger, { body: decoder, total: object.length });
    assert.equal(result, 'end');
    assert.ok(received.equals(object), 'the backend got the decoded object');
    await until(() => chunks.every((c) => c.buffer.byteLength === 0), 'every client chunk freed', POLL);
  });

  void test('aws-chunked re-framed to a plan: every client chunk freed once written', async (t) => {
    // What an SDK streams without a length: unsigned 64 KiB aws-chunked chunks with a CRC32
    // trailer, re-framed into 64 KiB chunks that do not line up with the client's.
    const object = randomBytes(40 * 64 * 1024 + 1234);
    const parts: Buffer[] = [];
    for (let i = 0; i < object.length; i += 64 * 1024) {
      const data = object.subarray(i, i + 64 * 1024);
      parts.push(Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n'));
    }
    parts.push(Buffer.from('0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n'));
    const chunks = clientChunks(Buffer.concat(parts), 61 * 1024);
    const plan = planReframe(object.length, 'x-amz-checksum-crc32')!;
    const ledger = new BodyChunkLedger();
    const decoder = (source: PassThrough): Readable => {
      const d = new AwsChunkedDecoder(source, {
        output: 'reframe',
        decodedLength: object.length,
        plan,
        ledger,
        trailers: { declared: ['x-amz-checksum-crc32'], signed: false },
      });
      d.on('error', () => undefined);
      return d;
    };
    const { result, received } = await upload(t, chunks, ledger, { body: decoder, total: plan.length });
    assert.equal(result, 'end');
    assert.equal(received.length, plan.length);
    await until(() => chunks.every((c) => c.buffer.byteLength === 0), 'every client chunk freed', POLL);
  });

  void test('a ledger frees only what it counted, and only after the last counted view', () => {
    const ledger = new BodyChunkLedger();
    const source = Buffer.allocUnsafeSlow(1000).fill(1);
    const [a, b] = [source.subarray(0, 500), source.subarray(500)];
    ledger.hold(a, source);
    ledger.hold(b, source);
    ledger.written(a);
    assert.equal(source.buffer.byteLength, 1000, 'one view is still out');
    ledger.written(b);
    assert.equal(source.buffer.byteLength, 0);

    const shared = Buffer.allocUnsafeSlow(1000);
    const slice = shared.subarray(100, 200);
    ledger.hold(slice.subarray(0, 50), slice); // the source is itself a slice: never counted
    ledger.written(slice.subarray(0, 50));
    const stranger = Buffer.allocUnsafeSlow(10);
    ledger.written(stranger); // never counted: left alone
    assert.deepEqual([shared.buffer.byteLength, stranger.buffer.byteLength], [1000, 10]);
  });
});
