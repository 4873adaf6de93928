import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { UpstreamPool } from '../../../proxy/http1/pool.ts';
import type { UpstreamController } from '../../../proxy/http1/types.ts';
import { until } from '../../testbed/until.ts';
import { chunkedBody, makePool, record, request, response, sleep, startRawServer } from './raw-server.ts';

// Borrowed data (proxy/http1/types.ts): a chunk handed to onResponseData is a view of the
// connection's read buffer, valid until the call returns or, after pause(), until resume().
// These handlers keep chunks uncopied across real waits while the backend has more bytes ready,
// so a read into the buffer during the wait would show as changed bytes.

const POLL = { everyMs: 10 };

/** Deterministic [0, 1) numbers (a failing run can be replayed). */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Borrowed {
  /** sha256 of every body byte, hashed from the kept chunks after each wait. */
  sha256: string;
  bytes: number;
  pauses: number;
  /** Kept chunks whose bytes changed while the handler held them paused. */
  changed: number;
  /** Distinct backing buffers of the chunks: few, if they are views of one read buffer. */
  buffers: number;
  error: Error | undefined;
}

/**
 * Dispatches a GET whose handler, at random chunks, pauses, keeps the chunk as given (plus a
 * copy to compare), waits a setImmediate or a few ms, checks it, hashes it, then resumes.
 */
function fetchBorrowing(pool: UpstreamPool, rand: () => number): Promise<Borrowed> {
  return new Promise((resolve) => {
    const hash = createHash('sha256');
    const buffers = new Set<ArrayBufferLike>();
    const out = { bytes: 0, pauses: 0, changed: 0, error: undefined as Error | undefined };
    let held: { chunk: Buffer; copy: Buffer }[] = [];
    let paused = false;
    let ended = false;
    const finish = (): void => resolve({ ...out, sha256: hash.digest('hex'), buffers: buffers.size });
    const take = (chunk: Buffer): void => {
      hash.update(chunk);
      out.bytes += chunk.length;
    };
    const later = (c: UpstreamController): void => {
      for (const h of held) {
        if (!h.chunk.equals(h.copy)) out.changed++;
        take(h.chunk);
      }
      held = [];
      paused = false;
      c.resume();
      if (ended) finish();
    };
    pool.dispatch(request({ bodyTimeout: 60_000 }), {
      onResponseStart() {},
      onResponseData(c, chunk) {
        buffers.add(chunk.buffer);
        // Data of the read that is already under way keeps coming while paused: hold it too.
        if (paused) {
          held.push({ chunk, copy: Buffer.from(chunk) });
          return;
        }
        if (rand() < 0.4) {
          paused = true;
          out.pauses++;
          c.pause();
          held.push({ chunk, copy: Buffer.from(chunk) });
          if (rand() < 0.5) setImmediate(later, c);
          else setTimeout(later, 1 + Math.floor(rand() * 4), c);
        } else {
          take(chunk);
        }
      },
      onResponseEnd() {
        ended = true;
        if (!paused) finish();
      },
      onResponseError(_c, err) {
        out.error = err;
        finish();
      },
    });
  });
}

void describe('UpstreamPool: borrowed data and pause()', () => {
  void test('a paused handler keeps its chunk uncopied; the bytes are unchanged until resume()', async (t) => {
    const body = randomBytes(512 * 1024);
    // All of it written at once: the client could read on into its buffer at any moment.
    const srv = await startRawServer(t, (c) => c.socket.write(response(body)));
    const pool = makePool(t, srv.origin);
    const kept: { chunk: Buffer; copy: Buffer }[] = [];
    let changed = 0;
    await new Promise<void>((resolve, reject) => {
      pool.dispatch(request(), {
        onResponseStart() {},
        onResponseData(c, chunk) {
          c.pause();
          const entry = { chunk, copy: Buffer.from(chunk) };
          kept.push(entry);
          setTimeout(() => {
            if (!entry.chunk.equals(entry.copy)) changed++;
            c.resume();
          }, 3);
        },
        onResponseEnd: () => resolve(),
        onResponseError: (_c, err) => reject(err),
      });
    });
    await sleep(10); // the last resume()
    assert.equal(changed, 0, 'no kept chunk changed while its handler was paused');
    assert.ok(kept.length > 2, `the body came in several reads (${kept.length})`);
    // The chunks are views of reused buffers (the reason pause() must hold reads back): the
    // connection's first, small one, then the one it grew to when a read filled the first.
    assert.equal(new Set(kept.map((k) => k.chunk.buffer)).size, 2);
    assert.ok(Buffer.concat(kept.map((k) => k.copy)).equals(body));
  });

  for (const [framing, seed] of [
    ['content-length', 3],
    ['chunked', 7],
    ['close-delimited', 11],
  ] as const) {
    void test(`a ${framing} multi-MiB random body with random pauses: the sha256 of the borrowed bytes matches`, async (t) => {
      const rand = seeded(seed);
      const body = randomBytes(6 * 1024 * 1024 + 11);
      let wire: Buffer;
      if (framing === 'content-length') {
        wire = response(body);
      } else if (framing === 'close-delimited') {
        wire = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\n\r\n'), body]);
      } else {
        const parts: Buffer[] = [];
        for (let i = 0; i < body.length;) {
          const n = 1 + Math.floor(rand() ** 3 * 100_000);
          parts.push(body.subarray(i, i + n));
          i += n;
        }
        wire = Buffer.concat([
          Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'),
          chunkedBody(parts),
        ]);
      }
      const srv = await startRawServer(t, (c) =>
        framing === 'close-delimited' ? c.socket.end(wire) : c.socket.write(wire),
      );
      const pool = makePool(t, srv.origin);
      const got = await fetchBorrowing(pool, rand);
      assert.equal(got.error, undefined);
      assert.equal(got.bytes, body.length);
      assert.ok(got.pauses > 10, `paused ${got.pauses} times`);
      assert.equal(got.changed, 0, 'kept chunks changed while paused');
      assert.equal(got.sha256, createHash('sha256').update(body).digest('hex'));
      assert.equal(got.buffers, 2, "every chunk borrowed from the connection's first or grown buffer");
      // The connection is in step afterwards (a close-delimited one is gone).
      srv.respond = (c) => c.socket.write(response('next'));
      const next = record(pool);
      await next.done;
      assert.equal(next.body.toString(), 'next');
      assert.equal(srv.conns.length, framing === 'close-delimited' ? 2 : 1);
    });
  }

  void test('bodyTimeout does not run while the handler is paused', async (t) => {
    const srv = await startRawServer(t, (c) => c.socket.write(response(Buffer.alloc(300 * 1024, 'p'))));
    const pool = makePool(t, srv.origin);
    let bytes = 0;
    let first = true;
    const result = await new Promise<Error | 'end'>((resolve) => {
      pool.dispatch(request({ bodyTimeout: 300 }), {
        onResponseStart() {},
        onResponseData(c, chunk) {
          bytes += chunk.length;
          if (!first) return;
          first = false;
          c.pause();
          setTimeout(() => c.resume(), 1000); // held well past the body timeout
        },
        onResponseEnd: () => resolve('end'),
        onResponseError: (_c, err) => resolve(err),
      });
    });
    assert.equal(result, 'end');
    assert.equal(bytes, 300 * 1024);
  });
});

void describe('UpstreamPool: an exchange that ends while paused', () => {
  /** Answers request n with "answer n". */
  async function numbered(t: Parameters<typeof startRawServer>[0]) {
    let n = 0;
    return startRawServer(t, (c) => c.socket.write(response(`answer ${n++}`)));
  }

  /** Dispatches a GET whose handler pauses at its data and keeps the (borrowed) chunk. */
  function pausedAtEnd(pool: UpstreamPool) {
    const state = {
      chunk: undefined as Buffer | undefined,
      controller: undefined as UpstreamController | undefined,
      ended: false,
    };
    pool.dispatch(request({ path: '/paused' }), {
      onResponseStart() {},
      onResponseData(c, chunk) {
        c.pause();
        state.controller = c;
        state.chunk = chunk;
      },
      onResponseEnd() {
        state.ended = true;
      },
      onResponseError(_c, err) {
        throw err;
      },
    });
    return state;
  }

  void test('its connection is not given to the next request until resume()', async (t) => {
    const srv = await numbered(t);
    const pool = makePool(t, srv.origin);
    const a = pausedAtEnd(pool);
    await until(() => a.ended, 'the paused exchange ended', POLL);
    assert.equal(a.chunk!.toString(), 'answer 0');
    // The connection still lends its buffer to `a`: the next request needs a new one.
    const b = record(pool, request({ path: '/b' }));
    await b.done;
    assert.equal(b.body.toString(), 'answer 1');
    assert.equal(srv.conns.length, 2);
    assert.equal(pool.size, 2);
    assert.equal(a.chunk!.toString(), 'answer 0', 'the kept chunk is intact');
    a.controller!.resume();
    // Both connections are idle now; the next two requests need no new connection.
    const c1 = record(pool, request({ path: '/c1' }));
    const c2 = record(pool, request({ path: '/c2' }));
    await Promise.all([c1.done, c2.done]);
    assert.deepEqual([c1.body.toString(), c2.body.toString()].sort(), ['answer 2', 'answer 3']);
    assert.equal(srv.conns.length, 2);
    assert.deepEqual(
      srv.conns.map((c) => c.requests.length),
      [2, 2],
    );
  });

  void test('with connections: 1 the next request waits for resume(), then runs on the same connection', async (t) => {
    const srv = await numbered(t);
    const pool = makePool(t, srv.origin, { connections: 1 });
    const a = pausedAtEnd(pool);
    await until(() => a.ended, 'the paused exchange ended', POLL);
    const b = record(pool, request({ path: '/b' }));
    await sleep(50);
    assert.deepEqual(b.events, [], 'the queued request has not started');
    assert.equal(srv.conns[0]!.requests.length, 1);
    assert.equal(a.chunk!.toString(), 'answer 0');
    a.controller!.resume();
    await b.done;
    assert.equal(b.body.toString(), 'answer 1');
    assert.equal(srv.conns.length, 1);
    assert.equal(pool.size, 1);
  });
});
