/**
 * A backend that writes its response head a few bytes at a time (each piece its own read): the
 * head is put together across reads, interim 100 Continue included, and the body after it is
 * intact.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { UpstreamPool } from '../../../proxy/http1/pool.ts';

void test('a response head in many pieces', async () => {
  const answer =
    'HTTP/1.1 100 Continue\r\n\r\n' +
    `HTTP/1.1 200 OK\r\nx-amz-request-id: R1\r\nx-amz-meta-long: ${'v'.repeat(3000)}\r\nContent-Length: 5\r\n\r\nhello`;
  const backend = createServer((s) => {
    s.setNoDelay(true);
    s.once('data', async () => {
      for (let i = 0; i < answer.length; i += 97) {
        s.write(answer.slice(i, i + 97), 'latin1');
        await new Promise((r) => setTimeout(r, 1));
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  after(() => backend.close());
  const pool = new UpstreamPool(`http://127.0.0.1:${(backend.address() as AddressInfo).port}`, {
    connections: 1,
    keepAliveTimeoutMs: 1000,
    maxConnectionAgeMs: 0,
    connectTimeoutMs: 2000,
  });
  after(() => void pool.destroy());
  const got = await new Promise<{ status: number; meta: string | undefined; body: string }>(
    (resolve, reject) => {
      let status = 0;
      let meta: string | undefined;
      let body = '';
      pool.dispatch(
        {
          method: 'GET',
          path: '/a',
          headers: ['host', 'x'],
          body: null,
          headersTimeout: 5000,
          bodyTimeout: 5000,
        },
        {
          onResponseStart: (_c, st, head) => {
            status = st;
            meta = head.headers['x-amz-meta-long'];
          },
          onResponseData: (_c, chunk) => void (body += chunk.toString('latin1')),
          onResponseEnd: () => resolve({ status, meta, body }),
          onResponseError: (_c, e) => reject(e),
        },
      );
    },
  );
  assert.deepEqual(got, { status: 200, meta: 'v'.repeat(3000), body: 'hello' });
});
