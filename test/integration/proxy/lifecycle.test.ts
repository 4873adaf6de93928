/**
 * Lifecycle against the real MinIO cluster: credentials swapped the way kubelet swaps a Secret
 * volume (a new directory, `..data` symlink renamed over), without dropping the request in
 * flight; keep-alive bounds; graceful drain on shutdown.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { request } from 'undici';
import { open, parseResponse, readAll } from './raw.ts';
import { startStack } from './stack.ts';
import type { Stack } from './stack.ts';
import { startMinioCluster } from '../../testbed/minio.ts';
import type { MinioCluster } from '../../testbed/minio.ts';
import { until } from '../../testbed/until.ts';

const B = 'lifecycle';
let minio: MinioCluster;
let s: Stack;
let secretDir: string;
let gen = 0;

/** Writes a new kubelet-style generation of the Secret volume and swaps ..data onto it. */
function swapSecret(creds: unknown): void {
  gen++;
  const ts = join(secretDir, `..2026_01_01_00_00_0${gen}`);
  mkdirSync(ts);
  writeFileSync(join(ts, 'minio.credentials.json'), JSON.stringify(creds));
  symlinkSync(ts, join(secretDir, '..data_tmp'));
  renameSync(join(secretDir, '..data_tmp'), join(secretDir, '..data'));
}

before(async () => {
  minio = await startMinioCluster({ nodes: 2, drivesPerNode: 2 });
  s = await startStack({ buckets: [B], minio, config: { keepAlive: { maxRequests: 3, maxAgeMs: 0 } } });
  await s.client().send(new CreateBucketCommand({ Bucket: B }));
  // The credentials file sits beside ..data, as in a mounted Secret volume.
  secretDir = s.dir;
});
after(async () => {
  await s?.stop();
  await minio?.stop();
});

void test('credentials reload on a ..data symlink swap, without dropping the request in flight', async () => {
  const good = { accessKeyId: minio.rootUser, secretAccessKey: minio.rootPassword };
  swapSecret(good);
  // Point the proxy's credentials file at the kubelet-style layout.
  rmSync(s.credentialsFile);
  symlinkSync(join('..data', 'minio.credentials.json'), s.credentialsFile);
  s.proxy.reload();
  const ok = await request(`${s.proxy.url}/${B}/k`, { method: 'PUT', body: 'v1' });
  assert.equal(ok.statusCode, 200, await ok.body.text());

  // An upload in flight across the swap: signed with the old keys (100 Continue is sent only
  // once the request is signed), it must complete.
  const sock = await open(s.proxy.url);
  sock.write(
    `PUT /${B}/inflight HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
  );
  assert.match(await readAll(sock, 10_000, '\r\n\r\n'), /^HTTP\/1\.1 100 Continue/);
  sock.write('half');
  swapSecret({ accessKeyId: 'wrong-key', secretAccessKey: 'wrong-secret-000' });
  let denied = false;
  for (let i = 0; i < 200 && !denied; i++) {
    const r = await request(`${s.proxy.url}/${B}/k`);
    await r.body.text();
    denied = r.statusCode === 403;
    if (!denied) await new Promise((r2) => setTimeout(r2, 25));
  }
  assert.ok(denied, 'new requests use the swapped (wrong) keys');
  sock.write('done');
  const done = parseResponse(await readAll(sock, 10_000));
  sock.destroy();
  assert.equal(done.status, 200, done.text);

  swapSecret(good);
  let back = false;
  for (let i = 0; i < 200 && !back; i++) {
    const r = await request(`${s.proxy.url}/${B}/inflight`);
    const text = await r.body.text();
    back = r.statusCode === 200 && text === 'halfdone';
    if (!back) await new Promise((r2) => setTimeout(r2, 25));
  }
  assert.ok(back, 'requests succeed again with the restored keys');
});

void test('keep-alive bound: the Nth response on a connection carries Connection: close', async () => {
  const sock = await open(s.proxy.url);
  const heads: string[] = [];
  for (let i = 0; i < 3; i++) {
    sock.write(`HEAD /${B}/k HTTP/1.1\r\nHost: x\r\n\r\n`);
    heads.push(await readAll(sock, 10_000, '\r\n\r\n'));
  }
  sock.destroy();
  assert.ok(!/connection: close/i.test(heads[0]!));
  assert.ok(!/connection: close/i.test(heads[1]!));
  assert.match(heads[2]!, /connection: close/i);
});

void test('shutdown: readiness flips, in-flight request finishes with Connection: close, then the listener is gone', async () => {
  const body = new PassThrough();
  const inflight = request(`${s.proxy.url}/${B}/drain`, {
    method: 'PUT',
    body,
    headers: { 'content-length': '4' },
  });
  body.write('dr');
  // In flight = the proxy's handler has it. A fixed pause could end before the connection was
  // even accepted on busy cores, and the drain then closes it as idle (or refuses it).
  await until(
    async () => ((await s.proxy.metrics.inFlight.get()).values[0]?.value ?? 0) >= 1,
    'the PUT in flight at the proxy',
  );
  const stopping = s.proxy.shutdown(30_000);
  let ready = 200;
  for (let i = 0; i < 100 && ready === 200; i++) {
    const r = await request(`${s.proxy.adminUrl}/readyz`).catch(() => undefined);
    ready = r?.statusCode ?? 0;
    await r?.body.text();
  }
  assert.equal(ready, 503);
  body.end('ai');
  const res = await inflight;
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers.connection, 'close');
  await res.body.text();
  await stopping;
  await assert.rejects(request(`${s.proxy.url}/${B}/drain`));
});
