/**
 * The CRDs on the real API server: valid objects are accepted (with defaults applied) and
 * invalid ones are rejected with messages that say what is wrong.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeApiError } from '../../../operator/kube/client.ts';
import type { ObjectStore } from '../../../operator/controller/types.ts';
import { createAccess, createNamespace, createStore, startEnv, type Env } from './harness.ts';

let env: Env;
void before(async () => {
  env = await startEnv();
  await createNamespace(env.admin, 'apps');
});
void after(async () => {
  await env?.cp.stop();
});

const okGrant = { bucket: 'my-bucket', access: ['read'] };

async function rejected(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof KubeApiError, String(err));
    assert.equal(err.status, 422, err.message);
    return err.message;
  }
  assert.fail('the API server accepted an invalid object');
}

void test('a valid ObjectStore is accepted and defaulted (addressing path, mode static)', async () => {
  await createStore(env.admin, 'ok', {
    endpoints: [{ url: 'http://minio-0.minio:9000', zone: 'a' }],
    region: 'us-east-1',
    credentials: { secretRef: { namespace: 'sluice-system', name: 'k' } },
    allowedNamespaces: {},
  });
  const s = await env.admin.get<ObjectStore>('/apis/sluice.dev/v1alpha1/objectstores/ok');
  assert.equal(s.spec.addressing, 'path');
  assert.equal(s.spec.credentials.mode, 'static');
  // Codes and ranges the CEL rule must let through.
  await createStore(env.admin, 'ok-statuses', {
    endpoints: [{ url: 'http://minio-0.minio:9000' }],
    region: 'us-east-1',
    provider: 'ceph',
    balancing: { healthCheck: { path: '/swift/healthcheck', expectStatus: '200,204,300-302' } },
    credentials: { secretRef: { namespace: 'sluice-system', name: 'k' } },
    allowedNamespaces: {},
  });
});

void test('ObjectStore: endpoint url shape, sts only with mode sts, allowedNamespaces required', async () => {
  const base = {
    region: 'r',
    credentials: { secretRef: { namespace: 'n', name: 'k' } },
    allowedNamespaces: {},
  };
  assert.match(
    await rejected(createStore(env.admin, 'bad-url', { ...base, endpoints: [{ url: 'minio:9000/path' }] })),
    /endpoint url must be http\(s\):\/\/host\[:port\]/,
  );
  assert.match(
    await rejected(
      createStore(env.admin, 'bad-sts', {
        ...base,
        endpoints: [{ url: 'http://m:9000' }],
        credentials: { ...base.credentials, sts: { durationSeconds: 900 } },
      }),
    ),
    /credentials.sts is only allowed with credentials.mode: sts/,
  );
  assert.match(
    await rejected(
      createStore(env.admin, 'dup-url', {
        ...base,
        endpoints: [
          { url: 'http://m:9000', zone: 'a' },
          { url: 'http://m:9000', zone: 'b' },
        ],
      }),
    ),
    /Duplicate value/,
  );
  assert.match(
    await rejected(
      createStore(env.admin, 'bad-health-path', {
        ...base,
        endpoints: [{ url: 'http://m:9000' }],
        balancing: { healthCheck: { path: '/minio/health live' } },
      }),
    ),
    /healthCheck.path must start with \/ and hold visible ASCII only/,
  );
  // The sidecar would refuse these (and with them the whole policy): refused here first.
  assert.match(
    await rejected(
      createStore(env.admin, 'bad-health-range', {
        ...base,
        endpoints: [{ url: 'http://m:9000' }],
        balancing: { healthCheck: { expectStatus: '200-299,499-400' } },
      }),
    ),
    /a range must not end before it starts/,
  );
  assert.match(
    await rejected(
      createStore(env.admin, 'bad-health-status', {
        ...base,
        endpoints: [{ url: 'http://m:9000' }],
        balancing: { healthCheck: { expectStatus: '2xx' } },
      }),
    ),
    /expectStatus/,
  );
  // The Secret's name goes into a field selector: a comma there would fail every list for ever.
  assert.match(
    await rejected(
      createStore(env.admin, 'bad-secret-name', {
        ...base,
        endpoints: [{ url: 'http://m:9000' }],
        credentials: { secretRef: { namespace: 'n', name: 'k,metadata.name=other' } },
      }),
    ),
    /secretRef.name.*should match/,
  );
  const { allowedNamespaces: _omit, ...noAllowed } = base;
  assert.match(
    await rejected(
      createStore(env.admin, 'no-ns', { ...noAllowed, endpoints: [{ url: 'http://m:9000' }] } as never),
    ),
    /spec.allowedNamespaces: Required value/,
  );
});

void test('BucketAccess: S3 bucket name rules', async () => {
  const ba = (name: string, bucket: string): Promise<unknown> =>
    createAccess(env.admin, 'apps', name, {
      storeRef: 'ok',
      podSelector: {},
      grants: [{ bucket, access: ['read'] }],
    });
  assert.match(await rejected(ba('upper', 'My_Bucket')), /bucket must be an S3 bucket name/);
  assert.match(await rejected(ba('short', 'ab')), /bucket must be an S3 bucket name/);
  assert.match(await rejected(ba('dots', 'a..b')), /bucket must not contain two adjacent periods/);
  assert.match(await rejected(ba('ip', '192.168.1.1')), /bucket must not be formatted as an IP address/);
  assert.match(await rejected(ba('xn', 'xn--bucket')), /must not start with 'xn--'/);
  assert.match(await rejected(ba('reserved', 'minio')), /bucket must not be 'minio'/);
  await ba('fine', 'my.bucket-1');
});

void test('BucketAccess: grants and access must not be empty, access modes are an enum', async () => {
  const spec = { storeRef: 'ok', podSelector: {} };
  assert.match(
    await rejected(createAccess(env.admin, 'apps', 'nogrants', { ...spec, grants: [] })),
    /spec.grants: Invalid value: 0: spec.grants in body should have at least 1 items/,
  );
  assert.match(
    await rejected(
      createAccess(env.admin, 'apps', 'noaccess', { ...spec, grants: [{ bucket: 'abc', access: [] }] }),
    ),
    /access in body should have at least 1 items/,
  );
  assert.match(
    await rejected(
      createAccess(env.admin, 'apps', 'badaccess', {
        ...spec,
        grants: [{ bucket: 'abc', access: ['admin'] }],
      }),
    ),
    /Unsupported value: "admin"/,
  );
});

void test('BucketAccess: prefix shape (no leading /, no . or .. segment, no wildcards)', async () => {
  const ba = (name: string, prefix: string): Promise<unknown> =>
    createAccess(env.admin, 'apps', name, {
      storeRef: 'ok',
      podSelector: {},
      grants: [{ ...okGrant, prefixes: [prefix] }],
    });
  assert.match(await rejected(ba('lead', '/data/')), /prefix must not start with \//);
  assert.match(await rejected(ba('dotdot', 'a/../b/')), /prefix must not contain a '.' or '..' path segment/);
  assert.match(await rejected(ba('dotdot2', '../')), /'..' path segment/);
  assert.match(await rejected(ba('star', 'logs/*')), /prefix must not contain '\*' or '\?'/);
  assert.match(await rejected(ba('variable', '${aws:username}/')), /prefix must not contain '\$\{'/);
  await ba('good-prefix', 'logs/2024..x/');
});

void test('BucketAccess: at least one of podSelector or serviceAccountName', async () => {
  const msg = await rejected(
    createAccess(env.admin, 'apps', 'noselector', { storeRef: 'ok', grants: [okGrant] }),
  );
  assert.match(msg, /at least one of podSelector or serviceAccountName is required/);
  await createAccess(env.admin, 'apps', 'sa-only', {
    storeRef: 'ok',
    serviceAccountName: 'x',
    grants: [okGrant],
  });
});
