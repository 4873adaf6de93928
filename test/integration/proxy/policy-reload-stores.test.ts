/**
 * The operator's most common flow, through the real proxy against the real MinIO cluster: the
 * pod starts with an explicit empty policy; a BucketAccess then names a store, and the Secret
 * volume is rewritten the kubelet way (atomic `..data` swap, e2e/harness/volumes.ts). The sidecar
 * must start serving that store without a restart, follow an endpoint removal without a client
 * error under load (and send nothing to the removed node afterwards), and stop serving the store
 * once it is removed. Every wait is a bounded poll, never a timed assertion.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { atomicWrite } from '../../../e2e/harness/volumes.ts';
import type { PoolSnapshot } from '../../../proxy/balancer/index.ts';
import { parseProxyConfig } from '../../../proxy/config/parse.ts';
import { startProxy } from '../../../proxy/server.ts';
import type { ProxyHandle } from '../../../proxy/server.ts';
import { startMinioCluster } from '../../testbed/minio.ts';
import type { MinioCluster } from '../../testbed/minio.ts';
import { CLIENT_KEYS } from './stack.ts';
import { until } from '../../testbed/until.ts';

const BUCKET = 'reloaded';
const KEY = 'hello.txt';
const EMPTY = { version: 1, stores: [], grants: [] };

let minio: MinioCluster;
let proxy: ProxyHandle;
let dir: string;
let volume: string;
let s3: S3Client;
let direct: S3Client;
const logs: Record<string, unknown>[] = [];

/** The pod Secret as the operator writes it: policy.json plus each store's credentials. */
function secret(policy: unknown, withCredentials: boolean): Map<string, Buffer> {
  const files = new Map([['policy.json', Buffer.from(JSON.stringify(policy))]]);
  if (withCredentials) {
    const creds = { accessKeyId: minio.rootUser, secretAccessKey: minio.rootPassword };
    files.set('minio.credentials.json', Buffer.from(JSON.stringify(creds)));
  }
  return files;
}

function policyWith(endpoints: string[]): unknown {
  return {
    version: 1,
    stores: [
      {
        name: 'minio',
        endpoints,
        region: minio.region,
        // Relative: resolved against the policy file's directory, i.e. the same Secret volume.
        credentials: { file: 'minio.credentials.json' },
        balancing: { healthCheck: { intervalMs: 200, timeoutMs: 1_000, rise: 1, fall: 2 } },
      },
    ],
    grants: [{ store: 'minio', bucket: BUCKET, access: ['read', 'list'], source: 'team-a/reader' }],
  };
}

before(async () => {
  minio = await startMinioCluster({ nodes: 2, drivesPerNode: 2 });
  dir = mkdtempSync(join(tmpdir(), 'sluice-reload-stores-'));
  volume = join(dir, 'secret');
  await atomicWrite(volume, secret(EMPTY, false));
  const policyFile = join(volume, 'policy.json');
  const config = parseProxyConfig({
    config: { listen: '127.0.0.1:0', admin: '127.0.0.1:0', logLevel: 'info' },
    configDir: dir,
    policy: { raw: EMPTY, file: policyFile },
  });
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const line of chunk.toString().split('\n'))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  proxy = await startProxy(config, { logDestination: sink, credentialPollMs: 1_000 });
  s3 = new S3Client({
    endpoint: proxy.url,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: CLIENT_KEYS,
    maxAttempts: 1, // the SDK never retries: every proxy failure shows
  });
  direct = new S3Client({
    endpoint: minio.endpoints[0],
    region: minio.region,
    forcePathStyle: true,
    credentials: { accessKeyId: minio.rootUser, secretAccessKey: minio.rootPassword },
  });
  await direct.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await direct.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: 'hello' }));
});

after(async () => {
  s3?.destroy();
  direct?.destroy();
  await proxy?.shutdown(1_000);
  await minio?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** GET through the proxy: the HTTP status (200, or the S3 error's status). */
async function get(): Promise<number> {
  try {
    const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY }));
    assert.equal(await r.Body?.transformToString(), 'hello');
    return 200;
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === undefined) throw err;
    return status;
  }
}

async function stores(): Promise<PoolSnapshot[]> {
  const res = await fetch(`${proxy.adminUrl}/debug/backends`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { stores: PoolSnapshot[] }).stores;
}

void test('empty policy → store added → endpoint removed under load → store removed, no restart', async () => {
  // 1. The explicit empty policy: deny by default, no pool.
  assert.equal(await get(), 403);
  assert.deepEqual(await stores(), []);

  // 2. A BucketAccess selects the pod: the Secret gains the store, its credentials and a grant.
  await atomicWrite(volume, secret(policyWith(minio.endpoints), true));
  await until(async () => (await get()) === 200, 'the GET allowed after the reload');
  const [pool] = await stores();
  assert.equal(pool?.store, 'minio');
  assert.deepEqual(pool.backends.map((b) => b.origin).sort(), [...minio.endpoints].sort());
  assert.ok(
    logs.some((l) => l.msg === 'policy reloaded' && (l.added as string[] | undefined)?.includes('minio')),
    'the reload is logged with the store it added',
  );

  // 3. The ObjectStore loses node 1 while 4 clients keep reading.
  const removed = minio.endpoints[1]!;
  const kept = minio.endpoints[0]!;
  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const worker = async (): Promise<void> => {
    while (!stop) {
      const status = await get().catch((err: Error) => err.message);
      if (status === 200) ok++;
      else failures.push(String(status));
    }
  };
  const load = Promise.all([worker(), worker(), worker(), worker()]);
  await until(() => ok >= 40, 'load running on both nodes');
  await atomicWrite(volume, secret(policyWith([kept]), true));
  await until(
    async () => (await stores())[0]?.backends.every((b) => b.origin !== removed) ?? false,
    'the removed node drained out of the pool',
  );
  const before = (await stores())[0]!.backends.find((b) => b.origin === kept)!.attempts;
  const okBefore = ok;
  await until(() => ok >= okBefore + 100, '100 more reads after the removal');
  stop = true;
  await load;
  const snap = (await stores())[0]!;
  assert.deepEqual(
    snap.backends.map((b) => b.origin),
    [kept],
    'nothing left that could route to the removed node',
  );
  // Up to one read per worker may have had its attempt counted before `before` was taken.
  assert.ok(
    snap.backends[0]!.attempts - before >= ok - okBefore - 4,
    'every read after the removal went to the kept node',
  );
  assert.deepEqual(failures, [], 'no client error during the change');

  // 4. The BucketAccess and the store go away: denied again, the pool drains and closes.
  await atomicWrite(volume, secret(EMPTY, false));
  await until(async () => (await get()) === 403, 'the GET denied again');
  await until(async () => (await stores()).length === 0, 'the store pool closed');
  assert.ok(
    logs.some((l) => l.msg === 'policy reloaded' && (l.removed as string[] | undefined)?.includes('minio')),
  );
});
