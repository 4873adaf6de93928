import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BackendNode } from '../../../proxy/balancer/backend.ts';
import { resolveBalancerOptions } from '../../../proxy/balancer/config.ts';
import { lookupResolver, parseEndpoint } from '../../../proxy/balancer/discovery.ts';
import { HttpProber } from '../../../proxy/balancer/health-check.ts';
import { systemClock } from '../../../proxy/balancer/random.ts';
import { largeReadBuffers } from '../../../proxy/http1/connection.ts';

// Active health checks against a real node:http server on port 0.

let server: Server;
let port: number;
let status = 200;
let hang = false;
let answer = 'ok';
const seen: IncomingHttpHeaders[] = [];
const paths: string[] = [];

before(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    paths.push(req.url!);
    if (hang) return; // never answers: the probe must time out
    res.writeHead(status).end(answer);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const spec = {
  name: 's',
  endpoints: [],
  region: 'us-east-1',
  addressing: 'path' as const,
  credentials: { file: 'x' },
  balancing: { healthCheck: { path: '/minio/health/live', timeoutMs: 300 } },
};

function backendAt(url: string): BackendNode {
  const ep = parseEndpoint({ url });
  const opts = resolveBalancerOptions(spec);
  return new BackendNode('s', ep, ep.literal ?? { address: '127.0.0.1', family: 4 }, opts, systemClock);
}

void describe('HTTP health probe', () => {
  const prober = new HttpProber(resolveBalancerOptions(spec).healthCheck, 500, systemClock);
  const backends: BackendNode[] = [];
  after(async () => {
    await prober.close();
    await Promise.all(backends.map((b) => b.dispatcher.close()));
  });

  void test('2xx is healthy, and the probe carries the endpoint name as Host', async () => {
    // A hostname endpoint dialled at its resolved address: the Host header keeps the name.
    const b = backendAt(`http://localhost:${port}`);
    backends.push(b);
    status = 200;
    const r = await prober.probe(b);
    assert.equal(r.ok, true);
    assert.equal(r.status, 200);
    assert.equal(seen.at(-1)!.host, `localhost:${port}`);
  });

  void test('probe connections leave the large read buffers to traffic', async () => {
    const b = backendAt(`http://127.0.0.1:${port}`);
    backends.push(b);
    status = 200;
    // An answer larger than a connection's first read buffer, which would grow any other one.
    answer = 'x'.repeat(64 * 1024);
    try {
      assert.equal((await prober.probe(b)).ok, true);
      assert.equal((await prober.probe(b)).ok, true);
    } finally {
      answer = 'ok';
    }
    assert.equal(largeReadBuffers(), 0, 'a probe connection took a large read buffer');
  });

  void test('5xx is a failure with its status', async () => {
    const b = backendAt(`http://127.0.0.1:${port}`);
    backends.push(b);
    status = 503;
    const r = await prober.probe(b);
    assert.deepEqual([r.ok, r.status, r.error], [false, 503, 'status 503']);
  });

  void test("a 403 fails MinIO's default expectation and passes another provider's (below 500)", async () => {
    const b = backendAt(`http://127.0.0.1:${port}`);
    backends.push(b);
    status = 403;
    const r = await prober.probe(b);
    assert.deepEqual([r.ok, r.status, r.error], [false, 403, 'status 403']);
    const ceph = new HttpProber(
      resolveBalancerOptions({ ...spec, provider: 'ceph', balancing: {} }).healthCheck,
      500,
      systemClock,
    );
    try {
      const before = seen.length;
      assert.deepEqual(await ceph.probe(b).then((p) => [p.ok, p.status]), [true, 403]);
      status = 500;
      assert.deepEqual(await ceph.probe(b).then((p) => [p.ok, p.status]), [false, 500]);
      assert.deepEqual(paths.slice(before), ['/', '/'], 'asked at the root');
    } finally {
      await ceph.close();
    }
  });

  void test('no answer within the timeout is a failure', async () => {
    const b = backendAt(`http://127.0.0.1:${port}`);
    backends.push(b);
    hang = true;
    try {
      const r = await prober.probe(b);
      assert.equal(r.ok, false);
      assert.ok(r.error !== undefined);
    } finally {
      hang = false;
      server.closeAllConnections();
    }
  });

  void test('an answer that keeps trickling past the timeout is a failure, not a wait', async () => {
    // Head at once, then a byte every 20 ms for 200 bytes (~4 s): no per-read timeout fires.
    let sent = 0;
    const slow = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': '200' });
      const tick = setInterval(() => {
        if (res.destroyed || sent === 200) return clearInterval(tick);
        sent++;
        res.write('x');
      }, 20);
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    try {
      const b = backendAt(`http://127.0.0.1:${(slow.address() as AddressInfo).port}`);
      backends.push(b);
      const r = await prober.probe(b);
      assert.equal(r.ok, false);
      assert.ok(sent < 200, `the probe waited for the whole body (${sent} bytes)`);
      assert.ok(r.error === 'PROBE_TIMEOUT' || r.error === 'BODY_TIMEOUT', r.error);
    } finally {
      slow.closeAllConnections();
      await new Promise((r) => slow.close(r));
    }
  });

  void test('a long answer is cut off after 64 KiB and judged by its status', async () => {
    let written = 0;
    let finished = false;
    const big = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(8 << 20) });
      const piece = Buffer.alloc(64 * 1024, 120);
      const pump = (): void => {
        while (written < 8 << 20 && !res.destroyed) {
          written += piece.length;
          if (!res.write(piece)) return void res.once('drain', pump);
        }
        finished = written >= 8 << 20;
        res.end();
      };
      pump();
    });
    await new Promise<void>((r) => big.listen(0, '127.0.0.1', r));
    try {
      const b = backendAt(`http://127.0.0.1:${(big.address() as AddressInfo).port}`);
      backends.push(b);
      const r = await prober.probe(b);
      assert.deepEqual([r.ok, r.status, r.error], [true, 200, undefined]);
      assert.equal(finished, false, 'the probe read the whole 8 MiB');
    } finally {
      big.closeAllConnections();
      await new Promise((r) => big.close(r));
    }
  });

  void test('a refused connection is a failure', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const b = backendAt(`http://127.0.0.1:${deadPort}`);
    backends.push(b);
    const r = await prober.probe(b);
    assert.deepEqual([r.ok, r.error], [false, 'ECONNREFUSED']);
  });
});

void describe('resolvers', () => {
  void test('lookup resolves localhost to loopback addresses', async () => {
    const { addresses } = await lookupResolver.resolve('localhost');
    assert.ok(addresses.length >= 1);
    assert.ok(addresses.every((a) => a.address === '127.0.0.1' || a.address === '::1'));
  });
});
