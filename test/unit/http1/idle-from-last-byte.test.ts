/**
 * A connection is idle from its response's last byte, when the backend's keep-alive timer
 * starts, not from the moment a slow client let its exchange go. Here the backend closes a
 * connection idle for 500 ms; our limit is 300 ms; the client takes 700 ms to take the answer.
 * The upload queued meanwhile must go out on a new connection, not on the closed one (an upload
 * is not replayed: it would fail).
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { makePool, record, request, response, startRawServer } from './raw-server.ts';

void test('an exchange released late: its connection is not reused past the idle limit', async (t) => {
  const srv = await startRawServer(t, (c, req) => {
    c.socket.write(response(req.method === 'GET' ? 'hello' : ''));
    if (req.method === 'GET') setTimeout(() => c.socket.end(), 500); // the backend's idle timeout
  });
  const pool = makePool(t, srv.origin, { connections: 1, keepAliveTimeoutMs: 300 });
  const got = new Promise<void>((resolve, reject) =>
    pool.dispatch(request({ path: '/a' }), {
      onResponseStart: () => undefined,
      onResponseData: (c) => {
        c.pause(); // the client is slow to take the bytes
        setTimeout(() => c.resume(), 700);
      },
      onResponseEnd: () => resolve(),
      onResponseError: (_c, e) => reject(e),
    }),
  );
  await new Promise((r) => setTimeout(r, 50));
  const put = record(
    pool,
    request({
      method: 'PUT',
      path: '/b',
      headers: ['host', 'x', 'content-length', '3'],
      body: Readable.from([Buffer.from('abc')]),
    }),
  );
  await got;
  await put.done;
  assert.equal(put.error?.code, undefined, String(put.error));
  assert.equal(put.status, 200);
  assert.equal(srv.conns.length, 2, 'the upload went out on a new connection');
});
