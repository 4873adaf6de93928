// Retries through the real proxy against real node:http backends on port 0: a 503 and a response
// cut mid-body are retried on the other backend for a bodiless GET; a PUT whose body was sent is
// never retried. Counts, not timings.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { parseProxyConfig } from '../../../proxy/config/parse.ts';
import { startProxy } from '../../../proxy/server.ts';
import type { ProxyHandle } from '../../../proxy/server.ts';

type Mode = 'slow-down' | 'cut' | 'ok' | 'drop-reused';
interface Backend {
  server: Server;
  url: string;
  mode: Mode;
  hits: { method: string; path: string }[];
}

const BODY = 'x'.repeat(1000);
let dir: string;
let good: Backend;
let bad: Backend;
let proxy: ProxyHandle;

async function backend(mode: Mode): Promise<Backend> {
  const b: Backend = { server: createServer(), url: '', mode, hits: [] };
  const served = new WeakMap<object, number>();
  b.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/minio/health/live') return void res.end();
      b.hits.push({ method: req.method!, path: req.url! });
      const n = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, n);
      if (b.mode === 'drop-reused' && n > 1) {
        // A kept-alive connection closed just as the next request came in, unanswered.
        req.socket.destroy();
        return;
      }
      if (b.mode === 'slow-down') {
        res.writeHead(503, { 'content-type': 'application/xml' });
        return void res.end(
          '<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
        );
      }
      if (b.mode === 'cut') {
        // Headers and a prefix of the body, then the connection dies: a node killed mid-response.
        res.writeHead(200, { 'content-length': String(BODY.length) });
        res.write(BODY.slice(0, 10), () => res.socket?.destroy());
        return;
      }
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.end(BODY);
    });
  });
  await new Promise<void>((r) => b.server.listen(0, '127.0.0.1', r));
  b.url = `http://127.0.0.1:${(b.server.address() as AddressInfo).port}`;
  return b;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-retry-it-'));
  const credentials = join(dir, 'creds.json');
  writeFileSync(credentials, JSON.stringify({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' }));
  good = await backend('ok');
  bad = await backend('slow-down');
  const config = parseProxyConfig({
    config: {
      listen: '127.0.0.1:0',
      admin: '127.0.0.1:0',
      logLevel: 'silent',
      stores: [
        {
          name: 's',
          endpoints: [bad.url, good.url],
          region: 'us-east-1',
          credentials: { file: credentials },
          // Round-robin, and no ejection during the test: every other first attempt hits `bad`.
          balancing: {
            algorithm: 'round-robin',
            outlier: { consecutive5xx: 1000, consecutiveConnectFailures: 1000 },
          },
        },
      ],
      grants: [{ store: 's', bucket: 'bkt', access: ['read', 'write'] }],
    },
    configDir: dir,
  });
  proxy = await startProxy(config, {
    balancer: {
      defaults: { healthCheck: { intervalMs: 100, rise: 1 }, retry: { budgetMinPerSecond: 1_000 } },
    },
  });
});
after(async () => {
  await proxy?.shutdown(1_000);
  for (const b of [good, bad]) {
    b?.server.closeAllConnections();
    await new Promise((r) => b?.server.close(r));
  }
  rmSync(dir, { recursive: true, force: true });
});

async function get(n: number): Promise<{ status: number; body: string }[]> {
  const out: { status: number; body: string }[] = [];
  for (let i = 0; i < n; i++) {
    const res = await request(`${proxy.url}/bkt/key-${i}`);
    out.push({ status: res.statusCode, body: await res.body.text() });
  }
  return out;
}

async function retries(reason: string): Promise<number> {
  const text = await (await request(`${proxy.adminUrl}/metrics`)).body.text();
  const m = new RegExp(`sluice_balancer_retries_total\\{store="s",reason="${reason}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

async function replays(b: Backend): Promise<number> {
  const text = await (await request(`${proxy.adminUrl}/metrics`)).body.text();
  const id = new URL(b.url).host;
  const line = text
    .split('\n')
    .find((l) => l.startsWith('sluice_balancer_backend_replays_total{') && l.includes(`backend="s/${id}"`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

void describe('retries through the proxy', () => {
  void test('a 503 SlowDown on a GET is retried on the other backend; the client sees only 200s', async () => {
    bad.mode = 'slow-down';
    bad.hits.length = 0;
    const results = await get(20);
    assert.deepEqual(
      new Set(results.map((r) => `${r.status} ${r.body.length}`)),
      new Set([`200 ${BODY.length}`]),
    );
    assert.ok(bad.hits.length >= 5, `bad backend saw ${bad.hits.length} requests`);
    assert.ok((await retries('slow-down')) >= bad.hits.length);
  });

  void test('a response cut mid-body is retried elsewhere, never a truncated 200', async () => {
    bad.mode = 'cut';
    bad.hits.length = 0;
    const results = await get(20);
    assert.ok(bad.hits.length >= 5, `bad backend saw ${bad.hits.length} requests`);
    for (const r of results) assert.deepEqual(r, { status: 200, body: BODY });
    assert.ok((await retries('reset')) >= bad.hits.length);
  });

  void test('a GET on a kept-alive connection the backend drops unanswered is sent again on a new one, not retried elsewhere', async () => {
    bad.mode = 'drop-reused';
    bad.hits.length = 0;
    const resetsBefore = await retries('reset');
    const results = await get(20);
    for (const r of results) assert.deepEqual(r, { status: 200, body: BODY });
    const dropped = bad.hits.length - new Set(bad.hits.map((h) => h.path)).size;
    assert.ok(dropped >= 1, `no request reached the bad backend twice (${bad.hits.length} hits)`);
    assert.equal(await replays(bad), dropped);
    assert.equal(await retries('reset'), resetsBefore, 'a replay is not a retry elsewhere');
  });

  void test('a PUT whose body went to the backend is not retried', async () => {
    bad.mode = 'slow-down';
    bad.hits.length = 0;
    good.hits.length = 0;
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await request(`${proxy.url}/bkt/put-${i}`, { method: 'PUT', body: 'payload' });
      await res.body.dump();
      statuses.push(res.statusCode);
    }
    const badPuts = bad.hits.filter((h) => h.method === 'PUT').length;
    const goodPuts = good.hits.filter((h) => h.method === 'PUT').length;
    assert.ok(badPuts > 0);
    assert.equal(badPuts + goodPuts, 10, 'a PUT was sent twice');
    assert.equal(statuses.filter((s) => s === 503).length, badPuts);
  });
});
