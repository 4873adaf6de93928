/**
 * Leader election on the real API server: two controller replicas, one Lease; only the
 * leader writes; when it stops, the other takes over and reconciles. A leader renews while its
 * controller is still starting, and a replica that loses the Lease and wins it back reconciles
 * again (a fresh controller per term).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { podSecretName } from '../../../operator/contract.ts';
import { controllerPerTerm } from '../../../operator/controller/controller.ts';
import { KubeClient } from '../../../operator/kube/client.ts';
import { LeaderElector } from '../../../operator/kube/leader.ts';
import { createOperatorMetrics, type OperatorMetrics } from '../../../operator/metrics.ts';
import { createPod, eventually, newController, readSecret, startEnv, type Env } from './harness.ts';

let env: Env;
const LEASES = '/apis/coordination.k8s.io/v1/namespaces/sluice-system/leases';
const electors: LeaderElector[] = [];

void before(async () => {
  env = await startEnv();
});

void after(async () => {
  for (const e of electors) await e.stop();
  await env?.cp.stop();
});

interface Replica {
  elector: LeaderElector;
  metrics: OperatorMetrics;
  name: string;
  terms: number;
}

function replica(
  name: string,
  lease: string,
  timings = { leaseDurationMs: 4_000, renewDeadlineMs: 3_000 },
): Replica {
  const metrics = createOperatorMetrics();
  const r: Replica = { name, metrics, terms: 0, elector: undefined as unknown as LeaderElector };
  const terms = controllerPerTerm(() => {
    r.terms++;
    return newController(env.cp.kubeConfig, { metrics }).controller;
  });
  r.elector = new LeaderElector(new KubeClient(env.cp.kubeConfig), {
    namespace: 'sluice-system',
    name: lease,
    identity: name,
    ...timings,
    retryPeriodMs: 300,
    onStartedLeading: () => terms.onStartedLeading(),
    onStoppedLeading: () => terms.onStoppedLeading(),
  });
  electors.push(r.elector);
  return r;
}

async function writes(m: OperatorMetrics): Promise<number> {
  const v = await m.secretWritesTotal.get();
  return v.values.reduce((a, x) => a + x.value, 0);
}

void test('two replicas: exactly one leads and only it writes; the other takes over when it stops', async () => {
  const replicas = [replica('replica-a', 'two-replicas'), replica('replica-b', 'two-replicas')];
  for (const r of replicas) r.elector.start();
  const leader = await eventually('a leader', () => replicas.find((r) => r.elector.isLeader));
  const follower = replicas.find((r) => r !== leader);
  assert.ok(follower);
  assert.equal(follower.elector.isLeader, false);

  await createPod(env.admin, { ns: 'default', name: 'p1', identity: 'le-1' });
  await eventually('Secret for p1', () => readSecret(env.admin, 'default', podSecretName('le-1')));
  // The Secret is visible on the API server a moment before the writer's create call returns
  // and counts it, so wait for the count rather than read it once.
  await eventually('the leader counts its write', async () =>
    (await writes(leader.metrics)) >= 1 ? true : undefined,
  );
  assert.equal(await writes(follower.metrics), 0, 'the follower wrote');
  assert.equal(follower.elector.isLeader, false);

  const lease = await env.admin.get<{ spec: { holderIdentity: string } }>(`${LEASES}/two-replicas`);
  assert.equal(lease.spec.holderIdentity, leader.name);

  await leader.elector.stop(); // releases the Lease
  await eventually('the follower leads', () => (follower.elector.isLeader ? true : undefined));
  await createPod(env.admin, { ns: 'default', name: 'p2', identity: 'le-2' });
  await eventually('Secret for p2', () => readSecret(env.admin, 'default', podSecretName('le-2')));
  await eventually('the new leader counts its write', async () =>
    (await writes(follower.metrics)) >= 1 ? true : undefined,
  );
  await follower.elector.stop();
});

void test('a leader renews its Lease while its start is still running; no one else leads meanwhile', async () => {
  let releaseStart: () => void = () => undefined;
  const slowStart = new Promise<void>((r) => (releaseStart = r));
  const a = new LeaderElector(new KubeClient(env.cp.kubeConfig), {
    namespace: 'sluice-system',
    name: 'slow-start',
    identity: 'slow',
    // Long enough that a stall of the API server or etcd on 2 busy cores (seconds at worst)
    // does not end a's leadership on its own.
    leaseDurationMs: 4_000,
    renewDeadlineMs: 3_000,
    retryPeriodMs: 200,
    onStartedLeading: () => slowStart, // caches that take long to sync
    onStoppedLeading: () => releaseStart(),
  });
  electors.push(a);
  a.start();
  await eventually('the slow one leads', () => (a.isLeader ? true : undefined));
  const b = replica('eager', 'slow-start', { leaseDurationMs: 4_000, renewDeadlineMs: 3_000 });
  b.elector.start();
  // Three lease durations: without renewals the Lease would have gone to b after one.
  const until = Date.now() + 12_000;
  while (Date.now() < until) {
    assert.equal(b.elector.isLeader, false, 'a second leader while the first was starting');
    assert.equal(a.isLeader, true);
    await sleep(100);
  }
  releaseStart();
  await a.stop();
  await eventually('b leads once a releases', () => (b.elector.isLeader ? true : undefined));
  await b.elector.stop();
});

void test('a replica that loses the Lease and wins it back reconciles again', async () => {
  const r = replica('comeback', 'comeback', { leaseDurationMs: 2_000, renewDeadlineMs: 1_500 });
  r.elector.start();
  await eventually('it leads', () => (r.elector.isLeader ? true : undefined));
  await createPod(env.admin, { ns: 'default', name: 'p3', identity: 'le-3' });
  await eventually('Secret for p3', () => readSecret(env.admin, 'default', podSecretName('le-3')));
  // Another holder takes the Lease (as after an API server blip longer than renewDeadline) and
  // never renews it: the replica steps down, then takes it back once it has expired.
  const lease = await env.admin.get<{ spec: Record<string, unknown> }>(`${LEASES}/comeback`);
  await env.admin.replace(`${LEASES}/comeback`, {
    ...lease,
    spec: {
      ...lease.spec,
      holderIdentity: 'intruder',
      renewTime: new Date().toISOString().replace('Z', '000Z'),
    },
  });
  await eventually('it steps down', () => (!r.elector.isLeader ? true : undefined));
  await eventually('it leads again', () => (r.elector.isLeader ? true : undefined));
  assert.equal(r.terms, 2);
  await createPod(env.admin, { ns: 'default', name: 'p4', identity: 'le-4' });
  await eventually('Secret for p4, written in the second term', () =>
    readSecret(env.admin, 'default', podSecretName('le-4')),
  );
  await r.elector.stop();
});
