/**
 * `sluice operator` as the CLI wires it (startOperator): the webhook serves, the controller runs
 * once this replica holds the Lease, /readyz and /metrics answer.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Agent, fetch, request } from 'undici';
import type { AdmissionReview, Pod } from '../../../operator/webhook/types.ts';
import { reviewFor } from '../../fixtures/cases.ts';
import { podSecretName } from '../../../operator/contract.ts';
import { startOperator, type RunningOperator } from '../../../operator/cli.ts';
import { parseOperatorConfig } from '../../../operator/config.ts';
import { createPod, eventually, readSecret, startEnv, type Env } from './harness.ts';

let env: Env;
let op: RunningOperator;

void before(async () => {
  env = await startEnv();
  const config = parseOperatorConfig(
    {
      namespace: 'sluice-system',
      webhookPort: '0',
      healthPort: '0',
      metricsPort: '0',
      webhookIpSans: '127.0.0.1',
      leaderElectionLeaseDuration: '3s',
      leaderElectionRenewDeadline: '2s',
      leaderElectionRetryPeriod: '500ms',
      sidecarImage: 'example.invalid/sluice:test',
    },
    { podName: 'operator-0' },
  );
  op = await startOperator(config, env.cp.kubeConfig, pino({ level: 'silent' }));
});

void after(async () => {
  await op?.stop();
  await env?.cp.stop();
});

void test('the operator process serves /readyz, reconciles as leader, and exports its metrics', async () => {
  const ready = await fetch(`http://127.0.0.1:${op.healthPort}/readyz`);
  assert.equal(ready.status, 200);
  await createPod(env.admin, { ns: 'default', name: 'cli-pod', identity: 'cli-1' });
  await eventually('pod Secret written by the leader', () =>
    readSecret(env.admin, 'default', podSecretName('cli-1')),
  );
  // The Secret is visible a moment before the reconcile that wrote it returns and is counted.
  const metrics = await eventually('a successful pod reconcile counted', async () => {
    const text = await (await fetch(`http://127.0.0.1:${op.metricsPort}/metrics`)).text();
    return /sluice_operator_reconciles_total\{kind="pod",result="success"\} [1-9]/.test(text)
      ? text
      : undefined;
  });
  assert.match(metrics, /sluice_operator_is_leader 1/);
  assert.match(metrics, /sluice_operator_reconcile_duration_seconds_bucket/);
  const lease = await env.admin.get<{ spec: { holderIdentity: string } }>(
    '/apis/coordination.k8s.io/v1/namespaces/sluice-system/leases/sluice-operator-leader',
  );
  assert.match(lease.spec.holderIdentity, /^operator-0_/);
});

// A terminating replica turns unready first and serves on while the endpoints catch up.
void test('unready() turns /readyz to 503 while the webhook still serves', async () => {
  op.unready();
  assert.equal((await fetch(`http://127.0.0.1:${op.healthPort}/readyz`)).status, 503);
  assert.equal((await fetch(`http://127.0.0.1:${op.healthPort}/healthz`)).status, 200);
  // An admission still gets its answer (the self-signed certificate is not what is tested here).
  const pod: Pod = {
    metadata: { name: 'late', namespace: 'default', annotations: { 'sluice.dev/inject': 'true' } },
    spec: { containers: [{ name: 'app', image: 'x' }] },
  };
  const agent = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    const res = await request(`https://127.0.0.1:${op.webhookPort}/mutate`, {
      method: 'POST',
      body: JSON.stringify(reviewFor(pod, 'uid-while-unready')),
      headers: { 'content-type': 'application/json' },
      dispatcher: agent,
    });
    assert.equal(res.statusCode, 200);
    const review = (await res.body.json()) as AdmissionReview;
    assert.equal(review.response?.uid, 'uid-while-unready');
    assert.equal(review.response?.allowed, true);
    assert.ok(review.response?.patch, 'the sidecar patch');
  } finally {
    await agent.close();
  }
});
