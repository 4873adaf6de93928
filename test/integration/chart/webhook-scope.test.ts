/**
 * The chart's MutatingWebhookConfiguration sends the API server to Sluice only for pods that
 * asked for injection. Proven on the real kube-apiserver with the webhook unreachable and
 * failurePolicy Fail: a pod the webhook would be called for is refused (naming the webhook),
 * every other pod is created untouched. So a Sluice outage blocks only opted-in pods.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { freePort } from '../../testbed/ports.ts';
import { startControlPlane, type ControlPlane } from '../../testbed/kube.ts';
import { one, template } from '../../unit/chart/helm.ts';
import { apply, core, ensureNamespace, errorBody } from './apply.ts';

const RELEASE_NS = 'sluice-system';
let cp: ControlPlane;

before(async () => {
  cp = await startControlPlane();
  // Nothing listens on this port: every call the API server makes to the webhook fails fast.
  const url = `https://127.0.0.1:${await freePort()}/mutate`;
  const mwc = one(
    template({ namespace: RELEASE_NS, values: { 'webhook.url': url } }),
    'MutatingWebhookConfiguration',
  );
  await apply(cp.kubeConfig, mwc);
  await ensureNamespace(cp.kubeConfig, RELEASE_NS);
  await ensureNamespace(cp.kubeConfig, 'apps');
  await ensureNamespace(cp.kubeConfig, 'enabled', { 'sluice.dev/injection': 'enabled' });
  await ensureNamespace(cp.kubeConfig, 'kube-system');
  // The API server's admission reads webhook configurations from an informer: wait (bounded)
  // until it applies this one, or a case expecting a call could see its pod created.
  for (let i = 0; (await create('apps', { 'sluice.dev/inject': 'true' })) !== 'inject.sluice.dev'; i++) {
    if (i >= 100) throw new Error('the MutatingWebhookConfiguration never took effect');
    await new Promise((r) => setTimeout(r, 100));
  }
});
after(async () => {
  await cp?.stop();
});

let seq = 0;
/** Creates a pod; resolves to the name of the webhook that refused it, or 'created'. */
async function create(namespace: string, annotations?: Record<string, string>): Promise<string> {
  const pod: V1Pod = {
    metadata: { name: `p${++seq}`, namespace, ...(annotations && { annotations }) },
    spec: { containers: [{ name: 'app', image: 'busybox' }] },
  };
  try {
    await core(cp.kubeConfig).createNamespacedPod({ namespace, body: pod });
    return 'created';
  } catch (err) {
    const msg = errorBody(err);
    const m = /failed calling webhook "([^"]+)"/.exec(msg);
    if (!m) throw new Error(`pod refused for another reason: ${msg}`, { cause: err });
    return m[1] as string;
  }
}

void describe('who the API server sends to the webhook (failurePolicy Fail, webhook down)', () => {
  const cases: [string, string, Record<string, string> | undefined, string][] = [
    ['plain pod, plain namespace', 'apps', undefined, 'created'],
    ['unrelated annotations, plain namespace', 'apps', { team: 'data' }, 'created'],
    ['inject "true", plain namespace', 'apps', { 'sluice.dev/inject': 'true' }, 'inject.sluice.dev'],
    [
      'inject "True" (a typo the webhook warns about)',
      'apps',
      { 'sluice.dev/inject': 'True' },
      'inject.sluice.dev',
    ],
    ['inject "false", plain namespace', 'apps', { 'sluice.dev/inject': 'false' }, 'created'],
    [
      'injected offline by `sluice inject` (needs its identity)',
      'apps',
      { 'sluice.dev/status': 'injected' },
      'inject.sluice.dev',
    ],
    ['plain pod, enabled namespace', 'enabled', undefined, 'namespace.inject.sluice.dev'],
    [
      'inject "true", enabled namespace',
      'enabled',
      { 'sluice.dev/inject': 'true' },
      'namespace.inject.sluice.dev',
    ],
    ['inject "false", enabled namespace', 'enabled', { 'sluice.dev/inject': 'false' }, 'created'],
    ['inject "true" in the release namespace', RELEASE_NS, { 'sluice.dev/inject': 'true' }, 'created'],
    ['inject "true" in kube-system', 'kube-system', { 'sluice.dev/inject': 'true' }, 'created'],
  ];
  for (const [what, ns, annotations, want] of cases) {
    void test(`${what}: ${want === 'created' ? 'not sent, created' : `sent to ${want}`}`, async () => {
      assert.equal(await create(ns, annotations), want);
    });
  }
});
