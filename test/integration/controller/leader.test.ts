/**
 * Leader election on the real API server: two controller replicas, one Lease; only the
 * leader writes; when it stops, the other takes over and reconciles.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { podSecretName } from '../../../operator/contract.ts';
import { KubeClient } from '../../../operator/kube/client.ts';
import { LeaderElector } from '../../../operator/kube/leader.ts';
import type { Controller } from '../../../operator/controller/controller.ts';
import type { OperatorMetrics } from '../../../operator/metrics.ts';
import { createPod, eventually, newController, readSecret, startEnv, type Env } from './harness.ts';

let env: Env;
const replicas: { elector: LeaderElector; controller: Controller; metrics: OperatorMetrics; name: string }[] =
  [];

void before(async () => {
  env = await startEnv();
  for (const name of ['replica-a', 'replica-b']) {
    const { controller, metrics } = newController(env.cp.kubeConfig);
    const elector = new LeaderElector(new KubeClient(env.cp.kubeConfig), {
      namespace: 'sluice-system',
      name: 'sluice-operator-leader',
      identity: name,
      // Generous: the leader first renews only after controller.start() (informer syncs) has
      // returned, and the follower takes over a Lease it has seen unchanged for leaseDuration —
      // 3 s was within reach of a slow start on 2 busy cores. Hand-over stays immediate: stop()
      // releases the Lease.
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 300,
      onStartedLeading: () => controller.start(),
      onStoppedLeading: () => controller.stop(),
    });
    replicas.push({ elector, controller, metrics, name });
  }
});

void after(async () => {
  for (const r of replicas) await r.elector.stop();
  await env?.cp.stop();
});

async function writes(m: OperatorMetrics): Promise<number> {
  const v = await m.secretWritesTotal.get();
  return v.values.reduce((a, x) => a + x.value, 0);
}

void test('two replicas: exactly one leads and only it writes; the other takes over when it stops', async () => {
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

  const lease = await env.admin.get<{ spec: { holderIdentity: string } }>(
    '/apis/coordination.k8s.io/v1/namespaces/sluice-system/leases/sluice-operator-leader',
  );
  assert.equal(lease.spec.holderIdentity, leader.name);

  await leader.elector.stop(); // releases the Lease
  await eventually('the follower leads', () => (follower.elector.isLeader ? true : undefined));
  await createPod(env.admin, { ns: 'default', name: 'p2', identity: 'le-2' });
  await eventually('Secret for p2', () => readSecret(env.admin, 'default', podSecretName('le-2')));
  await eventually('the new leader counts its write', async () =>
    (await writes(follower.metrics)) >= 1 ? true : undefined,
  );
});
