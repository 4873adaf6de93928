/**
 * A client that pipelines a request behind a slow one and hangs up: the second response was
 * written into Node's queue (no socket yet), so its backend connection paused until that write
 * flushed — which never happens once the client is gone. The connection must come back (given
 * up), not stay out of the pool for good.
 */
import assert from 'node:assert/strict';
import { createServer as httpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, createServer as netServer, type AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import type { ProxyTimeouts } from '../../../proxy/config/types.ts';
import { UpstreamPool } from '../../../proxy/http1/pool.ts';
import { forwardGet } from './forward-direct.ts';

const closers: (() => void)[] = [];
after(() => closers.forEach((c) => c()));

async function listen(server: {
  listen: (p: number, h: string, cb: () => void) => unknown;
  address: () => unknown;
}): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

for (const clientIdleMs of [0, 300]) {
  void test(`the connection comes back after the client hangs up (clientIdleMs ${clientIdleMs})`, async () => {
    const backend = netServer((s) => {
      s.on('data', (d) => {
        if (d.includes('\r\n\r\n')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
      });
      s.on('error', () => undefined);
    });
    const backendPort = await listen(backend);
    closers.push(() => backend.close());
    const pool = new UpstreamPool(`http://127.0.0.1:${backendPort}`, {
      connections: 1,
      keepAliveTimeoutMs: 4000,
      maxConnectionAgeMs: 0,
      connectTimeoutMs: 1000,
    });
    closers.push(() => void pool.destroy());
    const timeouts = { clientIdleMs, backendFirstByteMs: 1000, backendIdleMs: 1000 } as ProxyTimeouts;
    let forwarded: Promise<unknown> | undefined;
    const proxy = httpServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.url === '/1') {
        res.writeHead(200, { 'content-length': '100' }); // a slow earlier response
        res.write('x');
        return;
      }
      forwarded = forwardGet(req, res, pool, '/small', timeouts);
    });
    const proxyPort = await listen(proxy);
    closers.push(() => {
      proxy.closeAllConnections();
      proxy.close();
    });
    const client = connect(proxyPort, '127.0.0.1');
    client.on('error', () => undefined);
    client.on('data', () => undefined);
    client.write('GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n');
    for (let i = 0; i < 100 && forwarded === undefined; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(forwarded, 'the pipelined request was forwarded');
    await forwarded;
    client.destroy();
    // The one connection must serve a new request (it failed with QUEUE_TIMEOUT, for good).
    let status: number | string = 'none';
    for (let i = 0; i < 40 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = await new Promise<number | string>((resolve) => {
        pool.dispatch(
          {
            method: 'GET',
            path: '/x',
            headers: ['host', 'b'],
            body: null,
            headersTimeout: 200,
            bodyTimeout: 1000,
          },
          {
            onResponseStart: (_c, st) => void (status = st),
            onResponseData: () => undefined,
            onResponseEnd: () => resolve(200),
            onResponseError: (_c, e: Error & { code?: string }) => resolve(e.code ?? 'error'),
          },
        );
      });
    }
    assert.equal(status, 200);
  });
}
