/**
 * reconcilePodIdentity against in-memory caches and a recording client: the cases the
 * integration tests on a real API server cannot reach in reasonable time (an STS session two
 * thirds through) or set up cheaply (two pods of one identity, one finished).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { EventRecorder } from '../../../operator/controller/events.ts';
import { reconcilePodIdentity, type PodReconcilerDeps } from '../../../operator/controller/reconcile-pod.ts';
import { StsFailures } from '../../../operator/controller/sts-failures.ts';
import { World } from '../../../operator/controller/world.ts';
import { createOperatorMetrics } from '../../../operator/metrics.ts';

type Named = { metadata?: { name?: string; namespace?: string } };
const cache = <T extends Named>(items: T[]) => ({
  get: (n: string, ns?: string) =>
    items.find((i) => i.metadata?.name === n && (i.metadata?.namespace ?? '') === (ns ?? '')),
  list: (ns?: string) => items.filter((i) => ns === undefined || i.metadata?.namespace === ns),
});
const b64 = (s: string) => Buffer.from(s).toString('base64');

// A failed STS renewal while the current credentials are still valid: they stay in the Secret,
// and the reconcile says so (renewalFailed) instead of asking to run again in a second — which,
// as a success, reset the queue's backoff and had a failing STS asked once a second per pod.
void test('a failed STS renewal keeps the credentials and asks for backoff, not a retry every second', async () => {
  const pod = {
    metadata: {
      name: 'p',
      namespace: 'ns',
      uid: 'u1',
      labels: { 'sluice.dev/identity': 'id1', app: 'x' },
      creationTimestamp: '2026-01-01T00:00:00Z',
    },
    spec: { containers: [{ name: 'sluice-proxy' }] },
  };
  const store = {
    metadata: { name: 's' },
    spec: {
      endpoints: [{ url: 'http://minio:9000' }],
      region: 'us-east-1',
      credentials: { secretRef: { namespace: 'sys', name: 'c' }, mode: 'sts' },
      allowedNamespaces: {},
    },
  };
  const access = {
    metadata: { name: 'ba', namespace: 'ns' },
    spec: {
      storeRef: 's',
      podSelector: { matchLabels: { app: 'x' } },
      grants: [{ bucket: 'bkt', access: ['read'] }],
    },
  };
  const source = {
    metadata: { name: 'c', namespace: 'sys' },
    data: { accessKeyId: b64('AK'), secretAccessKey: b64('SK') },
  };
  const secrets: Record<string, unknown>[] = [];
  const world = new World({
    stores: cache([store]),
    accesses: cache([access]),
    pods: cache([pod]),
    podSecrets: cache(secrets as Named[]),
    nodes: cache([]),
    namespaces: cache([{ metadata: { name: 'ns' } }]),
    credentialSecret: () => source,
  } as never);
  const client = {
    create: (_p: string, body: { metadata: object }) => {
      secrets.push({ ...body, metadata: { ...body.metadata, resourceVersion: '1', uid: 'sec' } });
      return Promise.resolve();
    },
    replace: (_p: string, body: Record<string, unknown>) => {
      secrets[0] = body;
      return Promise.resolve();
    },
    delete: () => Promise.resolve(),
    get: () => Promise.resolve(secrets[0]),
  };
  let now = 1_000_000_000_000;
  let calls = 0;
  let failing = false;
  const deps = {
    world,
    client,
    events: new EventRecorder({ create: () => Promise.resolve() } as never, {
      component: 'c',
      instance: 'i',
      onError: () => undefined,
    }),
    metrics: createOperatorMetrics(),
    log: pino({ level: 'silent' }),
    assumeRole: () => {
      calls++;
      if (failing) return Promise.reject(new Error('STS 503 SlowDown'));
      return Promise.resolve({
        accessKeyId: 'TMP',
        secretAccessKey: 'TS',
        sessionToken: 'T',
        expiresAt: now + 3_600_000,
      });
    },
    now: () => now,
    sts: { defaultDurationSeconds: 3600, renewFraction: 2 / 3 },
    conflictsReported: new Set<string>(),
    stsFailures: new StsFailures(() => undefined),
  } as unknown as PodReconcilerDeps;

  const first = await reconcilePodIdentity(deps, 'ns', 'id1');
  assert.equal(first.renewalFailed, undefined);
  assert.ok(first.requeueAfterMs! > 30 * 60_000, 'renewal due at 2/3 of the hour');
  now += 41 * 60_000; // past the renewal point
  failing = true;
  const renewal = await reconcilePodIdentity(deps, 'ns', 'id1');
  assert.equal(calls, 2);
  assert.equal(renewal.renewalFailed, true);
  assert.equal(renewal.requeueAfterMs, undefined, 'no fixed one-second retry: the queue backs off');
  const data = (secrets[0] as { data: Record<string, string> }).data;
  assert.ok(
    Buffer.from(data['s.credentials.json']!, 'base64').toString().includes('TMP'),
    'the valid set stays',
  );
});

void test('a finished pod holding the Secret gives it up to a live pod of the same identity', async () => {
  const podOf = (name: string, uid: string, created: string, phase?: string) => ({
    metadata: {
      name,
      namespace: 'ns',
      uid,
      labels: { 'sluice.dev/identity': 'id1', app: 'x' },
      creationTimestamp: created,
    },
    spec: { containers: [{ name: 'sluice-proxy' }] },
    status: phase ? { phase } : {},
  });
  const first = podOf('a', 'uA', '2026-01-01T00:00:00Z', 'Running');
  const pods: ReturnType<typeof podOf>[] = [first];
  const store = {
    metadata: { name: 's' },
    spec: {
      endpoints: [{ url: 'http://minio:9000' }],
      region: 'us-east-1',
      credentials: { secretRef: { namespace: 'sys', name: 'c' } },
      allowedNamespaces: {},
    },
  };
  const access = {
    metadata: { name: 'ba', namespace: 'ns' },
    spec: { storeRef: 's', podSelector: {}, grants: [{ bucket: 'bkt', access: ['read'] }] },
  };
  const source = {
    metadata: { name: 'c', namespace: 'sys' },
    data: { accessKeyId: b64('AK'), secretAccessKey: b64('SK') },
  };
  const secrets: Record<string, unknown>[] = [];
  const world = new World({
    stores: cache([store]),
    accesses: cache([access]),
    pods: cache(pods),
    podSecrets: cache(secrets as Named[]),
    nodes: cache([]),
    namespaces: cache([{ metadata: { name: 'ns' } }]),
    credentialSecret: () => source,
  } as never);
  const client = {
    create: (_p: string, body: { metadata: object }) => {
      secrets.push({ ...body, metadata: { ...body.metadata, resourceVersion: '1', uid: 'sec' } });
      return Promise.resolve();
    },
    replace: (_p: string, body: Record<string, unknown>) => {
      secrets[0] = body;
      return Promise.resolve();
    },
    delete: () => Promise.resolve(),
    get: () => Promise.resolve(secrets[0]),
  };
  const deps = {
    world,
    client,
    events: new EventRecorder({ create: () => Promise.resolve() } as never, {
      component: 'c',
      instance: 'i',
      onError: () => undefined,
    }),
    metrics: createOperatorMetrics(),
    log: pino({ level: 'silent' }),
    assumeRole: () => Promise.reject(new Error('not used')),
    now: () => Date.now(),
    sts: { defaultDurationSeconds: 3600, renewFraction: 2 / 3 },
    conflictsReported: new Set<string>(),
    stsFailures: new StsFailures(() => undefined),
  } as unknown as PodReconcilerDeps;
  const owner = () =>
    (secrets[0] as { metadata: { ownerReferences: { uid: string }[] } }).metadata.ownerReferences[0]!.uid;
  await reconcilePodIdentity(deps, 'ns', 'id1');
  assert.equal(owner(), 'uA');
  first.status = { phase: 'Succeeded' };
  pods.push(podOf('b', 'uB', '2026-01-02T00:00:00Z'));
  await reconcilePodIdentity(deps, 'ns', 'id1');
  assert.equal(owner(), 'uB', 'the live pod holds it now');
});

void test('a store whose credential Secret is not listed yet keeps what the pod has; the rest is written', async () => {
  const pod = {
    metadata: { name: 'p', namespace: 'ns', uid: 'u1', labels: { 'sluice.dev/identity': 'id1' } },
    spec: { containers: [{ name: 'sluice-proxy' }] },
  };
  const storeOf = (name: string) => ({
    metadata: { name },
    spec: {
      endpoints: [{ url: 'http://minio:9000' }],
      region: 'us-east-1',
      credentials: { secretRef: { namespace: 'sys', name: `c-${name}` } },
      allowedNamespaces: {},
    },
  });
  const accessOf = (name: string, store: string) => ({
    metadata: { name, namespace: 'ns' },
    spec: { storeRef: store, podSelector: {}, grants: [{ bucket: 'bkt', access: ['read'] }] },
  });
  const accesses = [accessOf('a1', 's1'), accessOf('a2', 's2')];
  const secrets: Record<string, unknown>[] = [];
  let pendingSecret: string | undefined;
  const world = new World({
    stores: cache([storeOf('s1'), storeOf('s2')]),
    accesses: cache(accesses),
    pods: cache([pod]),
    podSecrets: cache(secrets as Named[]),
    nodes: cache([]),
    namespaces: cache([{ metadata: { name: 'ns' } }]),
    credentialSecret: (_ns: string, name: string) =>
      name === pendingSecret
        ? 'pending'
        : { metadata: { name }, data: { accessKeyId: b64(`AK-${name}`), secretAccessKey: b64('SK') } },
  } as never);
  let writes = 0;
  const client = {
    create: (_p: string, body: { metadata: object }) => {
      writes++;
      secrets.push({ ...body, metadata: { ...body.metadata, resourceVersion: '1', uid: 'sec' } });
      return Promise.resolve();
    },
    replace: (_p: string, body: Record<string, unknown>) => {
      writes++;
      secrets[0] = body;
      return Promise.resolve();
    },
    delete: () => Promise.resolve(),
    get: () => Promise.resolve(secrets[0]),
  };
  const deps = {
    world,
    client,
    events: new EventRecorder({ create: () => Promise.resolve() } as never, {
      component: 'c',
      instance: 'i',
      onError: () => undefined,
    }),
    metrics: createOperatorMetrics(),
    log: pino({ level: 'silent' }),
    assumeRole: () => Promise.reject(new Error('not used')),
    now: () => Date.now(),
    sts: { defaultDurationSeconds: 3600, renewFraction: 2 / 3 },
    conflictsReported: new Set<string>(),
    stsFailures: new StsFailures(() => undefined),
  } as unknown as PodReconcilerDeps;
  const keys = () => Object.keys((secrets[0] as { data: Record<string, string> }).data).sort();
  const pendingCode = (err: unknown) => (err as { code?: string }).code === 'CredentialsPending';

  // A pod without its Secret waits for a whole one: nothing written while s2 is not listed.
  pendingSecret = 'c-s2';
  await assert.rejects(reconcilePodIdentity(deps, 'ns', 'id1'), pendingCode);
  assert.equal(writes, 0);
  pendingSecret = undefined;
  await reconcilePodIdentity(deps, 'ns', 'id1');
  assert.deepEqual(keys(), ['policy.json', 's1.credentials.json', 's2.credentials.json']);

  // s2's Secret watch restarts while the grant on s1 is revoked: the revocation is written, s2
  // keeps its credentials, and the reconcile is retried.
  pendingSecret = 'c-s2';
  accesses.splice(0, 1);
  await assert.rejects(reconcilePodIdentity(deps, 'ns', 'id1'), pendingCode);
  assert.deepEqual(keys(), ['policy.json', 's2.credentials.json']);
  // The grant on s2 revoked meanwhile goes through too (and s2's Secret no longer matters).
  accesses.splice(0, 1);
  await reconcilePodIdentity(deps, 'ns', 'id1');
  assert.deepEqual(keys(), ['policy.json']);
});
