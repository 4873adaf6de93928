// Balancing through the real proxy on a real 4-node MinIO cluster: a node cut off under load costs
// no client a failed request, a slowed node loses its share, a reconnected node is health-checked
// back in. Assertions are on counts and shares, never on timings. "Cut off" (minio.cutNode: its
// relay refuses and resets connections, exactly what killNode shows the proxy) rather than killed:
// while the others notice a killed node, MinIO itself answers NoSuchKey for existing objects
// (test/testbed/minio.ts, zones.test.ts), which the proxy rightly relays and "zero failed GETs"
// would count against it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import type { PoolSnapshot } from '../../../proxy/balancer/index.ts';
import { startMinioCluster } from '../../testbed/minio.ts';
import type { MinioCluster } from '../../testbed/minio.ts';
import { startStack } from '../proxy/stack.ts';
import type { Stack } from '../proxy/stack.ts';
import { until } from '../../testbed/until.ts';
import {
  attemptsPerNode,
  FAST_CHECKS,
  nodeBackend,
  poolSnapshot,
  type BackendSnapshot,
} from './debug-backends.ts';

const BUCKET = 'balancing';
const KEYS = ['a', 'b', 'c', 'd'];

let minio: MinioCluster;
let stack: Stack;
let s3: S3Client;

before(async () => {
  minio = await startMinioCluster({ nodes: 4 });
  stack = await startStack({
    minio,
    buckets: [BUCKET],
    proxyOptions: FAST_CHECKS,
  });
  s3 = stack.client(); // maxAttempts 1: the SDK never retries, so every proxy failure shows
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  for (const k of KEYS) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: k, Body: `object ${k}` }));
  await until(async () => (await backends()).every((b) => b.state === 'healthy'), 'all backends healthy');
});
after(async () => {
  await stack?.stop();
  await minio?.stop();
});

const debug = (): Promise<PoolSnapshot> => poolSnapshot(stack.proxy.adminUrl, 'minio');
const backends = async (): Promise<BackendSnapshot[]> => (await debug()).backends;
const node = (i: number): Promise<BackendSnapshot> => nodeBackend(stack.proxy.adminUrl, 'minio', minio, i);

/** `total` GETs from `workers` concurrent loops; returns the errors seen. `during` runs mid-way. */
async function load(total: number, workers: number, during?: () => Promise<void>): Promise<unknown[]> {
  const errors: unknown[] = [];
  let issued = 0;
  let hook: Promise<void> | undefined;
  const worker = async (): Promise<void> => {
    while (issued < total) {
      const n = issued++;
      if (during && n === Math.floor(total / 4)) hook = during();
      try {
        const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEYS[n % KEYS.length]! }));
        assert.equal(await r.Body!.transformToString(), `object ${KEYS[n % KEYS.length]!}`);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  await hook;
  return errors;
}

const attempts = (): Promise<number[]> => attemptsPerNode(stack.proxy.adminUrl, 'minio', minio);

void describe('balancing on a 4-node MinIO cluster through the proxy', () => {
  void test('every node takes traffic while all are healthy', async () => {
    // Peak-EWMA avoids a node whose last sample was a spike (the set-up's bucket create or PUTs can
    // leave one) until its estimate decays (τ = 10 s), so traffic reaches every node *eventually*:
    // load in rounds until each has served, bounded by until()'s 600 polls.
    const before = await attempts();
    await until(async () => {
      assert.deepEqual(await load(50, 4), []);
      const now = await attempts();
      return now.every((a, i) => a > before[i]!);
    }, 'every node served a request');
  });

  void test('a node cut off under load: zero failed GETs, and it is marked down', async () => {
    const errors = await load(600, 6, () => minio.cutNode(2));
    assert.deepEqual(
      errors.map((e) => String(e)),
      [],
    );
    await until(async () => ['unhealthy', 'ejected'].includes((await node(2)).state), 'node 2 marked down');
    const before = (await node(2)).attempts;
    assert.deepEqual(await load(100, 4), []);
    assert.equal((await node(2)).attempts, before, 'a down node got traffic');
  });

  void test('the cut-off node reconnects and is health-checked back into service', async () => {
    await minio.startNode(2);
    await until(async () => (await node(2)).state === 'healthy', 'node 2 healthy again');
    const snap = await node(2);
    assert.ok(snap.health.consecutiveSuccesses >= 2);
    // Its latency estimate still carries the failure penalty and decays; wait for it to serve.
    await until(async () => {
      const before = (await node(2)).attempts;
      assert.deepEqual(await load(40, 4), []);
      return (await node(2)).attempts > before;
    }, 'node 2 serving again');
  });

  void test('a slowed node loses its share (peak-EWMA)', async () => {
    minio.setDelay(1, 100);
    try {
      // Let the estimate see the slowness: a few requests land on it at first.
      assert.deepEqual(await load(100, 4), []);
      const before = await attempts();
      assert.deepEqual(await load(400, 4), []);
      const after = await attempts();
      const delta = after.map((a, i) => a - before[i]!);
      const total = delta.reduce((s, d) => s + d, 0);
      assert.ok(total >= 400);
      const slowShare = delta[1]! / total;
      assert.ok(slowShare < 0.1, `slow node took ${(slowShare * 100).toFixed(1)}% (${delta.join('/')})`);
    } finally {
      minio.setDelay(1, 0);
    }
  });

  void test('/debug/backends and /metrics show the balancer state', async () => {
    const snap = await debug();
    assert.equal(snap.algorithm, 'peak-ewma');
    assert.equal(snap.backends.length, 4);
    for (const b of snap.backends) {
      assert.ok(b.host.startsWith('127.0.0.1:'));
      assert.equal(typeof b.ewmaMs, 'number');
      assert.ok(b.health.last !== null);
    }
    const text = await (await fetch(`${stack.proxy.adminUrl}/metrics`)).text();
    assert.match(text, /sluice_balancer_backend_state\{/);
    assert.match(
      text,
      /sluice_balancer_health_checks_total\{store="minio",backend="[^"]+",result="failure"\} [1-9]/,
    );
  });
});
