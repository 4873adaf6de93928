import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { until } from '../../testbed/until.ts';
import { makePool, record, request, response, sleep, startRawServer } from './raw-server.ts';

// Request bodies: streamed with Content-Length when the headers have one, else chunked; a body
// that does not match its length never reaches the backend as a complete request.

const POLL = { everyMs: 10 };

/**
 * A request body as the forward phase hands one over (proxy/pipeline/upstream.ts): a pass-through
 * with an error listener, as a caller's would have (the exchange never destroys it).
 */
function bodyStream(): PassThrough {
  const body = new PassThrough();
  body.on('error', () => undefined);
  return body;
}

/** Writes `data` into `body` in pieces of `size`, honouring backpressure, then ends it. */
async function feed(body: PassThrough, data: Buffer, size: number, end = true): Promise<void> {
  for (let i = 0; i < data.length; i += size) {
    if (body.destroyed) return;
    if (!body.write(data.subarray(i, i + size))) {
      await new Promise<void>((resolve) => {
        const go = (): void => {
          body.off('drain', go);
          body.off('close', go);
          resolve();
        };
        body.on('drain', go);
        body.on('close', go);
      });
    }
    if (i % (size * 8) === 0) await sleep(0);
  }
  if (end && !body.destroyed) body.end();
}

void describe('UpstreamPool: request bodies', () => {
  void test('a body with Content-Length arrives byte-exact, not chunked', async (t) => {
    const srv = await startRawServer(t, (c) => c.socket.write(response('stored')));
    const pool = makePool(t, srv.origin);
    const data = randomBytes(2 * 1024 * 1024 + 17);
    const body = bodyStream();
    const sent: number[] = [];
    let result: Error | 'end' | undefined;
    pool.dispatch(
      request({
        method: 'PUT',
        headers: ['host', 'backend', 'content-length', String(data.length)],
        body,
      }),
      {
        onBodySent: (chunk) => sent.push(chunk.length),
        onResponseStart() {},
        onResponseData() {},
        onResponseEnd: () => (result = 'end'),
        onResponseError: (_c, err) => (result = err),
      },
    );
    await feed(body, data, 10_000);
    await until(() => result !== undefined, 'the exchange ended', POLL);
    assert.equal(result, 'end');
    const seen = srv.conns[0]!.requests[0]!;
    assert.equal(seen.method, 'PUT');
    assert.equal(seen.headers['content-length'], String(data.length));
    assert.equal(seen.headers['transfer-encoding'], undefined);
    assert.ok(seen.body.equals(data), 'the server got the same bytes');
    // Nothing beyond the body: head + body is all the connection carried.
    assert.equal(srv.conns[0]!.received.length, srv.conns[0]!.received.indexOf('\r\n\r\n') + 4 + data.length);
    assert.equal(
      sent.reduce((a, b) => a + b, 0),
      data.length,
    );
  });

  void test('an empty body with Content-Length: 0 (a Readable that ends at once)', async (t) => {
    const srv = await startRawServer(t);
    const pool = makePool(t, srv.origin);
    const rec = record(
      pool,
      request({ method: 'PUT', headers: ['host', 'b', 'content-length', '0'], body: Readable.from([]) }),
    );
    await rec.done;
    assert.equal(rec.error, undefined);
    assert.equal(srv.conns[0]!.requests[0]!.body.length, 0);
    assert.equal(srv.conns[0]!.requests[0]!.headers['transfer-encoding'], undefined);
  });

  void test('a body without Content-Length goes out chunked and decodes to the same bytes', async (t) => {
    const srv = await startRawServer(t, (c) => c.socket.write(response('ok')));
    const pool = makePool(t, srv.origin);
    const data = randomBytes(1024 * 1024 + 3);
    const body = bodyStream();
    const rec = record(pool, request({ method: 'PUT', headers: ['host', 'backend'], body }));
    await feed(body, data, 7_000);
    await rec.done;
    assert.equal(rec.error, undefined);
    const seen = srv.conns[0]!.requests[0]!;
    assert.equal(seen.headers['transfer-encoding'], 'chunked');
    assert.equal(seen.headers['content-length'], undefined);
    assert.ok(seen.body.equals(data), 'the decoded body is the bytes sent');
    // And the connection stays in step for the next request.
    const next = record(pool);
    await next.done;
    assert.equal(next.body.toString(), 'ok');
    assert.equal(srv.conns.length, 1);
  });

  void test('a body shorter than its Content-Length → CONTENT_LENGTH_MISMATCH; never a complete request', async (t) => {
    const srv = await startRawServer(t);
    const pool = makePool(t, srv.origin);
    const body = bodyStream();
    const rec = record(
      pool,
      request({ method: 'PUT', headers: ['host', 'backend', 'content-length', '100'], body }),
    );
    await feed(body, Buffer.alloc(60, 'a'), 20);
    await rec.done;
    assert.equal(rec.error?.code, 'CONTENT_LENGTH_MISMATCH');
    assert.ok(!rec.events.includes('requestSent'));
    await until(() => srv.conns[0]?.closed === true, 'the connection is closed', POLL);
    const conn = srv.conns[0]!;
    assert.equal(conn.requests.length, 0, 'the server never saw a complete request');
    assert.equal(conn.received.length, conn.received.indexOf('\r\n\r\n') + 4 + 60);
  });

  void test('a body longer than its Content-Length → CONTENT_LENGTH_MISMATCH; the excess is not sent', async (t) => {
    const srv = await startRawServer(t);
    const pool = makePool(t, srv.origin);
    const body = bodyStream();
    const rec = record(
      pool,
      request({ method: 'PUT', headers: ['host', 'backend', 'content-length', '5'], body }),
    );
    body.write('abc');
    await sleep(10);
    body.write('defg');
    await rec.done;
    assert.equal(rec.error?.code, 'CONTENT_LENGTH_MISMATCH');
    assert.equal(body.destroyed, false, "the body stays the caller's");
    assert.equal(body.listenerCount('data'), 0, 'the exchange stopped reading it');
    await until(() => srv.conns[0]?.closed === true, 'the connection is closed', POLL);
    assert.equal(srv.conns[0]!.requests.length, 0);
    assert.ok(srv.conns[0]!.received.toString('latin1').endsWith('\r\n\r\nabc'));
  });

  void test('a body stream error fails the exchange with REQUEST_BODY, the error as its cause', async (t) => {
    const srv = await startRawServer(t);
    const pool = makePool(t, srv.origin);
    const body = bodyStream();
    const rec = record(pool, request({ method: 'PUT', headers: ['host', 'backend'], body }));
    body.write('some');
    await sleep(10);
    const boom = new Error('client reset');
    body.destroy(boom);
    await rec.done;
    assert.equal(rec.error?.code, 'REQUEST_BODY');
    assert.equal(rec.error?.cause, boom);
    await until(() => srv.conns[0]?.closed === true, 'the connection is closed', POLL);
    assert.equal(srv.conns[0]!.requests.length, 0);
  });

  void test('a body that fails before its first byte: the head (here Content-Length: 0, a complete request) is never sent', async (t) => {
    const srv = await startRawServer(t);
    const pool = makePool(t, srv.origin);
    await record(pool, request({ path: '/warm' })).done; // a warm connection: the exchange starts at once
    const body = bodyStream();
    const rec = record(
      pool,
      request({ method: 'PUT', path: '/empty', headers: ['host', 'backend', 'content-length', '0'], body }),
    );
    await sleep(10);
    body.destroy(new Error('bad framing'));
    await rec.done;
    assert.equal(rec.error?.code, 'REQUEST_BODY');
    await until(() => srv.conns[0]?.closed === true, 'the connection is closed', POLL);
    assert.deepEqual(
      srv.conns[0]!.requests.map((r) => r.path),
      ['/warm'],
    );
  });

  void test('the server answers before the body is complete: response delivered, body no longer read, connection not reused', async (t) => {
    const srv = await startRawServer(t);
    srv.onHead = (c) => c.socket.write(response('denied', [], '403 Forbidden'));
    const pool = makePool(t, srv.origin);
    const body = bodyStream();
    const rec = record(
      pool,
      request({ method: 'PUT', headers: ['host', 'backend', 'content-length', '1000000'], body }),
    );
    body.write(Buffer.alloc(1000, 'b'));
    await rec.done;
    assert.equal(rec.error, undefined);
    assert.equal(rec.status, 403);
    assert.equal(rec.body.toString(), 'denied');
    assert.deepEqual(rec.events, ['requestStart', 'responseStart', 'data', 'responseEnd']);
    assert.equal(body.destroyed, false, "the body stays the caller's");
    assert.equal(body.listenerCount('data'), 0, 'the exchange stopped reading it');
    await until(() => srv.conns[0]!.closed, 'the connection is closed', POLL);
    srv.onHead = undefined;
    const next = record(pool);
    await next.done;
    assert.equal(next.body.toString(), 'ok');
    assert.equal(srv.conns.length, 2);
    assert.equal(srv.conns[0]!.requests.length, 0);
  });

  void test('bodyTimeout: the backend stops reading the request body → BODY_TIMEOUT', async (t) => {
    const srv = await startRawServer(t);
    srv.onHead = (c) => c.socket.pause(); // never reads again
    const pool = makePool(t, srv.origin);
    const body = bodyStream();
    const rec = record(
      pool,
      request({ method: 'PUT', headers: ['host', 'backend'], body, bodyTimeout: 200 }),
    );
    // Far more than the socket buffers hold; the feed stops once the body is destroyed below.
    const fed = feed(body, Buffer.alloc(256 * 1024 * 1024), 64 * 1024, false);
    await rec.done;
    assert.equal(rec.error?.code, 'BODY_TIMEOUT');
    assert.equal(body.listenerCount('data'), 0, 'the exchange stopped reading the body');
    body.destroy();
    await fed;
    // (The paused server cannot see the close: the pool's side shows it.)
    await until(() => pool.size === 0, 'the connection is closed', POLL);
  });

  void test('a body a failed exchange let go keeps its bytes for the next one (a retry)', async (t) => {
    // The first backend hangs up 50 ms after it accepted (the exchange has started and reads the
    // body by then, though no byte has come); the body is written only afterwards, then handed
    // to a second exchange: every byte must reach the second backend.
    const bad = createNetServer((s) => setTimeout(() => s.destroy(), 50));
    await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r));
    t.after(() => new Promise((r) => bad.close(r)));
    const badOrigin = `http://127.0.0.1:${(bad.address() as AddressInfo).port}`;
    const good = await startRawServer(t, (c) => c.socket.write(response('stored')));
    const data = randomBytes(256 * 1024);
    const body = bodyStream();
    const headers = ['host', 'backend', 'content-length', String(data.length)];
    const results: (Error | 'end')[] = [];
    const handler = {
      onResponseStart() {},
      onResponseData() {},
      onResponseEnd: () => results.push('end'),
      onResponseError: (_c: unknown, err: Error) => results.push(err),
    };
    makePool(t, badOrigin).dispatch(request({ method: 'PUT', headers, body }), handler);
    await until(() => results.length === 1, 'the first exchange failed', POLL);
    assert.ok(results[0] instanceof Error);
    body.write(data.subarray(0, 100_000)); // while no exchange reads the body
    makePool(t, good.origin).dispatch(request({ method: 'PUT', headers, body }), handler);
    await feed(body, data.subarray(100_000), 10_000);
    await until(() => results.length === 2, 'the second exchange ended', POLL);
    assert.equal(results[1], 'end');
    assert.ok(good.conns[0]!.requests[0]!.body.equals(data), 'the second backend got every byte');
  });
});
