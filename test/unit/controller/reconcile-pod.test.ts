/**
 * reconcilePodIdentity against in-memory caches and a recording client: the cases the
 * integration tests on a real API server cannot reach in reasonable time (an STS session two
 * thirds through) or set up cheaply (two pods of one identity, one finished; a credential
 * Secret's watch not listed yet).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { ControllerError } from '../../../operator/controller/errors.ts';
import { EventRecorder } from '../../../operator/controller/events.ts';
import { reconcilePodIdentity, type PodReconcilerDeps } from '../../../operator/controller/reconcile-pod.ts';
import { StsFailures } from '../../../operator/controller/sts-failures.ts';
import { World } from '../../../operator/controller/world.ts';
import { createOperatorMetrics } from '../../../operator/metrics.ts';

/** The rejection a reconcile whose STS call failed ends with (retried; its Secret written first). */
const stsFailed = (e: unknown): boolean => e instanceof ControllerError && e.code === 'StsFailed';

type Named = { metadata?: { name?: string; namespace?: string } };
const cache = <T extends Named>(items: T[]) => ({
  get: (n: string, ns?: string) =>
    items.find((i) => i.metadata?.name === n && (i.metadata?.namespace ?? '') === (ns ?? '')),
  list: (ns?: string) => items.filter((i) => ns === undefined || i.metadata?.namespace === ns),
});
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A pod of identity id1 created on `day` of 2026 (the owner of a shared identity is the oldest). */
function podOf(name: string, uid: string, phase?: string, day = 1) {
  return {
    metadata: {
      name,
      namespace: 'ns',
      uid,
      labels: { 'sluice.dev/identity': 'id1' },
      creationTimestamp: `2026-01-0${day}T00:00:00Z`,
    },
    spec: { containers: [{ name: 'sluice-proxy' }] },
    status: phase ? { phase } : {},
  };
}

function storeOf(name: string, mode: 'static' | 'sts' = 'static') {
  return {
    metadata: { name },
    spec: {
      endpoints: [{ url: 'http://minio:9000' }],
      region: 'us-east-1',
      credentials: { secretRef: { namespace: 'sys', name: `c-${name}` }, mode },
      allowedNamespaces: {},
    },
  };
}

/** A grant on bucket bkt-<store> unless given: one bucket on two stores is a conflict (policy.ts refusal). */
function accessOf(name: string, store: string, bucket = `bkt-${store}`) {
  return {
    metadata: { name, namespace: 'ns' },
    spec: { storeRef: store, podSelector: {}, grants: [{ bucket, access: ['read'] }] },
  };
}

/** One namespace `ns`, the given objects, and a client that records the pod Secrets written. */
function harness(objects: {
  pods: ReturnType<typeof podOf>[];
  stores: ReturnType<typeof storeOf>[];
  accesses: ReturnType<typeof accessOf>[];
  assumeRole?: () => Promise<unknown>;
  now?: () => number;
}) {
  const secrets: Record<string, unknown>[] = [];
  const state = { writes: 0, pendingSecret: undefined as string | undefined };
  const world = new World({
    stores: cache(objects.stores),
    accesses: cache(objects.accesses),
    pods: cache(objects.pods),
    podSecrets: cache(secrets as Named[]),
    nodes: cache([]),
    namespaces: cache([{ metadata: { name: 'ns' } }]),
    credentialSecret: (_ns: string, name: string) =>
      name === state.pendingSecret
        ? 'pending'
        : { metadata: { name }, data: { accessKeyId: b64(`AK-${name}`), secretAccessKey: b64('SK') } },
  } as never);
  const client = {
    create: (_p: string, body: { metadata: object }) => {
      state.writes++;
      secrets.push({ ...body, metadata: { ...body.metadata, resourceVersion: '1', uid: 'sec' } });
      return Promise.resolve();
    },
    replace: (_p: string, body: Record<string, unknown>) => {
      state.writes++;
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
    assumeRole: objects.assumeRole ?? (() => Promise.reject(new Error('not used'))),
    now: objects.now ?? (() => Date.now()),
    sts: { defaultDurationSeconds: 3600, renewFraction: 2 / 3 },
    conflictsReported: new Set<string>(),
    stsFailures: new StsFailures(() => undefined),
  } as unknown as PodReconcilerDeps;
  const data = () => (secrets[0] as { data: Record<string, string> }).data;
  return {
    deps,
    state,
    reconcile: () => reconcilePodIdentity(deps, 'ns', 'id1'),
    keys: () => Object.keys(data()).sort(),
    file: (key: string) => Buffer.from(data()[key]!, 'base64').toString(),
    owner: () =>
      (secrets[0] as { metadata: { ownerReferences: { uid: string }[] } }).metadata.ownerReferences[0]!.uid,
  };
}

// A failed STS renewal while the current credentials are still valid: they stay in the Secret,
// and the reconcile says so (renewalFailed) instead of asking to run again in a second — which,
// as a success, reset the queue's backoff and had a failing STS asked once a second per pod.
void test('a failed STS renewal keeps the credentials and asks for backoff, not a retry every second', async () => {
  let now = 1_000_000_000_000;
  let calls = 0;
  let failing = false;
  const h = harness({
    pods: [podOf('p', 'u1')],
    stores: [storeOf('s', 'sts')],
    accesses: [accessOf('ba', 's')],
    now: () => now,
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
  });
  const first = await h.reconcile();
  assert.equal(first.renewalFailed, undefined);
  assert.ok(first.requeueAfterMs! > 30 * 60_000, 'renewal due at 2/3 of the hour');
  now += 41 * 60_000; // past the renewal point
  failing = true;
  const renewal = await h.reconcile();
  assert.equal(calls, 2);
  assert.equal(renewal.renewalFailed, true);
  assert.equal(renewal.requeueAfterMs, undefined, 'no fixed one-second retry: the queue backs off');
  assert.ok(h.file('s.credentials.json').includes('TMP'), 'the valid set stays');
});

void test('a finished pod holding the Secret gives it up to a live pod of the same identity', async () => {
  const first = podOf('a', 'uA', 'Running');
  const pods = [first];
  const h = harness({ pods, stores: [storeOf('s')], accesses: [accessOf('ba', 's')] });
  await h.reconcile();
  assert.equal(h.owner(), 'uA');
  first.status = { phase: 'Succeeded' };
  pods.push(podOf('b', 'uB', undefined, 2));
  await h.reconcile();
  assert.equal(h.owner(), 'uB', 'the live pod holds it now');
});

void test('a store whose credential Secret is not listed yet keeps what the pod has; the rest is written', async () => {
  const accesses = [accessOf('a1', 's1'), accessOf('a2', 's2')];
  const h = harness({ pods: [podOf('p', 'u1')], stores: [storeOf('s1'), storeOf('s2')], accesses });
  const pendingCode = (err: unknown) => (err as { code?: string }).code === 'CredentialsPending';

  // A pod without its Secret waits for a whole one: nothing written while s2 is not listed.
  h.state.pendingSecret = 'c-s2';
  await assert.rejects(h.reconcile(), pendingCode);
  assert.equal(h.state.writes, 0);
  h.state.pendingSecret = undefined;
  await h.reconcile();
  assert.deepEqual(h.keys(), ['policy.json', 's1.credentials.json', 's2.credentials.json']);

  // s2's Secret watch restarts while the grant on s1 is revoked: the revocation is written, s2
  // keeps its credentials, and the reconcile is retried.
  h.state.pendingSecret = 'c-s2';
  accesses.splice(0, 1);
  await assert.rejects(h.reconcile(), pendingCode);
  assert.deepEqual(h.keys(), ['policy.json', 's2.credentials.json']);
  // The grant on s2 revoked meanwhile goes through too (and s2's Secret no longer matters).
  accesses.splice(0, 1);
  await h.reconcile();
  assert.deepEqual(h.keys(), ['policy.json']);
});

// Both grant bucket shared: a-first's store wins it, so s2 is not in the first document. When
// s1's AssumeRole fails, s1 leaves and b-second's grant comes in with s2, whose credentials
// were never fetched: the Secret was not written at all, and revocations stalled with it.
void test('a store dropped for its credentials hands its bucket to the other grant, with the credentials of that store', async () => {
  const h = harness({
    pods: [podOf('p', 'u1')],
    stores: [storeOf('s1', 'sts'), storeOf('s2')],
    accesses: [accessOf('a-first', 's1', 'shared'), accessOf('b-second', 's2', 'shared')],
    assumeRole: () => Promise.reject(new Error('STS 403 AccessDenied')),
  });
  await assert.rejects(h.reconcile(), stsFailed); // the STS failure is reported; the Secret is written
  assert.deepEqual(h.keys(), ['policy.json', 's2.credentials.json']);
  const doc = JSON.parse(h.file('policy.json')) as { grants: { store: string; bucket: string }[] };
  assert.deepEqual(
    doc.grants.map((g) => `${g.store}/${g.bucket}`),
    ['s2/shared'],
  );
});

// The same with s2 on STS too, granted another bucket besides: its session was made in the first
// round for that bucket alone. When shared comes over, s2's session must cover it, or the
// sidecar allows what the store then refuses (403), for as long as s1 fails.
void test('a store whose grants grow in a later round gets a session policy that covers them', async () => {
  const policies: string[] = [];
  const both = accessOf('b-second', 's2', 'shared');
  both.spec.grants.push({ bucket: 'other', access: ['read'] });
  const h = harness({
    pods: [podOf('p', 'u1')],
    stores: [storeOf('s1', 'sts'), storeOf('s2', 'sts')],
    accesses: [accessOf('a-first', 's1', 'shared'), both],
    assumeRole: (input?: unknown) => {
      const { credentials, policy } = input as { credentials: { accessKeyId: string }; policy: string };
      if (credentials.accessKeyId === 'AK-c-s1') return Promise.reject(new Error('STS 403 AccessDenied'));
      policies.push(policy);
      return Promise.resolve({
        accessKeyId: 'TMP',
        secretAccessKey: 'TS',
        sessionToken: 'T',
        expiresAt: Date.now() + 3_600_000,
      });
    },
  });
  await assert.rejects(h.reconcile(), stsFailed);
  assert.deepEqual(h.keys(), ['policy.json', 's2.credentials.json']);
  assert.match(policies.at(-1)!, /shared/, 'the session s2 ends with covers bucket shared');
  assert.match(policies.at(-1)!, /other/);
  // The holder is asked first: s2 gets one session, with its final grants — and keeps it while
  // s1 goes on failing, instead of a session of no use (and a chance to lose s2) every retry.
  await assert.rejects(h.reconcile(), stsFailed);
  assert.equal(policies.length, 1, `s2 sessions: ${policies.length}`);
  assert.deepEqual(h.keys(), ['policy.json', 's2.credentials.json']);
});
