/**
 * The latency the balancer learns is the node's: an attempt that waited for one of our own
 * connections (all busy) reports its time to headers from when it went out, not from when it
 * was queued — else a node busy with long downloads looks slow to every request behind them.
 */
import assert from 'node:assert/strict';
import { createServer as httpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as netServer, type AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { request } from 'undici';
import type { AttemptOutcome } from '../../../proxy/balancer/types.ts';
import type { ProxyTimeouts } from '../../../proxy/config/types.ts';
import { UpstreamPool } from '../../../proxy/http1/pool.ts';
import { forwardGet } from './forward-direct.ts';

void test('time in the queue for a connection is not the node latency', async () => {
  // The backend answers /slow when released (QUEUED_MS after /fast reached the proxy, so /fast
  // waits that long for the one connection), anything else at once.
  const QUEUED_MS = 300;
  let releaseSlow: () => void = () => undefined;
  const slowSeen = Promise.withResolvers<void>();
  const backend = netServer((s) => {
    s.on('data', (d: Buffer) => {
      const answer = () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      if (d.toString('latin1').startsWith('GET /slow ')) {
        releaseSlow = answer;
        slowSeen.resolve();
      } else answer();
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  after(() => backend.close());
  const pool = new UpstreamPool(`http://127.0.0.1:${(backend.address() as AddressInfo).port}`, {
    connections: 1, // the second request waits for the first's connection
    keepAliveTimeoutMs: 4000,
    maxConnectionAgeMs: 0,
    connectTimeoutMs: 1000,
  });
  after(() => void pool.destroy());
  const timeouts = { clientIdleMs: 0, backendFirstByteMs: 5000, backendIdleMs: 5000 } as ProxyTimeouts;
  const outcomes = new Map<string, AttemptOutcome>();
  const proxy = httpServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/fast') setTimeout(() => releaseSlow(), QUEUED_MS);
    void forwardGet(req, res, pool, req.url!, timeouts).then((r) => outcomes.set(req.url!, r.outcome));
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  after(() => {
    proxy.closeAllConnections();
    proxy.close();
  });
  const base = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const slow = request(`${base}/slow`).then((r) => r.body.text());
  await slowSeen.promise; // /slow holds the connection before /fast is sent
  const fast = request(`${base}/fast`).then((r) => r.body.text());
  assert.deepEqual(await Promise.all([slow, fast]), ['ok', 'ok']);
  for (let i = 0; i < 500 && outcomes.size < 2; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(outcomes.get('/slow')!.headersMs! >= QUEUED_MS);
  // Counted from the queue, /fast would show at least QUEUED_MS; from when it went out, the
  // backend's immediate answer.
  const fastMs = outcomes.get('/fast')!.headersMs!;
  assert.ok(fastMs < QUEUED_MS, `fast: ${fastMs} ms`);
});
