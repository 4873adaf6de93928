/**
 * The controller against a real kube-apiserver, running as a user bound to exactly
 * operator/controller/rbac.yaml (so these tests also prove the RBAC is sufficient): grants
 * become per-pod Secrets, revocation and rotation reach them, pods going take their Secret
 * along, identities are never shared, zones come from nodes, status and Events are written.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PodPolicyDocument } from '../../../proxy/config/types.ts';
import { POLICY_KEY, credentialsKey, podSecretName } from '../../../operator/contract.ts';
import type { Controller } from '../../../operator/controller/controller.ts';
import type { BucketAccess, ObjectStoreSpec, Secret } from '../../../operator/controller/types.ts';
import { Informer } from '../../../operator/kube/informer.ts';
import {
  bindOperatorRbac,
  createAccess,
  createNamespace,
  createNode,
  createPod,
  createStore,
  credentialSecret,
  deletePod,
  eventually,
  newController,
  readSecret,
  startEnv,
  type Env,
} from './harness.ts';

let env: Env;
let controller: Controller;

const storeSpec = (
  secretName: string,
  allowed: ObjectStoreSpec['allowedNamespaces'] = {},
): ObjectStoreSpec => ({
  endpoints: [
    { url: 'http://127.0.0.1:9001', zone: 'zone-a' },
    { url: 'http://127.0.0.1:9002', zone: 'zone-b' },
  ],
  region: 'us-east-1',
  credentials: { secretRef: { namespace: 'sluice-system', name: secretName } },
  allowedNamespaces: allowed,
});

async function policyOf(ns: string, identity: string): Promise<PodPolicyDocument | undefined> {
  const s = await readSecret(env.admin, ns, podSecretName(identity));
  const raw = s?.data[POLICY_KEY];
  return raw === undefined ? undefined : (JSON.parse(raw) as PodPolicyDocument);
}

async function events(
  ns: string,
  reason: string,
): Promise<{ involvedObject: { name: string }; message: string }[]> {
  const l = await env.admin.list<{ reason: string; involvedObject: { name: string }; message: string }>(
    `/api/v1/namespaces/${ns}/events`,
  );
  return l.items.filter((e) => e.reason === reason);
}

void before(async () => {
  env = await startEnv();
  await bindOperatorRbac(env.admin, 'sluice-operator-test');
  await env.admin.create(
    '/api/v1/namespaces/sluice-system/secrets',
    credentialSecret('sluice-system', 'main-keys', 'AKIA1', 'secret1'),
  );
  await createStore(env.admin, 'main', storeSpec('main-keys'));
  await createStore(
    env.admin,
    'restricted',
    storeSpec('main-keys', { matchLabels: { 'storage-tier': 'gold' } }),
  );
  for (const ns of ['team-a', 'team-b', 'team-c', 'team-d']) await createNamespace(env.admin, ns);
  const identity = env.cp.kubeconfigFor('sluice-operator-test');
  ({ controller } = newController(identity.kubeConfig));
  await controller.start();
});

void after(async () => {
  await controller?.stop();
  await env?.cp.stop();
});

void describe('per-pod Secrets', () => {
  void test('a grant becomes the pod Secret: policy.json with the grant and store, credentials beside it, owned by the pod', async () => {
    await createAccess(env.admin, 'team-a', 'analytics', {
      storeRef: 'main',
      podSelector: { matchLabels: { app: 'analytics' } },
      grants: [{ bucket: 'data', prefixes: ['in/'], access: ['read', 'list'] }],
    });
    const pod = await createPod(env.admin, {
      ns: 'team-a',
      name: 'analytics-1',
      identity: 'id-a1',
      labels: { app: 'analytics' },
    });
    const doc = await eventually('policy with one grant', async () => {
      const d = await policyOf('team-a', 'id-a1');
      return d && d.grants.length === 1 ? d : undefined;
    });
    assert.deepEqual(doc.grants, [
      {
        store: 'main',
        bucket: 'data',
        prefixes: ['in/'],
        access: ['read', 'list'],
        source: 'team-a/analytics',
      },
    ]);
    assert.equal(doc.version, 1);
    assert.deepEqual(
      doc.stores.map((s) => s.name),
      ['main'],
    );
    assert.deepEqual(doc.stores[0]?.credentials, { file: credentialsKey('main') });
    assert.deepEqual(doc.stores[0]?.endpoints, storeSpec('x').endpoints);
    const s = await readSecret(env.admin, 'team-a', podSecretName('id-a1'));
    assert.deepEqual(JSON.parse(s?.data[credentialsKey('main')] ?? '{}'), {
      accessKeyId: 'AKIA1',
      secretAccessKey: 'secret1',
    });
    assert.deepEqual(s?.secret.metadata?.ownerReferences, [
      { apiVersion: 'v1', kind: 'Pod', name: 'analytics-1', uid: pod.metadata.uid, controller: true },
    ]);
    const ba = await eventually('BucketAccess Ready with 1 pod', async () => {
      const b = await env.admin.get<BucketAccess>(
        '/apis/sluice.dev/v1alpha1/namespaces/team-a/bucketaccesses/analytics',
      );
      return b.status?.matchedPods === 1 && b.status.conditions?.[0]?.status === 'True' ? b : undefined;
    });
    assert.equal(ba.status?.observedGeneration, ba.metadata?.generation);
    assert.equal(ba.status?.conditions?.[0]?.reason, 'Ready');
    await eventually('PolicyCreated Event on the pod', async () =>
      (await events('team-a', 'PolicyCreated')).find((e) => e.involvedObject.name === 'analytics-1'),
    );
  });

  void test('revoking (editing the BucketAccess, then deleting it) updates the Secret down to an empty policy', async () => {
    await env.admin.patch('/apis/sluice.dev/v1alpha1/namespaces/team-a/bucketaccesses/analytics', {
      spec: { grants: [{ bucket: 'data', prefixes: ['in/'], access: ['read'] }] },
    });
    await eventually('grant narrowed to read', async () => {
      const d = await policyOf('team-a', 'id-a1');
      return d?.grants[0]?.access.join() === 'read' ? d : undefined;
    });
    await env.admin.delete('/apis/sluice.dev/v1alpha1/namespaces/team-a/bucketaccesses/analytics');
    const doc = await eventually('empty policy', async () => {
      const d = await policyOf('team-a', 'id-a1');
      return d && d.grants.length === 0 ? d : undefined;
    });
    assert.deepEqual(doc, { version: 1, stores: [], grants: [] });
    const s = await readSecret(env.admin, 'team-a', podSecretName('id-a1'));
    assert.equal(s?.data[credentialsKey('main')], undefined, 'no credentials without a grant');
    await eventually('PolicyUpdated Event', async () => (await events('team-a', 'PolicyUpdated'))[0]);
  });

  void test('a pod with no grants gets an explicit empty policy, not a missing Secret', async () => {
    await createPod(env.admin, { ns: 'team-b', name: 'lonely', identity: 'id-lonely' });
    const doc = await eventually('empty policy Secret', () => policyOf('team-b', 'id-lonely'));
    assert.deepEqual(doc, { version: 1, stores: [], grants: [] });
  });

  void test('the identity label alone gets nothing: no sidecar container, or the host network', async () => {
    await createAccess(env.admin, 'team-b', 'label-probe', {
      storeRef: 'main',
      podSelector: { matchLabels: { probe: 'label' } },
      grants: [{ bucket: 'probe', access: ['read'] }],
    });
    const labels = { probe: 'label' };
    await createPod(env.admin, {
      ns: 'team-b',
      name: 'label-only',
      identity: 'id-label-only',
      noSidecar: true,
      labels,
    });
    await createPod(env.admin, {
      ns: 'team-b',
      name: 'on-host',
      identity: 'id-on-host',
      hostNetwork: true,
      labels,
    });
    // Created after them: once its Secret is there, theirs would have been written too.
    await createPod(env.admin, { ns: 'team-b', name: 'after-them', identity: 'id-after-them', labels });
    await eventually('the injected pod is served', () => policyOf('team-b', 'id-after-them'));
    assert.equal(await readSecret(env.admin, 'team-b', podSecretName('id-label-only')), undefined);
    assert.equal(await readSecret(env.admin, 'team-b', podSecretName('id-on-host')), undefined);
    // The BucketAccess counts the one pod it serves, not the two that only carry the label.
    const matched = async (): Promise<number | undefined> =>
      (
        await env.admin.get<BucketAccess>(
          '/apis/sluice.dev/v1alpha1/namespaces/team-b/bucketaccesses/label-probe',
        )
      ).status?.matchedPods;
    await eventually('matchedPods 1', async () => ((await matched()) === 1 ? true : undefined));
    // Again, later: a worker that took one of the two after the injected pod has written by now.
    assert.equal(await readSecret(env.admin, 'team-b', podSecretName('id-label-only')), undefined);
    assert.equal(await readSecret(env.admin, 'team-b', podSecretName('id-on-host')), undefined);
  });

  void test('serviceAccountName selects pods by service account; both selectors must match when both are set', async () => {
    await createAccess(env.admin, 'team-b', 'by-sa', {
      storeRef: 'main',
      serviceAccountName: 'loader',
      grants: [{ bucket: 'loads', access: ['write'] }],
    });
    await createAccess(env.admin, 'team-b', 'by-both', {
      storeRef: 'main',
      serviceAccountName: 'loader',
      podSelector: { matchLabels: { tier: 'batch' } },
      grants: [{ bucket: 'batch', access: ['delete'] }],
    });
    await createPod(env.admin, {
      ns: 'team-b',
      name: 'loader-1',
      identity: 'id-l1',
      serviceAccountName: 'loader',
    });
    await createPod(env.admin, {
      ns: 'team-b',
      name: 'other-sa',
      identity: 'id-l2',
      serviceAccountName: 'other',
      labels: { tier: 'batch' },
    });
    const d1 = await eventually('loader policy', async () => {
      const d = await policyOf('team-b', 'id-l1');
      return d && d.grants.length > 0 ? d : undefined;
    });
    assert.deepEqual(
      d1.grants.map((g) => g.bucket),
      ['loads'],
    );
    const d2 = await eventually('other policy', () => policyOf('team-b', 'id-l2'));
    assert.deepEqual(d2.grants, []);
  });

  void test('a second pod claiming the same identity gets nothing and a Warning; the first keeps its Secret', async () => {
    await createAccess(env.admin, 'team-c', 'web', {
      storeRef: 'main',
      podSelector: { matchLabels: { app: 'web' } },
      grants: [{ bucket: 'site', access: ['read'] }],
    });
    await createAccess(env.admin, 'team-c', 'thief', {
      storeRef: 'main',
      podSelector: { matchLabels: { app: 'thief' } },
      grants: [{ bucket: 'loot', access: ['read', 'write', 'delete'] }],
    });
    const first = await createPod(env.admin, {
      ns: 'team-c',
      name: 'web-1',
      identity: 'id-shared',
      labels: { app: 'web' },
    });
    await eventually('first pod served', async () =>
      (await policyOf('team-c', 'id-shared'))?.grants.length === 1 ? true : undefined,
    );
    await createPod(env.admin, {
      ns: 'team-c',
      name: 'thief-1',
      identity: 'id-shared',
      labels: { app: 'thief' },
    });
    const ev = await eventually('IdentityConflict Event', async () =>
      (await events('team-c', 'IdentityConflict')).find((e) => e.involvedObject.name === 'thief-1'),
    );
    assert.match(ev.message, /already held by pod web-1/);
    const s = await readSecret(env.admin, 'team-c', podSecretName('id-shared'));
    assert.equal(s?.secret.metadata?.ownerReferences?.[0]?.uid, first.metadata.uid);
    assert.deepEqual(
      (JSON.parse(s?.data[POLICY_KEY] ?? '{}') as PodPolicyDocument).grants.map((g) => g.bucket),
      ['site'],
    );
  });

  void test('pod deleted → its Secret is removed (no garbage collector here)', async () => {
    await createPod(env.admin, { ns: 'team-b', name: 'short-lived', identity: 'id-short' });
    await eventually('Secret created', () => readSecret(env.admin, 'team-b', podSecretName('id-short')));
    await deletePod(env.admin, 'team-b', 'short-lived');
    await eventually('Secret deleted', async () =>
      (await readSecret(env.admin, 'team-b', podSecretName('id-short'))) ? undefined : true,
    );
  });

  void test('a pod that finished (Succeeded) loses its Secret and no longer counts as matched', async () => {
    await createAccess(env.admin, 'team-b', 'jobs', {
      storeRef: 'main',
      podSelector: { matchLabels: { app: 'job' } },
      grants: [{ bucket: 'batch', access: ['write'] }],
    });
    await createPod(env.admin, { ns: 'team-b', name: 'job-1', identity: 'id-job', labels: { app: 'job' } });
    await eventually('Secret created', () => readSecret(env.admin, 'team-b', podSecretName('id-job')));
    const matched = async (): Promise<number | undefined> =>
      (await env.admin.get<BucketAccess>('/apis/sluice.dev/v1alpha1/namespaces/team-b/bucketaccesses/jobs'))
        .status?.matchedPods;
    await eventually('matched', async () => ((await matched()) === 1 ? true : undefined));
    const path = '/api/v1/namespaces/team-b/pods/job-1';
    const pod = await env.admin.get<{ status?: Record<string, unknown> }>(path);
    await env.admin.replace(`${path}/status`, { ...pod, status: { ...pod.status, phase: 'Succeeded' } });
    await eventually('Secret deleted', async () =>
      (await readSecret(env.admin, 'team-b', podSecretName('id-job'))) ? undefined : true,
    );
    await eventually('no longer matched', async () => ((await matched()) === 0 ? true : undefined));
  });

  void test('the node zone reaches policy.zone, and follows a relabelled node', async () => {
    await createNode(env.admin, 'node-1', 'zone-b');
    await createPod(env.admin, { ns: 'team-b', name: 'zoned', identity: 'id-zoned', nodeName: 'node-1' });
    await eventually('zone-b', async () =>
      (await policyOf('team-b', 'id-zoned'))?.zone === 'zone-b' ? true : undefined,
    );
    await env.admin.patch('/api/v1/nodes/node-1', {
      metadata: { labels: { 'topology.kubernetes.io/zone': 'zone-c' } },
    });
    await eventually('zone-c', async () =>
      (await policyOf('team-b', 'id-zoned'))?.zone === 'zone-c' ? true : undefined,
    );
  });

  void test('rotating the store Secret updates every affected pod Secret', async () => {
    await createAccess(env.admin, 'team-b', 'everyone', {
      storeRef: 'main',
      podSelector: {},
      grants: [{ bucket: 'shared', access: ['list'] }],
    });
    const ids = ['id-l1', 'id-l2', 'id-lonely'];
    for (const id of ids) {
      await eventually(
        `${id} has main credentials`,
        async () => (await readSecret(env.admin, 'team-b', podSecretName(id)))?.data[credentialsKey('main')],
      );
    }
    await env.admin.replace(
      '/api/v1/namespaces/sluice-system/secrets/main-keys',
      credentialSecret('sluice-system', 'main-keys', 'AKIA2', 'secret2'),
    );
    for (const id of ids) {
      await eventually(`${id} rotated`, async () => {
        const raw = (await readSecret(env.admin, 'team-b', podSecretName(id)))?.data[credentialsKey('main')];
        return raw && (JSON.parse(raw) as { accessKeyId: string }).accessKeyId === 'AKIA2' ? true : undefined;
      });
    }
  });

  void test('pointing a store at another Secret never drops its grants from a pod Secret on the way', async () => {
    await env.admin.create(
      '/api/v1/namespaces/sluice-system/secrets',
      credentialSecret('sluice-system', 'moving-keys-1', 'AKIAM1', 'secretm1'),
    );
    await env.admin.create(
      '/api/v1/namespaces/sluice-system/secrets',
      credentialSecret('sluice-system', 'moving-keys-2', 'AKIAM2', 'secretm2'),
    );
    await createStore(env.admin, 'moving', storeSpec('moving-keys-1'));
    await createAccess(env.admin, 'team-c', 'moving', {
      storeRef: 'moving',
      podSelector: { matchLabels: { app: 'mover' } },
      grants: [{ bucket: 'moved', access: ['read'] }],
    });
    await createPod(env.admin, {
      ns: 'team-c',
      name: 'mover-1',
      identity: 'id-m1',
      labels: { app: 'mover' },
    });
    await eventually('the grant reaches the pod', async () =>
      (await policyOf('team-c', 'id-m1'))?.grants.length ? true : undefined,
    );
    // Every version of the pod Secret written from here on, seen through a watch.
    const versions: number[] = [];
    let newKeysSeen = false; // through the watch: every write before it was recorded too
    let deleted = false;
    const watch = new Informer<Secret>(env.admin, {
      path: '/api/v1/namespaces/team-c/secrets',
      fieldSelector: `metadata.name=${podSecretName('id-m1')}`,
    });
    const record = (sec: Secret): void => {
      const raw = sec.data?.[POLICY_KEY];
      const doc = raw
        ? (JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as PodPolicyDocument)
        : undefined;
      versions.push(doc?.grants.length ?? 0);
      const creds = sec.data?.[credentialsKey('moving')];
      if (creds && Buffer.from(creds, 'base64').toString('utf8').includes('AKIAM2')) newKeysSeen = true;
    };
    watch.on('update', record);
    // Deleted and written again also drops the grants for a moment.
    watch.on('delete', () => (deleted = true));
    await watch.start();
    watch.on('add', record); // after the first list: an add now is the Secret made again
    try {
      const path = '/apis/sluice.dev/v1alpha1/objectstores/moving';
      const store = await env.admin.get<{ spec: ObjectStoreSpec }>(path);
      store.spec.credentials.secretRef.name = 'moving-keys-2';
      await env.admin.replace(path, store);
      await eventually('the pod has the new keys', async () => {
        const raw = (await readSecret(env.admin, 'team-c', podSecretName('id-m1')))?.data[
          credentialsKey('moving')
        ];
        return raw && (JSON.parse(raw) as { accessKeyId: string }).accessKeyId === 'AKIAM2'
          ? true
          : undefined;
      });
      await eventually('the watch saw the write with the new keys', () =>
        Promise.resolve(newKeysSeen ? true : undefined),
      );
    } finally {
      await watch.stop();
    }
    assert.equal(deleted, false, 'the pod Secret was deleted on the way');
    assert.ok(versions.length >= 1, 'no write seen');
    assert.ok(!versions.includes(0), `a write without the grant: grants per version ${versions.join(',')}`);
  });

  void test('a store that does not allow the namespace: StoreNotFound (as if it did not exist), and no grant reaches the pod', async () => {
    await createAccess(env.admin, 'team-b', 'gold', {
      storeRef: 'restricted',
      podSelector: {},
      grants: [{ bucket: 'gold', access: ['read'] }],
    });
    const ba = await eventually('StoreNotFound', async () => {
      const b = await env.admin.get<BucketAccess>(
        '/apis/sluice.dev/v1alpha1/namespaces/team-b/bucketaccesses/gold',
      );
      return b.status?.conditions?.[0]?.reason === 'StoreNotFound' ? b : undefined;
    });
    assert.equal(ba.status?.conditions?.[0]?.status, 'False');
    const before = ba.status?.conditions?.[0]?.lastTransitionTime;
    const d = await policyOf('team-b', 'id-lonely');
    assert.ok(!d?.grants.some((g) => g.store === 'restricted'));
    // Label the namespace: the grant arrives, the condition flips.
    await env.admin.patch('/api/v1/namespaces/team-b', { metadata: { labels: { 'storage-tier': 'gold' } } });
    await eventually('gold grant delivered', async () =>
      (await policyOf('team-b', 'id-lonely'))?.grants.some((g) => g.store === 'restricted')
        ? true
        : undefined,
    );
    const ready = await eventually('Ready', async () => {
      const b = await env.admin.get<BucketAccess>(
        '/apis/sluice.dev/v1alpha1/namespaces/team-b/bucketaccesses/gold',
      );
      return b.status?.conditions?.[0]?.status === 'True' ? b : undefined;
    });
    assert.ok(before !== undefined);
    assert.equal(ready.status?.conditions?.length, 1);
  });

  void test('StoreNotFound and CredentialsMissing are reported on the BucketAccess', async () => {
    await createAccess(env.admin, 'team-c', 'nostore', {
      storeRef: 'nope',
      podSelector: {},
      grants: [{ bucket: 'x-y', access: ['read'] }],
    });
    const b1 = await eventually('StoreNotFound', async () => {
      const b = await env.admin.get<BucketAccess>(
        '/apis/sluice.dev/v1alpha1/namespaces/team-c/bucketaccesses/nostore',
      );
      return b.status?.conditions?.[0]?.reason === 'StoreNotFound' ? b : undefined;
    });
    assert.match(
      b1.status?.conditions?.[0]?.message ?? '',
      /ObjectStore nope does not exist or does not allow namespace team-c/,
    );
    await createStore(env.admin, 'nokeys', storeSpec('missing-secret'));
    await createAccess(env.admin, 'team-c', 'nokeys', {
      storeRef: 'nokeys',
      podSelector: {},
      grants: [{ bucket: 'x-y', access: ['read'] }],
    });
    await eventually('CredentialsMissing', async () => {
      const b = await env.admin.get<BucketAccess>(
        '/apis/sluice.dev/v1alpha1/namespaces/team-c/bucketaccesses/nokeys',
      );
      return b.status?.conditions?.[0]?.reason === 'CredentialsMissing' ? b : undefined;
    });
    // The store's status is its own key (`store:nokeys`), reconciled by another worker than the
    // BucketAccess's: it may be written a moment after the BucketAccess's, so wait for it too.
    await eventually('ObjectStore CredentialsMissing', async () => {
      const store = await env.admin.get<{ status?: { conditions?: { reason: string }[] } }>(
        '/apis/sluice.dev/v1alpha1/objectstores/nokeys',
      );
      return store.status?.conditions?.[0]?.reason === 'CredentialsMissing' ? true : undefined;
    });
    // The pods in team-c get no grant on a store without credentials.
    const d = await policyOf('team-c', 'id-shared');
    assert.ok(!d?.grants.some((g) => g.store === 'nokeys'));
  });

  /**
   * The sidecar refuses a whole policy holding a grant it cannot enforce and keeps its last one;
   * such grants are left out instead (so revocations elsewhere still reach it) and reported.
   */
  void test('grants the sidecar cannot enforce are left out of the pod policy and reported: GrantRefused', async () => {
    await createStore(env.admin, 'rgw', { ...storeSpec('main-keys'), provider: 'ceph' });
    const accessPath = (name: string): string =>
      `/apis/sluice.dev/v1alpha1/namespaces/team-d/bucketaccesses/${name}`;
    await createAccess(env.admin, 'team-d', 'a-first', {
      storeRef: 'main',
      podSelector: {},
      grants: [
        { bucket: 'shared', access: ['read'] },
        { bucket: 'own', access: ['read'] },
      ],
    });
    await createAccess(env.admin, 'team-d', 'b-second', {
      storeRef: 'rgw',
      podSelector: {},
      grants: [
        { bucket: 'shared', access: ['write'] },
        { bucket: 'logs', access: ['read'] },
      ],
    });
    // Path-style on Ceph, bucket "admin" is the path of RGW's admin API.
    await createAccess(env.admin, 'team-d', 'c-admin', {
      storeRef: 'rgw',
      podSelector: {},
      grants: [{ bucket: 'admin', access: ['read'] }],
    });
    await createPod(env.admin, { ns: 'team-d', name: 'worker', identity: 'id-d' });
    const doc = await eventually('policy with three grants', async () => {
      const d = await policyOf('team-d', 'id-d');
      return d && d.grants.length === 3 ? d : undefined;
    });
    assert.deepEqual(
      doc.grants.map((g) => `${g.store}/${g.bucket}:${g.access.join(',')}`),
      ['main/shared:read', 'main/own:read', 'rgw/logs:read'],
    );
    const refused = async (name: string): Promise<string> =>
      eventually(`${name} GrantRefused`, async () => {
        const c = (await env.admin.get<BucketAccess>(accessPath(name))).status?.conditions?.[0];
        return c?.reason === 'GrantRefused' && c.status === 'False' ? c.message : undefined;
      });
    assert.match(await refused('b-second'), /bucket shared .*already granted on ObjectStore main/);
    assert.match(await refused('c-admin'), /bucket admin is reserved by the backend of ObjectStore rgw/);
    const first = await eventually('a-first Ready', async () => {
      const c = (await env.admin.get<BucketAccess>(accessPath('a-first'))).status?.conditions?.[0];
      return c?.reason === 'Ready' ? c : undefined;
    });
    assert.equal(first.status, 'True');
    // The first goes: the second's grant of the bucket reaches the pod, and its status clears.
    await env.admin.delete(accessPath('a-first'));
    await eventually('shared on rgw', async () =>
      (await policyOf('team-d', 'id-d'))?.grants.some((g) => g.store === 'rgw' && g.bucket === 'shared')
        ? true
        : undefined,
    );
    await eventually('b-second Ready', async () =>
      (await env.admin.get<BucketAccess>(accessPath('b-second'))).status?.conditions?.[0]?.status === 'True'
        ? true
        : undefined,
    );
  });
});
