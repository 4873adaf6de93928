import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  LARGE_READ_BUFFERS,
  READ_BUFFER_BYTES,
  SMALL_ANSWER_READ_BYTES,
  SMALL_READ_BUFFER_BYTES,
  largeReadBuffers,
  readBufferBytes,
} from '../../../proxy/http1/connection.ts';
import { until } from '../../testbed/until.ts';
import type { UpstreamController } from '../../../proxy/http1/types.ts';
import { makePool, request, response, startRawServer } from './raw-server.ts';

// Read buffers: a connection reads SMALL_ANSWER_READ_BYTES at a time until a read fills them;
// then, the first LARGE_READ_BUFFERS such connections of the process read 256 KiB at a time,
// later ones 128 KiB (the memory of 64 concurrent large transfers); a destroyed connection gives
// its large buffer's place back.

const POLL = { everyMs: 10 };

void describe('UpstreamConnection: read buffer budget', () => {
  void test('beyond the budget, connections read at most SMALL_READ_BUFFER_BYTES at a time', async (t) => {
    const body = randomBytes(1024 * 1024);
    const srv = await startRawServer(t, (c) => c.socket.write(response(body)));
    const pool = makePool(t, srv.origin);
    const exchanges = LARGE_READ_BUFFERS + 8;
    const bytesBefore = readBufferBytes();
    const largest: number[] = [];
    const received: number[] = [];
    let ended = 0;
    // The responses are held until every connection is open, so all of them exist at once.
    const hold: (() => void)[] = [];
    srv.respond = (c) => hold.push(() => c.socket.write(response(body)));
    for (let i = 0; i < exchanges; i++) {
      largest.push(0);
      received.push(0);
      pool.dispatch(request(), {
        onResponseStart() {},
        onResponseData(_c, chunk) {
          largest[i] = Math.max(largest[i]!, chunk.length);
          received[i]! += chunk.length;
        },
        onResponseEnd: () => ended++,
        onResponseError: (_c, err) => assert.fail(err),
      });
    }
    await until(() => hold.length === exchanges, 'every request reached the server', POLL);
    assert.equal(largeReadBuffers(), 0, 'no connection has streamed a body yet');
    for (const send of hold) send();
    await until(() => ended === exchanges, 'every response ended', POLL);
    assert.equal(largeReadBuffers(), LARGE_READ_BUFFERS);
    assert.equal(
      readBufferBytes() - bytesBefore,
      LARGE_READ_BUFFERS * READ_BUFFER_BYTES + (exchanges - LARGE_READ_BUFFERS) * SMALL_READ_BUFFER_BYTES,
      'every connection grew: the first ones to the large size, the rest to the small one',
    );
    assert.deepEqual(received, Array(exchanges).fill(body.length));
    assert.ok(largest.every((n) => n <= READ_BUFFER_BYTES));
    const large = largest.filter((n) => n > SMALL_READ_BUFFER_BYTES).length;
    assert.ok(large <= LARGE_READ_BUFFERS, `${large} connections read more than the small buffer at once`);
    await pool.destroy();
    assert.equal(largeReadBuffers(), 0, 'destroyed connections give their places back');
  });
});

void describe('UpstreamConnection: a read buffer grows only for streamed bodies', () => {
  void test('answers that fit the first buffer leave it as it is; a larger body grows it once', async (t) => {
    const small = randomBytes(SMALL_ANSWER_READ_BYTES / 4);
    const large = randomBytes(1024 * 1024);
    let next = small;
    const srv = await startRawServer(t, (c) => c.socket.write(response(next)));
    const pool = makePool(t, srv.origin);
    const get = async (): Promise<{ body: Buffer; largest: number }> => {
      const chunks: Buffer[] = [];
      let largest = 0;
      await new Promise<void>((resolve, reject) => {
        pool.dispatch(request(), {
          onResponseStart() {},
          onResponseData(_c, chunk) {
            chunks.push(Buffer.from(chunk));
            largest = Math.max(largest, chunk.length);
          },
          onResponseEnd: () => resolve(),
          onResponseError: (_c, err) => reject(err),
        });
      });
      return { body: Buffer.concat(chunks), largest };
    };
    const before = readBufferBytes();
    const largeBefore = largeReadBuffers();
    for (let i = 0; i < 3; i++) assert.deepEqual((await get()).body, small);
    assert.equal(srv.conns.length, 1, 'one kept-alive connection');
    assert.equal(readBufferBytes() - before, SMALL_ANSWER_READ_BYTES, 'only the first buffer');
    assert.equal(largeReadBuffers(), largeBefore);
    next = large;
    const first = await get();
    assert.deepEqual(first.body, large, 'whole across the growth');
    assert.ok(first.largest > SMALL_ANSWER_READ_BYTES, `largest chunk ${first.largest}`);
    assert.equal(largeReadBuffers(), largeBefore + 1);
    assert.equal(readBufferBytes() - before, READ_BUFFER_BYTES, 'the large buffer replaced the first');
    assert.deepEqual((await get()).body, large);
    assert.equal(readBufferBytes() - before, READ_BUFFER_BYTES, 'grown once');
    await pool.destroy();
    assert.equal(readBufferBytes(), before);
    assert.equal(largeReadBuffers(), largeBefore);
  });
});

// A connection's read buffer is freed when the connection is gone, not at some later major GC —
// unless a paused handler still holds views of it (borrowed data, proxy/http1/types.ts): then
// when that handler resumes.
void describe('UpstreamConnection: read buffer memory', () => {
  void test('a closed connection frees its read buffer at once', async (t) => {
    const before = readBufferBytes();
    const srv = await startRawServer(t);
    const pool = makePool(t, srv.origin);
    let ended = false;
    pool.dispatch(request(), {
      onResponseStart() {},
      onResponseData() {},
      onResponseEnd: () => (ended = true),
      onResponseError: (_c, err) => assert.fail(err),
    });
    await until(() => ended, 'the response ended', POLL);
    assert.ok(readBufferBytes() > before, 'the kept-alive connection holds a read buffer');
    await pool.destroy();
    assert.equal(readBufferBytes(), before);
  });

  void test('a buffer a paused handler still borrows is freed when it resumes, intact until then', async (t) => {
    const before = readBufferBytes();
    const largeBefore = largeReadBuffers();
    const body = randomBytes(64 * 1024);
    // The backend closes the connection right after its answer: the exchange ends and the
    // connection is destroyed while the handler below still holds its last chunk.
    const srv = await startRawServer(t, (c) => c.socket.end(response(body, ['connection: close'])));
    const pool = makePool(t, srv.origin);
    let controller: UpstreamController | undefined;
    // Copies of every chunk (a later read may overwrite an earlier view), and the last view.
    const copies: Buffer[] = [];
    let last: Buffer = Buffer.alloc(0);
    let ended = false;
    pool.dispatch(request(), {
      onResponseStart() {},
      onResponseData(c, chunk) {
        copies.push(Buffer.from(chunk));
        last = chunk;
        controller = c;
        c.pause();
      },
      onResponseEnd: () => (ended = true),
      onResponseError: (_c, err) => assert.fail(err),
    });
    // Resume every chunk but the last one: the response ends while it is borrowed.
    const received = (): number => copies.reduce((a, b) => a + b.length, 0);
    await until(
      () => {
        if (controller && received() < body.length) {
          const c = controller;
          controller = undefined;
          c.resume();
        }
        return ended;
      },
      'the response ended with its last chunk borrowed',
      POLL,
    );
    await until(() => largeReadBuffers() === largeBefore, 'the connection was destroyed', POLL);
    assert.deepEqual(Buffer.concat(copies), body);
    assert.ok(readBufferBytes() > before, 'still borrowed: not freed');
    assert.ok(last.length > 0);
    assert.deepEqual(last, body.subarray(body.length - last.length), 'the borrowed view is intact');
    controller!.resume();
    assert.equal(readBufferBytes(), before, 'freed on resume');
    assert.equal(last.length, 0, 'the borrowed view is detached with its memory');
  });

  void test('a handler that aborts inside onResponseData keeps its chunk until it returns', async (t) => {
    const before = readBufferBytes();
    const body = randomBytes(16 * 1024);
    const srv = await startRawServer(t, (c) => c.socket.write(response(body)));
    const pool = makePool(t, srv.origin);
    let afterAbort: Buffer | undefined;
    let failed = false;
    pool.dispatch(request(), {
      onResponseStart() {},
      onResponseData(c, chunk) {
        if (afterAbort) return;
        const length = chunk.length;
        c.abort(new Error('enough'));
        afterAbort = Buffer.from(chunk); // still the connection's bytes: the call has not returned
        assert.equal(afterAbort.length, length);
      },
      onResponseEnd: () => assert.fail('aborted'),
      onResponseError: () => (failed = true),
    });
    await until(() => failed, 'the exchange failed', POLL);
    assert.ok(afterAbort !== undefined && afterAbort.length > 0);
    assert.deepEqual(afterAbort, body.subarray(0, afterAbort.length));
    assert.equal(readBufferBytes(), before, 'freed once the handler returned');
  });
});
