import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { upstreamRequest } from '../../testbed/upstream.ts';
import { until } from '../../testbed/until.ts';
import { KEEP_ALIVE_HINT_MARGIN_MS } from '../../../proxy/http1/pool.ts';
import { makePool, record, request, response, sleep, startRawServer, type RawConn } from './raw-server.ts';

// Connection lifetimes (idle timeout, maximum age) and the pool's close() and destroy().

const POLL = { everyMs: 10 };

/** A backend that answers each request only when the test calls the returned release(). */
async function heldServer(t: Parameters<typeof startRawServer>[0]) {
  const waiting: RawConn[] = [];
  const srv = await startRawServer(t, (c) => waiting.push(c));
  return {
    srv,
    waiting,
    /** Answers the oldest request held so far. */
    release(body = 'held'): void {
      const c = waiting.shift();
      assert.ok(c, 'a request is held');
      c.socket.write(response(body));
    },
  };
}

void describe('UpstreamPool: aborting a queued exchange', () => {
  void test('abort() while queued fails it at once; it never starts and no connection is spent on it', async (t) => {
    const held = await heldServer(t);
    const pool = makePool(t, held.srv.origin, { connections: 1 });
    const first = record(pool, request({ path: '/first' }));
    const queued = record(pool, request({ path: '/queued' }));
    await until(() => held.waiting.length === 1, 'the first request reached the server', POLL);
    const reason = new Error('client went away');
    queued.controller!.abort(reason);
    await queued.done;
    assert.equal(queued.error, reason);
    assert.deepEqual(queued.events, ['responseError'], 'it never started');
    held.release('one');
    await first.done;
    assert.equal(first.body.toString(), 'one');
    const third = record(pool, request({ path: '/third' }));
    await until(() => held.waiting.length === 1, 'the third request reached the server', POLL);
    held.release('three');
    await third.done;
    assert.equal(third.body.toString(), 'three');
    assert.equal(held.srv.conns.length, 1, 'one connection served both; none was destroyed');
    assert.deepEqual(
      held.srv.conns[0]!.requests.map((r) => r.path),
      ['/first', '/third'],
    );
  });
});

void describe('UpstreamPool: connection lifetimes', () => {
  void test('keepAliveTimeoutMs: an idle connection is closed (the server sees the close)', async (t) => {
    const srv = await startRawServer(t);
    const pool = makePool(t, srv.origin, { keepAliveTimeoutMs: 100 });
    await upstreamRequest(pool, { path: '/1' });
    await until(() => srv.conns[0]!.closed, 'the idle connection is closed', POLL);
    await until(() => pool.size === 0, 'the pool forgot it', POLL);
    await upstreamRequest(pool, { path: '/2' });
    assert.equal(srv.conns.length, 2);
  });

  void test('Keep-Alive: timeout=N from the backend shortens the idle limit (less a margin)', async (t) => {
    const srv = await startRawServer(t);
    const pool = makePool(t, srv.origin, { keepAliveTimeoutMs: 60_000 });
    // A long hint: the connection is reused.
    srv.respond = (c) => c.socket.write(response('ok', ['Keep-Alive: timeout=60']));
    await upstreamRequest(pool, { path: '/1' });
    await upstreamRequest(pool, { path: '/2' });
    assert.equal(srv.conns.length, 1);
    // A hint 1 s over the margin: idle for longer than 1 s, the next request gets a new connection.
    const marginS = KEEP_ALIVE_HINT_MARGIN_MS / 1000;
    srv.respond = (c) => c.socket.write(response('ok', [`Keep-Alive: timeout=${marginS + 1}`]));
    await upstreamRequest(pool, { path: '/3' });
    await sleep(1100); // past the limit (a wait, not an assertion)
    // A hint of the margin itself leaves nothing: such a connection is not kept at all.
    srv.respond = (c) => c.socket.write(response('ok', [`Keep-Alive: timeout=${marginS}`]));
    await upstreamRequest(pool, { path: '/4' });
    await upstreamRequest(pool, { path: '/5' });
    assert.deepEqual(
      srv.conns.map((c) => c.requests.map((r) => r.path)),
      [['/1', '/2', '/3'], ['/4'], ['/5']],
    );
    await until(() => srv.conns.every((c) => c.closed), 'the stale and unkept connections are closed', POLL);
  });

  void test('the backend closes an idle connection: the pool drops it, the next request gets a new one', async (t) => {
    const srv = await startRawServer(t);
    const pool = makePool(t, srv.origin);
    await upstreamRequest(pool, { path: '/1' });
    assert.equal(pool.size, 1);
    srv.conns[0]!.socket.end();
    await until(() => pool.size === 0, 'the pool dropped the closed connection', POLL);
    const r = await upstreamRequest(pool, { path: '/2' });
    assert.equal(r.body.toString(), 'ok');
    assert.equal(srv.conns.length, 2);
  });

  void test('maxConnectionAgeMs: a request after the age gets a new connection', async (t) => {
    const srv = await startRawServer(t);
    const pool = makePool(t, srv.origin, { maxConnectionAgeMs: 100 });
    await upstreamRequest(pool, { path: '/1' });
    await sleep(150); // past the age (a wait, not an assertion)
    await upstreamRequest(pool, { path: '/2' });
    assert.equal(srv.conns.length, 2);
    assert.deepEqual(
      srv.conns.map((c) => c.requests.length),
      [1, 1],
    );
    await until(() => srv.conns[0]!.closed, 'the old connection is closed', POLL);
    assert.equal(pool.size, 1);
  });

  void test('maxConnectionAgeMs: a connection that ages during its exchange is retired after it', async (t) => {
    const held = await heldServer(t);
    const pool = makePool(t, held.srv.origin, { maxConnectionAgeMs: 50 });
    const rec = record(pool);
    await until(() => held.waiting.length === 1, 'the request is in', POLL);
    await sleep(100);
    held.release('late');
    await rec.done;
    assert.equal(rec.body.toString(), 'late');
    await until(() => held.srv.conns[0]!.closed, 'the aged connection is closed', POLL);
    assert.equal(pool.size, 0);
  });
});

void describe('UpstreamPool: close and destroy', () => {
  void test('close() resolves only after the running and queued exchanges finished', async (t) => {
    const held = await heldServer(t);
    const pool = makePool(t, held.srv.origin, { connections: 1 });
    const log: string[] = [];
    const a = record(pool, request({ path: '/a' }), log);
    const b = record(pool, request({ path: '/b' }), log);
    await until(() => held.waiting.length === 1, 'the first request is in', POLL);
    const closing = pool.close().then(() => log.push('closed'));
    assert.equal(pool.closed, true);
    await sleep(20);
    assert.ok(!log.includes('closed'), 'close() waits for the running exchange');
    held.release('A');
    await until(() => held.waiting.length === 1, 'the queued request is in', POLL);
    await sleep(20);
    assert.ok(!log.includes('closed'), 'close() waits for the queued exchange');
    held.release('B');
    await closing;
    assert.equal(a.body.toString(), 'A');
    assert.equal(b.body.toString(), 'B');
    assert.deepEqual(
      log.filter((e) => e.endsWith('responseEnd') || e === 'closed'),
      ['/a responseEnd', '/b responseEnd', 'closed'],
    );
    await until(() => held.srv.conns[0]!.closed, 'the connection is closed', POLL);
    assert.equal(pool.size, 0);
  });

  void test('close() closes idle connections at once', async (t) => {
    const srv = await startRawServer(t);
    const pool = makePool(t, srv.origin);
    await upstreamRequest(pool, { path: '/1' });
    await upstreamRequest(pool, { path: '/2' }); // still one connection, idle now
    await pool.close();
    assert.equal(pool.size, 0);
    await until(() => srv.conns[0]!.closed, 'the server sees the idle connection closed', POLL);
  });

  void test('destroy() fails running and queued exchanges with POOL_CLOSED', async (t) => {
    const held = await heldServer(t);
    const pool = makePool(t, held.srv.origin, { connections: 1 });
    const running = record(pool, request({ path: '/running' }));
    const queued = record(pool, request({ path: '/queued' }));
    await until(() => held.waiting.length === 1, 'the first request is in', POLL);
    await pool.destroy();
    await Promise.all([running.done, queued.done]);
    assert.equal(running.error?.code, 'POOL_CLOSED');
    assert.equal(queued.error?.code, 'POOL_CLOSED');
    assert.deepEqual(running.events, ['requestStart', 'requestSent', 'responseError']);
    assert.deepEqual(queued.events, ['responseError'], 'the queued exchange never started');
    assert.equal(pool.size, 0);
    await until(() => held.srv.conns[0]!.closed, 'the server sees the connection closed', POLL);
    assert.equal(held.srv.conns.length, 1);
  });

  void test('dispatch after close() or destroy() → POOL_CLOSED, and nothing is sent', async (t) => {
    const srv = await startRawServer(t);
    for (const end of ['close', 'destroy'] as const) {
      const pool = makePool(t, srv.origin);
      await (end === 'close' ? pool.close() : pool.destroy());
      const rec = record(pool);
      assert.deepEqual(rec.events, [], 'the error comes asynchronously');
      await rec.done;
      assert.equal(rec.error?.code, 'POOL_CLOSED', end);
      assert.deepEqual(rec.events, ['responseError']);
    }
    assert.equal(srv.conns.length, 0);
  });
});
