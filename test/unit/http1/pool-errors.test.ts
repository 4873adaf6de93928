import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UpstreamError } from '../../../proxy/http1/errors.ts';
import { freePort } from '../../testbed/ports.ts';
import { upstreamRequest } from '../../testbed/upstream.ts';
import { until } from '../../testbed/until.ts';
import { makePool, record, request, response, sleep, startRawServer, type Recorded } from './raw-server.ts';

// How exchanges fail: each failure is one onResponseError with a stable code, never followed
// (or preceded) by onResponseEnd, and the connection it happened on is not reused.

const POLL = { everyMs: 10 };

/** Waits for the exchange to fail, then a little longer: nothing may follow the error. */
async function failed(rec: Recorded, code: string): Promise<void> {
  await rec.done;
  assert.ok(rec.error, `expected ${code}, got events ${rec.events.join(',')}`);
  assert.equal(rec.error.code, code, rec.error.message);
  await sleep(20);
  assert.equal(rec.events.at(-1), 'responseError');
  assert.equal(rec.events.filter((e) => e === 'responseError').length, 1);
  assert.ok(!rec.events.includes('responseEnd'));
}

void describe('UpstreamPool: the backend fails', () => {
  void test('the server closes mid-body → SOCKET_CLOSED, never onResponseEnd', async (t) => {
    const srv = await startRawServer(t, (c) => {
      c.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
      setTimeout(() => c.socket.end(), 10);
    });
    const pool = makePool(t, srv.origin);
    const rec = record(pool);
    await failed(rec, 'SOCKET_CLOSED');
    assert.ok(rec.error instanceof UpstreamError);
    assert.deepEqual(rec.events, ['requestStart', 'requestSent', 'responseStart', 'data', 'responseError']);
    assert.equal(rec.body.toString(), '0123456789');
    await until(() => pool.size === 0, 'the connection is gone', POLL);
  });

  void test('the server closes mid-chunked-body → SOCKET_CLOSED', async (t) => {
    const srv = await startRawServer(t, (c) => {
      c.socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    });
    const pool = makePool(t, srv.origin);
    const rec = record(pool);
    await failed(rec, 'SOCKET_CLOSED');
    assert.equal(rec.body.toString(), 'hello');
  });

  void test('the server closes before any response (an idle keep-alive race) → SOCKET_CLOSED', async (t) => {
    const srv = await startRawServer(t, (c) => c.socket.end());
    const pool = makePool(t, srv.origin);
    const rec = record(pool);
    await failed(rec, 'SOCKET_CLOSED');
    assert.ok(!rec.events.includes('responseStart'));
  });

  void test('the server closes in the middle of a response head → SOCKET_CLOSED', async (t) => {
    const srv = await startRawServer(t, (c) => c.socket.end('HTTP/1.1 200 OK\r\nContent-Le'));
    const pool = makePool(t, srv.origin);
    const rec = record(pool);
    await failed(rec, 'SOCKET_CLOSED');
    assert.ok(!rec.events.includes('responseStart'));
  });

  void test('every connection busy for the first-byte timeout → QUEUE_TIMEOUT, nothing sent', async (t) => {
    const heads: string[] = [];
    const srv = await startRawServer(t, (c) => {
      heads.push('request');
      setTimeout(() => c.socket.write(response('slow')), 300); // holds the one connection
    });
    const pool = makePool(t, srv.origin, { connections: 1 });
    const first = record(pool, request({ headersTimeout: 2_000 }));
    const queued = record(pool, request({ headersTimeout: 60 }));
    await failed(queued, 'QUEUE_TIMEOUT');
    assert.deepEqual(queued.events, ['responseError'], 'never started: no request was written');
    await first.done;
    assert.equal(first.body.toString(), 'slow');
    assert.equal(heads.length, 1);
    // A queued exchange that gets the connection in time runs with a fresh first-byte timeout.
    const a = record(pool, request({ headersTimeout: 2_000 }));
    const b = record(pool, request({ headersTimeout: 500 }));
    await Promise.all([a.done, b.done]);
    assert.equal(b.error, undefined, 'waited 300 ms, then answered within its own 500 ms');
    assert.equal(b.body.toString(), 'slow');
  });

  void test('headersTimeout: no response head in time → HEADERS_TIMEOUT, the connection closed', async (t) => {
    const srv = await startRawServer(t, () => {}); // reads the request, never answers
    const pool = makePool(t, srv.origin);
    const rec = record(pool, request({ headersTimeout: 50 }));
    await failed(rec, 'HEADERS_TIMEOUT');
    assert.deepEqual(rec.events, ['requestStart', 'requestSent', 'responseError']);
    assert.equal(srv.conns[0]!.requests.length, 1, 'the request did go out');
    await until(() => srv.conns[0]!.closed, 'the server sees the connection closed', POLL);
  });

  void test('headersTimeout counts the whole head: a head trickling in too slowly still times out', async (t) => {
    const srv = await startRawServer(t, (c) => {
      const timer = setInterval(() => c.socket.write('X-Slow: 1\r\n'), 10);
      c.socket.on('close', () => clearInterval(timer));
      c.socket.write('HTTP/1.1 200 OK\r\n');
    });
    const pool = makePool(t, srv.origin);
    const rec = record(pool, request({ headersTimeout: 100 }));
    await failed(rec, 'HEADERS_TIMEOUT');
    await until(() => srv.conns[0]!.closed, 'the server sees the connection closed', POLL);
  });

  void test('bodyTimeout: part of the body, then a stall → BODY_TIMEOUT', async (t) => {
    const srv = await startRawServer(t, (c) => {
      c.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nfirst bytes');
    });
    const pool = makePool(t, srv.origin);
    const rec = record(pool, request({ bodyTimeout: 50 }));
    await failed(rec, 'BODY_TIMEOUT');
    assert.deepEqual(rec.events, ['requestStart', 'requestSent', 'responseStart', 'data', 'responseError']);
    assert.equal(rec.body.toString(), 'first bytes');
    await until(() => srv.conns[0]!.closed, 'the server sees the connection closed', POLL);
  });

  void test('bodyTimeout is idle time: a body that keeps flowing longer than it completes', async (t) => {
    const srv = await startRawServer(t, (c) => {
      void (async () => {
        c.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n');
        // 40 pieces, each well inside the idle timeout; together beyond it.
        for (let i = 0; i < 40 && !c.socket.destroyed; i++) {
          await sleep(10);
          c.socket.write('x');
        }
      })();
    });
    const pool = makePool(t, srv.origin);
    const rec = record(pool, request({ bodyTimeout: 250 }));
    await rec.done;
    assert.equal(rec.error, undefined);
    assert.equal(rec.body.toString(), 'x'.repeat(40));
  });

  void test('connection refused → the socket error with code ECONNREFUSED', async (t) => {
    const port = await freePort(); // closed again: nobody listens there
    const pool = makePool(t, `http://127.0.0.1:${port}`);
    const rec = record(pool);
    await failed(rec, 'ECONNREFUSED');
    assert.deepEqual(rec.events, ['responseError'], 'no request was started');
    assert.equal(pool.size, 0);
  });

  void test('a malformed response head → PROTOCOL; the next request gets a new connection', async (t) => {
    const srv = await startRawServer(t, (c) => c.socket.write('HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n'));
    const pool = makePool(t, srv.origin);
    await failed(record(pool), 'PROTOCOL');
    srv.respond = (c) => c.socket.write(response('good'));
    assert.equal((await upstreamRequest(pool, { path: '/next' })).body.toString(), 'good');
    assert.equal(srv.conns.length, 2);
    await until(() => srv.conns[0]!.closed, 'the bad connection is closed', POLL);
  });

  void test('bad chunked framing → PROTOCOL after the good chunks were delivered', async (t) => {
    const srv = await startRawServer(t, (c) =>
      c.socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n'),
    );
    const pool = makePool(t, srv.origin);
    const rec = record(pool);
    await failed(rec, 'PROTOCOL');
    assert.equal(rec.body.toString(), 'abc');
    await until(() => srv.conns[0]!.closed, 'the connection is closed', POLL);
  });

  void test('an unasked 101 Switching Protocols → PROTOCOL', async (t) => {
    const srv = await startRawServer(t, (c) =>
      c.socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n'),
    );
    const pool = makePool(t, srv.origin);
    await failed(record(pool), 'PROTOCOL');
  });

  void test('a response head over 64 KiB → HEADERS_OVERFLOW', async (t) => {
    const big = `HTTP/1.1 200 OK\r\n${`X-Pad: ${'p'.repeat(1000)}\r\n`.repeat(70)}`;
    const srv = await startRawServer(t, (c) => c.socket.write(big));
    const pool = makePool(t, srv.origin);
    await failed(record(pool), 'HEADERS_OVERFLOW');
    await until(() => srv.conns[0]!.closed, 'the connection is closed', POLL);
  });
});

void describe('UpstreamPool: the request is refused or aborted', () => {
  void test('a header value with CR or LF → PROTOCOL, and nothing is sent', async (t) => {
    const srv = await startRawServer(t);
    const pool = makePool(t, srv.origin);
    const bad = [
      ['host', 'backend', 'x-meta', 'a\r\nInjected: yes'],
      ['host', 'backend', 'x-meta', 'a\nb'],
      ['host', 'backend', 'x-meta', 'a\rb'],
      ['host', 'backend\0'],
      ['x-na\r\nme', 'v'],
    ];
    for (const [i, headers] of bad.entries()) {
      const rec = record(pool, request({ headers }));
      await failed(rec, 'PROTOCOL');
      assert.ok(!rec.events.includes('requestSent'));
      await until(() => srv.conns[i]?.closed === true, 'the connection is closed', POLL);
      assert.equal(srv.conns[i]!.received.length, 0, `bytes sent for ${JSON.stringify(headers)}`);
    }
    assert.equal(pool.size, 0);
  });

  void test('controller.abort() mid-body: onResponseError gets the reason; the connection is closed', async (t) => {
    const srv = await startRawServer(t, (c) =>
      c.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nsome'),
    );
    const pool = makePool(t, srv.origin);
    const reason = new Error('client went away');
    const events: string[] = [];
    let got: Error | undefined;
    await new Promise<void>((resolve) => {
      pool.dispatch(request(), {
        onResponseStart() {
          events.push('start');
        },
        onResponseData(c) {
          events.push('data');
          c.abort(reason);
        },
        onResponseEnd() {
          events.push('end');
          resolve();
        },
        onResponseError(_c, err) {
          events.push('error');
          got = err;
          resolve();
        },
      });
    });
    assert.equal(got, reason);
    assert.deepEqual(events, ['start', 'data', 'error']);
    await until(() => srv.conns[0]!.closed, 'the aborted connection is closed', POLL);
    assert.equal(pool.size, 0);
  });
});
