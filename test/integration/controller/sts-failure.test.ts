/**
 * STS failures are visible in status: while AssumeRole against an `sts` store fails, the
 * ObjectStore and every BucketAccess on it read Ready=False reason StsFailed; once the store is
 * fixed, the next successful AssumeRole brings both back to Ready and the pod gets credentials.
 * Real kube-apiserver and MinIO; the failing STS endpoint is a loopback port nothing listens on.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { credentialsKey, podSecretName } from '../../../operator/contract.ts';
import type { Controller } from '../../../operator/controller/controller.ts';
import type { SluiceStatus } from '../../../operator/controller/types.ts';
import type { Condition } from '../../../operator/kube/conditions.ts';
import type { OperatorMetrics } from '../../../operator/metrics.ts';
import { startMinioCluster, type MinioCluster } from '../../testbed/minio.ts';
import { freePort } from '../../testbed/ports.ts';
import {
  createAccess,
  createPod,
  createStore,
  credentialSecret,
  eventually,
  newController,
  readSecret,
  startEnv,
  type Env,
} from './harness.ts';

let env: Env;
let minio: MinioCluster;
let controller: Controller;
let metrics: OperatorMetrics;
let deadPort: number;

const STORE = 'flaky';
const STORE_PATH = `/apis/sluice.dev/v1alpha1/objectstores/${STORE}`;
const ACCESS_PATH = '/apis/sluice.dev/v1alpha1/namespaces/default/bucketaccesses/uses-flaky';

async function ready(path: string): Promise<Condition | undefined> {
  const o = await env.admin.get<{ metadata: { generation: number }; status?: SluiceStatus }>(path);
  const c = o.status?.conditions?.find((x) => x.type === 'Ready');
  // Only a condition computed for the current spec counts.
  return c && c.observedGeneration === o.metadata.generation ? c : undefined;
}

const withReason = (path: string, reason: string) => async (): Promise<Condition | undefined> => {
  const c = await ready(path);
  return c?.reason === reason ? c : undefined;
};

async function stsCalls(result: 'success' | 'error'): Promise<number> {
  return (await metrics.stsAssumeRoleTotal.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
}

void before(async () => {
  [env, minio] = await Promise.all([startEnv(), startMinioCluster({ nodes: 2 })]);
  deadPort = await freePort();
  const root = new S3Client({
    endpoint: minio.endpoints[0],
    region: minio.region,
    forcePathStyle: true,
    credentials: { accessKeyId: minio.rootUser, secretAccessKey: minio.rootPassword },
    maxAttempts: 1,
  });
  await root.send(new CreateBucketCommand({ Bucket: 'data' }));
  await root.send(new PutObjectCommand({ Bucket: 'data', Key: 'in/a.txt', Body: 'hello' }));
  await env.admin.create(
    '/api/v1/namespaces/sluice-system/secrets',
    credentialSecret('sluice-system', 'minio-root', minio.rootUser, minio.rootPassword),
  );
  await createStore(env.admin, STORE, {
    endpoints: minio.endpoints.map((url) => ({ url })),
    region: minio.region,
    credentials: {
      secretRef: { namespace: 'sluice-system', name: 'minio-root' },
      mode: 'sts',
      sts: { endpoint: `http://127.0.0.1:${deadPort}`, durationSeconds: 900 },
    },
    allowedNamespaces: {},
  });
  await createAccess(env.admin, 'default', 'uses-flaky', {
    storeRef: STORE,
    podSelector: { matchLabels: { app: 'flaky' } },
    grants: [{ bucket: 'data', prefixes: ['in/'], access: ['read', 'list'] }],
  });
  ({ controller, metrics } = newController(env.cp.kubeConfig));
  await controller.start();
});

void after(async () => {
  await controller?.stop();
  await Promise.all([env?.cp.stop(), minio?.stop()]);
});

void test('a failing AssumeRole makes the store and its BucketAccess StsFailed; fixing the store makes them Ready and delivers credentials', async () => {
  // Before any pod asks for credentials nothing has failed: the store is Ready.
  const initial = await eventually('store Ready before any pod', withReason(STORE_PATH, 'Ready'));
  assert.equal(initial.status, 'True');

  await createPod(env.admin, {
    ns: 'default',
    name: 'flaky-1',
    identity: 'flaky-1',
    labels: { app: 'flaky' },
  });

  const store = await eventually('store StsFailed', withReason(STORE_PATH, 'StsFailed'));
  assert.equal(store.status, 'False');
  assert.match(store.message, /^AssumeRole failed for 1 pod\(s\): /);
  assert.ok(store.message.includes(`127.0.0.1:${deadPort}`), `message names the endpoint: ${store.message}`);
  assert.ok(!store.message.includes(minio.rootPassword), 'no secret in the message');
  const access = await eventually('BucketAccess StsFailed', withReason(ACCESS_PATH, 'StsFailed'));
  assert.equal(access.status, 'False');
  assert.match(access.message, new RegExp(`^ObjectStore ${STORE}: AssumeRole failed for 1 pod\\(s\\): `));
  assert.ok(!access.message.includes(minio.rootPassword), 'no secret in the message');
  assert.ok((await stsCalls('error')) >= 1);
  assert.equal(await stsCalls('success'), 0);
  // Denied rather than served: the pod's Secret holds no credentials for the store.
  const denied = await eventually('the pod Secret written without the store', () =>
    readSecret(env.admin, 'default', podSecretName('flaky-1')),
  );
  assert.equal(denied.data[credentialsKey(STORE)], undefined);

  // Fix the store: its STS is MinIO itself.
  await env.admin.patch(STORE_PATH, { spec: { credentials: { sts: { endpoint: minio.endpoints[0] } } } });

  const fixed = await eventually('store Ready again', withReason(STORE_PATH, 'Ready'));
  assert.equal(fixed.status, 'True');
  const fixedAccess = await eventually('BucketAccess Ready again', withReason(ACCESS_PATH, 'Ready'));
  assert.equal(fixedAccess.status, 'True');
  assert.match(fixedAccess.message, /delivered to 1 pod/);
  assert.ok((await stsCalls('success')) >= 1);
  const raw = await eventually('credentials in the pod Secret', async () => {
    const s = await readSecret(env.admin, 'default', podSecretName('flaky-1'));
    return s?.data[credentialsKey(STORE)];
  });
  const creds = JSON.parse(raw) as { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  assert.ok(creds.sessionToken, 'temporary credentials');
  assert.notEqual(creds.accessKeyId, minio.rootUser);
  const listed = await new S3Client({
    endpoint: minio.endpoints[0],
    region: minio.region,
    forcePathStyle: true,
    credentials: creds,
    maxAttempts: 1,
  }).send(new ListObjectsV2Command({ Bucket: 'data', Prefix: 'in/' }));
  assert.deepEqual(
    listed.Contents?.map((o) => o.Key),
    ['in/a.txt'],
  );
});
