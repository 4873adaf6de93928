/**
 * The chart's RBAC is sufficient and least-privilege, checked by the real kube-apiserver's RBAC
 * authorizer: the chart is installed, then requests are made AS the operator's ServiceAccount
 * (a client certificate whose user and groups are the ServiceAccount's, signed by the test bed's
 * CA) — SelfSubjectAccessReviews (what `kubectl auth can-i --as` asks) and real calls.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AdmissionregistrationV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  type KubeConfig,
  type V1ResourceAttributes,
} from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../../testbed/kube.ts';
import { template } from '../../unit/chart/helm.ts';
import { core, ensureNamespace, errorBody, install } from './apply.ts';

const NS = 'sluice-system';
const SA = 'sluice';
const WEBHOOK_CONFIG = 'sluice-injector';
const LEASE = 'sluice-leader';

let cp: ControlPlane;
let asOperator: KubeConfig;

before(async () => {
  cp = await startControlPlane();
  await install(cp.kubeConfig, template({ release: 'sluice', namespace: NS, includeCrds: true }), NS);
  await ensureNamespace(cp.kubeConfig, 'apps');
  // Another party's webhook configuration, to prove the operator cannot touch it.
  await cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({
    body: { metadata: { name: 'someone-elses-webhook' }, webhooks: [] },
  });
  asOperator = cp.kubeconfigFor(`system:serviceaccount:${NS}:${SA}`, [
    'system:serviceaccounts',
    `system:serviceaccounts:${NS}`,
  ]).kubeConfig;
});
after(async () => {
  await cp?.stop();
});

/** `kubectl auth can-i` as the operator: the API server's own RBAC decision. */
async function can(attrs: V1ResourceAttributes): Promise<boolean> {
  const review = await asOperator.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
    body: { spec: { resourceAttributes: attrs } },
  });
  return review.status?.allowed === true;
}

type Check = [
  verb: string,
  resource: string,
  opts?: { group?: string; ns?: string; name?: string; sub?: string },
];
const label = ([verb, resource, o = {}]: Check): string =>
  `${verb} ${o.group ? `${resource}.${o.group}` : resource}${o.sub ? `/${o.sub}` : ''}${o.name ? ` ${o.name}` : ''} ${o.ns ? `in ${o.ns}` : 'cluster-wide'}`;
const attrs = ([verb, resource, o = {}]: Check): V1ResourceAttributes => ({
  verb,
  resource,
  group: o.group ?? '',
  ...(o.ns && { namespace: o.ns }),
  ...(o.name && { name: o.name }),
  ...(o.sub && { subresource: o.sub }),
});

void describe('the operator ServiceAccount CAN do what the controller and webhook need', () => {
  const sluice = { group: 'sluice.dev' };
  const needed: Check[] = [
    ['list', 'objectstores', sluice],
    ['watch', 'objectstores', sluice],
    ['list', 'bucketaccesses', sluice],
    ['watch', 'bucketaccesses', sluice],
    ['patch', 'bucketaccesses', { ...sluice, sub: 'status', ns: 'apps', name: 'ba' }],
    ['patch', 'objectstores', { ...sluice, sub: 'status', name: 'minio' }],
    ['list', 'pods'],
    ['watch', 'pods'],
    ['get', 'secrets', { ns: 'apps', name: 'sluice-pod-x' }],
    ['list', 'secrets'],
    ['watch', 'secrets'],
    ['create', 'secrets', { ns: 'apps' }],
    ['update', 'secrets', { ns: 'apps', name: 'sluice-pod-x' }],
    ['delete', 'secrets', { ns: 'apps', name: 'sluice-pod-x' }],
    ['list', 'nodes'],
    ['watch', 'nodes'],
    ['get', 'namespaces', { name: 'apps' }],
    ['list', 'namespaces'],
    ['watch', 'namespaces'],
    ['create', 'events', { ns: 'apps' }],
    ['create', 'leases', { group: 'coordination.k8s.io', ns: NS }],
    ['get', 'leases', { group: 'coordination.k8s.io', ns: NS, name: LEASE }],
    ['update', 'leases', { group: 'coordination.k8s.io', ns: NS, name: LEASE }],
    ['get', 'mutatingwebhookconfigurations', { group: 'admissionregistration.k8s.io', name: WEBHOOK_CONFIG }],
    [
      'patch',
      'mutatingwebhookconfigurations',
      { group: 'admissionregistration.k8s.io', name: WEBHOOK_CONFIG },
    ],
  ];
  for (const c of needed) {
    void test(label(c), async () => {
      assert.equal(await can(attrs(c)), true);
    });
  }
});

void describe('the operator ServiceAccount CANNOT do anything else that matters', () => {
  const denied: Check[] = [
    // It never creates, changes or deletes pods (the webhook mutates through admission).
    ['create', 'pods', { ns: 'apps' }],
    ['patch', 'pods', { ns: 'apps', name: 'p' }],
    ['delete', 'pods', { ns: 'apps', name: 'p' }],
    ['create', 'pods', { ns: 'apps', name: 'p', sub: 'exec' }],
    // Verbs the operator's calls never use (test/unit/chart/rbac.test.ts CALLS): status is
    // merge-patched, Secrets and the Lease are PUT, the webhook configuration JSON-patched.
    ['update', 'objectstores', { group: 'sluice.dev', sub: 'status', name: 'minio' }],
    ['update', 'bucketaccesses', { group: 'sluice.dev', sub: 'status', ns: 'apps', name: 'ba' }],
    ['patch', 'secrets', { ns: 'apps', name: 'sluice-pod-x' }],
    ['patch', 'leases', { group: 'coordination.k8s.io', ns: NS, name: LEASE }],
    [
      'update',
      'mutatingwebhookconfigurations',
      { group: 'admissionregistration.k8s.io', name: WEBHOOK_CONFIG },
    ],
    ['watch', 'mutatingwebhookconfigurations', { group: 'admissionregistration.k8s.io' }],
    // Users' specs are theirs.
    ['update', 'bucketaccesses', { group: 'sluice.dev', ns: 'apps', name: 'ba' }],
    ['create', 'objectstores', { group: 'sluice.dev' }],
    ['delete', 'bucketaccesses', { group: 'sluice.dev', ns: 'apps', name: 'ba' }],
    // Only its own Lease, only in its namespace.
    ['update', 'leases', { group: 'coordination.k8s.io', ns: NS, name: 'kube-scheduler' }],
    ['create', 'leases', { group: 'coordination.k8s.io', ns: 'kube-system' }],
    // Only its own webhook configuration; no other admission configuration at all.
    [
      'patch',
      'mutatingwebhookconfigurations',
      { group: 'admissionregistration.k8s.io', name: 'someone-elses-webhook' },
    ],
    ['list', 'mutatingwebhookconfigurations', { group: 'admissionregistration.k8s.io' }],
    ['create', 'mutatingwebhookconfigurations', { group: 'admissionregistration.k8s.io' }],
    [
      'delete',
      'mutatingwebhookconfigurations',
      { group: 'admissionregistration.k8s.io', name: WEBHOOK_CONFIG },
    ],
    ['patch', 'validatingwebhookconfigurations', { group: 'admissionregistration.k8s.io', name: 'x' }],
    // No escalation paths.
    ['create', 'clusterrolebindings', { group: 'rbac.authorization.k8s.io' }],
    ['patch', 'clusterroles', { group: 'rbac.authorization.k8s.io', name: 'sluice' }],
    ['create', 'rolebindings', { group: 'rbac.authorization.k8s.io', ns: 'apps' }],
    ['impersonate', 'users'],
    ['impersonate', 'serviceaccounts', { ns: 'apps' }],
    ['create', 'serviceaccounts', { ns: 'apps', name: 'default', sub: 'token' }],
    ['create', 'customresourcedefinitions', { group: 'apiextensions.k8s.io' }],
    [
      'patch',
      'customresourcedefinitions',
      { group: 'apiextensions.k8s.io', name: 'bucketaccesses.sluice.dev' },
    ],
    // Nothing else it could use to run code or change the cluster.
    ['update', 'nodes', { name: 'n' }],
    ['delete', 'namespaces', { name: 'apps' }],
    ['create', 'configmaps', { ns: 'apps' }],
    ['create', 'deployments', { group: 'apps', ns: 'apps' }],
    ['patch', 'deployments', { group: 'apps', ns: NS, name: 'sluice' }],
    ['get', 'configmaps', { ns: 'kube-system', name: 'extension-apiserver-authentication' }],
  ];
  for (const c of denied) {
    void test(label(c), async () => {
      assert.equal(await can(attrs(c)), false);
    });
  }
});

void describe('real calls as the operator', () => {
  void test('writes a per-pod Secret in an app namespace, reads it back, deletes it', async () => {
    const api = core(asOperator);
    const body = {
      metadata: { name: 'sluice-pod-abc', labels: { 'app.kubernetes.io/managed-by': 'sluice' } },
      stringData: { 'policy.json': '{}' },
    };
    await api.createNamespacedSecret({ namespace: 'apps', body });
    const got = await api.readNamespacedSecret({ namespace: 'apps', name: 'sluice-pod-abc' });
    assert.equal(got.metadata?.labels?.['app.kubernetes.io/managed-by'], 'sluice');
    await api.deleteNamespacedSecret({ namespace: 'apps', name: 'sluice-pod-abc' });
  });

  void test('creating a pod is forbidden', async () => {
    await assert.rejects(
      core(asOperator).createNamespacedPod({
        namespace: 'apps',
        body: { metadata: { name: 'x' }, spec: { containers: [{ name: 'c', image: 'i' }] } },
      }),
      (err: unknown) =>
        /forbidden/i.test(errorBody(err)) && /cannot create resource "pods"/.test(errorBody(err)),
    );
  });

  void test('takes the leader Lease in its namespace, not another one', async () => {
    const api = asOperator.makeApiClient(CoordinationV1Api);
    const lease = {
      metadata: { name: LEASE },
      spec: { holderIdentity: 'sluice-0', leaseDurationSeconds: 15 },
    };
    const created = await api.createNamespacedLease({ namespace: NS, body: lease });
    await api.replaceNamespacedLease({
      namespace: NS,
      name: LEASE,
      body: { ...created, spec: { ...created.spec, holderIdentity: 'sluice-1' } },
    });
    const other = await cp.kubeConfig.makeApiClient(CoordinationV1Api).createNamespacedLease({
      namespace: NS,
      body: { metadata: { name: 'other' }, spec: { holderIdentity: 'someone' } },
    });
    await assert.rejects(
      api.replaceNamespacedLease({
        namespace: NS,
        name: 'other',
        body: { ...other, spec: { holderIdentity: 'sluice-0' } },
      }),
      (err: unknown) => /forbidden/i.test(errorBody(err)),
    );
  });

  void test('patches the caBundle of its own webhook configuration, and of no other', async () => {
    const api = asOperator.makeApiClient(AdmissionregistrationV1Api);
    const pem = Buffer.from('-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n').toString('base64');
    const own = await api.readMutatingWebhookConfiguration({ name: WEBHOOK_CONFIG });
    const ops = (own.webhooks ?? []).map((_w, i) => ({
      op: 'add',
      path: `/webhooks/${i}/clientConfig/caBundle`,
      value: pem,
    }));
    const patched = await api.patchMutatingWebhookConfiguration({ name: WEBHOOK_CONFIG, body: ops });
    assert.ok(patched.webhooks?.length && patched.webhooks.every((w) => w.clientConfig.caBundle === pem));
    await assert.rejects(
      api.patchMutatingWebhookConfiguration({
        name: 'someone-elses-webhook',
        body: [{ op: 'add', path: '/metadata/labels', value: { x: 'y' } }],
      }),
      (err: unknown) => /forbidden/i.test(errorBody(err)),
    );
  });
});
