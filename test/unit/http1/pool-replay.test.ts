import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { UpstreamPool } from '../../../proxy/http1/pool.ts';
import type { UpstreamRequestOptions } from '../../../proxy/http1/types.ts';
import { upstreamRequest } from '../../testbed/upstream.ts';
import {
  makePool,
  record,
  request,
  response,
  startRawServer,
  type RawConn,
  type RawServer,
  type SeenRequest,
} from './raw-server.ts';
import { Readable } from 'node:stream';

// A kept-alive connection the backend closes just as the next request goes out: that request
// is sent once more on a new connection when it is safe to repeat (GET, HEAD), has no body and
// no answer had begun, as Go's http.Transport does; otherwise it fails as before.

type Loss = 'end' | 'reset';

/** Answers the first request of each connection; loses the connection on a later one (by `how`). */
function loseLaterRequests(how: Loss) {
  return (c: RawConn, _req: SeenRequest): void => {
    if (c.requests.length === 1) c.socket.write(response(`ok from ${c.id}`));
    else if (how === 'end') c.socket.end();
    else c.socket.resetAndDestroy();
  };
}

/** Sends `req`, which must fail with SOCKET_CLOSED; then the pool's replays and the server's connections. */
async function failsWith(
  pool: UpstreamPool,
  srv: RawServer,
  req: UpstreamRequestOptions,
  expect: { replays: number; connections: number },
): Promise<void> {
  const rec = record(pool, req);
  await rec.done;
  assert.equal(rec.error?.code, 'SOCKET_CLOSED');
  assert.equal(pool.replays, expect.replays);
  assert.equal(srv.conns.length, expect.connections);
}

void describe('UpstreamPool: replay after a lost kept-alive connection', () => {
  for (const how of ['end', 'reset'] as const) {
    void test(`a bodiless request on a reused connection the backend ${how === 'end' ? 'closes' : 'resets'}: sent again on a new one`, async (t) => {
      const srv = await startRawServer(t, loseLaterRequests(how));
      const pool = makePool(t, srv.origin);
      assert.equal((await upstreamRequest(pool, { path: '/1' })).body.toString(), 'ok from 0');
      const second = record(pool, request({ path: '/2' }));
      await second.done;
      assert.equal(second.error, undefined, second.error?.message);
      assert.equal(second.body.toString(), 'ok from 1');
      assert.equal(pool.replays, 1);
      assert.deepEqual(
        srv.conns.map((c) => c.requests.map((r) => r.path)),
        [['/1', '/2'], ['/2']],
      );
      // The handler saw one response, no error.
      assert.equal(second.events.filter((e) => e === 'responseEnd').length, 1);
      assert.ok(!second.events.includes('responseError'));
    });
  }

  void test('replayed once at most: a second loss fails the request', async (t) => {
    const srv = await startRawServer(t);
    const pool = makePool(t, srv.origin);
    await upstreamRequest(pool, { path: '/1' });
    // From now on every connection is closed on every request, the new one included.
    srv.respond = (c) => c.socket.end();
    await failsWith(pool, srv, request({ path: '/2' }), { replays: 1, connections: 2 });
  });

  void test('a request on a new connection is not replayed', async (t) => {
    const srv = await startRawServer(t, (c) => c.socket.end());
    const pool = makePool(t, srv.origin);
    await failsWith(pool, srv, request({ path: '/1' }), { replays: 0, connections: 1 });
  });

  void test('a request with a body is not replayed (its bytes are gone)', async (t) => {
    const srv = await startRawServer(t, loseLaterRequests('end'));
    const pool = makePool(t, srv.origin);
    await upstreamRequest(pool, { path: '/1' });
    const put = request({
      method: 'PUT',
      path: '/2',
      headers: ['host', 'backend', 'content-length', '4'],
      body: Readable.from([Buffer.from('data')]),
    });
    await failsWith(pool, srv, put, { replays: 0, connections: 1 });
  });

  for (const method of ['POST', 'DELETE']) {
    void test(`a bodiless ${method} is not replayed (the backend may have acted on it)`, async (t) => {
      const srv = await startRawServer(t, loseLaterRequests('end'));
      const pool = makePool(t, srv.origin);
      await upstreamRequest(pool, { path: '/1' });
      await failsWith(pool, srv, request({ method, path: '/2?uploads' }), { replays: 0, connections: 1 });
    });
  }

  void test('a loss after the response began is not replayed', async (t) => {
    const srv = await startRawServer(t, (c) => {
      if (c.requests.length === 1) c.socket.write(response('ok'));
      else c.socket.end(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort'));
    });
    const pool = makePool(t, srv.origin);
    await upstreamRequest(pool, { path: '/1' });
    await failsWith(pool, srv, request({ path: '/2' }), { replays: 0, connections: 1 });
  });
});
