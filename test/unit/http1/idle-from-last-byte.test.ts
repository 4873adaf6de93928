/**
 * A connection is idle from its response's last byte, when the backend's keep-alive timer
 * starts, not from the moment a slow client let its exchange go. Here the backend closes a
 * connection idle for 500 ms; our limit is 300 ms; the client takes 700 ms to take the answer.
 * The upload queued meanwhile must go out on a new connection, not on the closed one (an upload
 * is not replayed: it would fail).
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { UpstreamPool } from '../../../proxy/http1/pool.ts';

void test('an exchange released late: its connection is not reused past the idle limit', async () => {
  let connections = 0;
  const backend = createServer((s) => {
    connections++;
    let buf = '';
    let idle: NodeJS.Timeout | undefined;
    s.on('data', (d: Buffer) => {
      clearTimeout(idle);
      buf += d.toString('latin1');
      if (buf.startsWith('GET') && buf.includes('\r\n\r\n')) {
        buf = '';
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
        idle = setTimeout(() => s.end(), 500); // the backend's own idle timeout
      } else if (buf.startsWith('PUT') && buf.endsWith('\r\n\r\nabc')) {
        buf = '';
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  after(() => backend.close());
  const pool = new UpstreamPool(`http://127.0.0.1:${(backend.address() as AddressInfo).port}`, {
    connections: 1,
    keepAliveTimeoutMs: 300,
    maxConnectionAgeMs: 0,
    connectTimeoutMs: 2000,
  });
  after(() => void pool.destroy());
  const got = new Promise<void>((resolve, reject) =>
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
        onResponseStart: () => undefined,
        onResponseData: (c) => {
          c.pause(); // the client is slow to take the bytes
          setTimeout(() => c.resume(), 700);
        },
        onResponseEnd: () => resolve(),
        onResponseError: (_c, e) => reject(e),
      },
    ),
  );
  await new Promise((r) => setTimeout(r, 50));
  const put = new Promise<number | string>((resolve) => {
    let status = 0;
    pool.dispatch(
      {
        method: 'PUT',
        path: '/b',
        headers: ['host', 'x', 'content-length', '3'],
        body: Readable.from([Buffer.from('abc')]),
        headersTimeout: 5000,
        bodyTimeout: 5000,
      },
      {
        onResponseStart: (_c, st) => void (status = st),
        onResponseData: () => undefined,
        onResponseEnd: () => resolve(status),
        onResponseError: (_c, e: Error & { code?: string }) => resolve(e.code ?? 'error'),
      },
    );
  });
  await got;
  assert.equal(await put, 200);
  assert.equal(connections, 2, 'the upload went out on a new connection');
});
