/**
 * `sluice proxy` as a process: a start that fails half-way exits instead of lingering with one
 * listener open, and a repeated SIGTERM does not cut the drain short.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePort } from '../../testbed/ports.ts';
import { until } from '../../testbed/until.ts';

const root = join(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-life-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function startCli(config: object): ReturnType<typeof spawn> {
  const file = join(dir, `proxy-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(join(dir, 'c.json'), JSON.stringify({ accessKeyId: 'a', secretAccessKey: 'b' }));
  writeFileSync(file, JSON.stringify(config));
  return spawn(
    join(root, 'node_modules/.bin/node'),
    [join(root, 'bin/sluice.ts'), 'proxy', '--config', file],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
}

function exited(
  p: ReturnType<typeof spawn>,
  ms: number,
): Promise<{ code: number | null; signal: string | null } | 'running'> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve('running'), ms);
    p.once('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal });
    });
  });
}

function listenOn(server: Server, port: number): Promise<void> {
  return new Promise((r) => server.listen(port, '127.0.0.1', () => r()));
}

void test('a port in use: exit 1, the other listener does not stay open', async () => {
  const taken = createServer();
  await listenOn(taken, 0);
  const takenPort = (taken.address() as { port: number }).port;
  try {
    const p = startCli({
      listen: `127.0.0.1:${await freePort()}`,
      admin: `127.0.0.1:${takenPort}`,
      stores: [{ name: 's', endpoints: ['http://127.0.0.1:9'], credentials: { file: 'c.json' } }],
      grants: [],
    });
    let stderr = '';
    p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const end = await exited(p, 20_000);
    if (end === 'running') p.kill('SIGKILL');
    assert.deepEqual(end, { code: 1, signal: null }, stderr);
    assert.match(stderr, /could not start: .*EADDRINUSE/);
  } finally {
    taken.close();
  }
});

void test('a second SIGTERM while draining: the request in flight still finishes', async () => {
  // A backend that answers only when told: the request stays in flight across both signals.
  const held: Socket[] = [];
  // (Health checks get their answer at once.)
  const backend = createServer((s) => {
    s.on('data', (b: Buffer) => {
      if (b.toString('latin1').startsWith('GET /bkt/k ')) held.push(s);
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    });
  });
  await listenOn(backend, 0);
  const backendPort = (backend.address() as { port: number }).port;
  const [port, adminPort] = [await freePort(), await freePort()];
  const p = startCli({
    listen: `127.0.0.1:${port}`,
    admin: `127.0.0.1:${adminPort}`,
    shutdown: { graceMs: 10_000 },
    stores: [{ name: 's', endpoints: [`http://127.0.0.1:${backendPort}`], credentials: { file: 'c.json' } }],
    grants: [{ store: 's', bucket: 'bkt', access: ['read'] }],
  });
  try {
    const readyz = (): Promise<number> =>
      fetch(`http://127.0.0.1:${adminPort}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
    await until(async () => (await readyz()) === 200, 'the proxy is ready', { everyMs: 50, polls: 400 });
    const response = fetch(`http://127.0.0.1:${port}/bkt/k`);
    await until(() => held.length === 1, 'the request reached the backend', { everyMs: 20, polls: 500 });
    p.kill('SIGTERM');
    // The first signal taken (draining, unready) before the second is sent: two signals close
    // together could be handled as one.
    await until(async () => (await readyz()) === 503, 'the proxy is draining', { everyMs: 20, polls: 500 });
    p.kill('SIGTERM');
    assert.equal(await exited(p, 500), 'running', 'the second SIGTERM did not kill the drain');
    held[0]!.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const r = await response;
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'ok');
    assert.deepEqual(await exited(p, 10_000), { code: 0, signal: null });
  } finally {
    p.kill('SIGKILL');
    backend.close();
    for (const s of held) s.destroy();
  }
});
