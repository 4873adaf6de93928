import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setCondition, type Condition } from '../../../operator/kube/conditions.ts';
import {
  bucketAccessReadiness,
  nextStatus,
  objectStoreReadiness,
  sameStatus,
} from '../../../operator/controller/status.ts';
import { StsFailures } from '../../../operator/controller/sts-failures.ts';
import { readStoreCredentials, credentialsFileContent } from '../../../operator/controller/credentials.ts';
import type { BucketAccess, ObjectStore, Secret } from '../../../operator/controller/types.ts';

const t0 = new Date('2024-01-01T00:00:00.123Z');
const t1 = new Date('2024-01-02T00:00:00Z');

void describe('conditions', () => {
  void test('lastTransitionTime kept while status is unchanged, moved when it flips; others untouched', () => {
    const other: Condition = {
      type: 'Other',
      status: 'True',
      reason: 'X',
      message: '',
      lastTransitionTime: 'old',
    };
    const a = setCondition(
      [other],
      { type: 'Ready', status: 'False', reason: 'StoreNotFound', message: 'm' },
      t0,
    );
    assert.equal(a[1]?.lastTransitionTime, '2024-01-01T00:00:00Z');
    const b = setCondition(
      a,
      { type: 'Ready', status: 'False', reason: 'CredentialsMissing', message: 'm2' },
      t1,
    );
    assert.equal(b[1]?.lastTransitionTime, '2024-01-01T00:00:00Z');
    assert.equal(b[1]?.reason, 'CredentialsMissing');
    const c = setCondition(b, { type: 'Ready', status: 'True', reason: 'Ready', message: '' }, t1);
    assert.equal(c[1]?.lastTransitionTime, '2024-01-02T00:00:00Z');
    assert.deepEqual(c[0], other);
    assert.equal(a.length, 2, 'input not modified');
  });
});

const store: ObjectStore = {
  metadata: { name: 's' },
  spec: {
    endpoints: [{ url: 'http://x' }],
    region: 'r',
    credentials: { secretRef: { namespace: 'o', name: 'k' } },
    allowedNamespaces: { matchLabels: { ok: 'y' } },
  },
};
const ba: BucketAccess = {
  metadata: { name: 'b', namespace: 'ns', generation: 3 },
  spec: { storeRef: 's', podSelector: {}, grants: [{ bucket: 'bb', access: ['read'] }] },
};
const secret = (data: Record<string, string>): Secret => ({
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
});

void describe('status', () => {
  void test('BucketAccess reasons in order: StoreNotFound (missing or not allowing the namespace, alike), CredentialsMissing, Ready', () => {
    const good = readStoreCredentials(secret({ accessKeyId: 'a', secretAccessKey: 'b' }), {
      namespace: 'o',
      name: 'k',
    });
    const bad = readStoreCredentials(undefined, { namespace: 'o', name: 'k' });
    const missing = bucketAccessReadiness(ba, undefined, {}, undefined, 0);
    const notAllowed = bucketAccessReadiness(ba, store, {}, good, 0);
    // A tenant cannot tell a store that exists but excludes it from one that does not exist.
    assert.deepEqual(notAllowed, missing);
    assert.equal(missing.reason, 'StoreNotFound');
    assert.equal(bucketAccessReadiness(ba, store, { ok: 'y' }, bad, 0).reason, 'CredentialsMissing');
    const r = bucketAccessReadiness(ba, store, { ok: 'y' }, good, 2);
    assert.deepEqual([r.status, r.reason], ['True', 'Ready']);
    assert.match(r.message, /delivered to 2 pod/);
    assert.equal(objectStoreReadiness(store, bad).reason, 'CredentialsMissing');
  });
  void test('credentials not listed yet: Ready is Unknown (CredentialsPending), not False', () => {
    const pending = {
      ok: false,
      reason: 'CredentialsPending',
      message: 'Secret o/k is not listed yet',
    } as const;
    for (const r of [
      objectStoreReadiness(store, pending),
      bucketAccessReadiness(ba, store, { ok: 'y' }, pending, 0),
    ])
      assert.deepEqual([r.status, r.reason], ['Unknown', 'CredentialsPending']);
  });
  void test('StsFailed: an sts store and its BucketAccesses are not Ready while AssumeRole fails, after the earlier reasons', () => {
    const good = readStoreCredentials(secret({ accessKeyId: 'a', secretAccessKey: 'b' }), {
      namespace: 'o',
      name: 'k',
    });
    const bad = readStoreCredentials(undefined, { namespace: 'o', name: 'k' });
    const sts: ObjectStore = {
      ...store,
      spec: { ...store.spec, credentials: { ...store.spec.credentials, mode: 'sts' } },
    };
    const failure = { pods: 2, message: 'AssumeRole http://127.0.0.1:9: connect ECONNREFUSED 127.0.0.1:9' };
    const s = objectStoreReadiness(sts, good, failure);
    assert.deepEqual([s.status, s.reason], ['False', 'StsFailed']);
    assert.match(
      s.message,
      /^AssumeRole failed for 2 pod\(s\): AssumeRole http:\/\/127\.0\.0\.1:9: connect ECONNREFUSED/,
    );
    const b = bucketAccessReadiness(ba, sts, { ok: 'y' }, good, 1, failure);
    assert.deepEqual([b.status, b.reason], ['False', 'StsFailed']);
    assert.match(b.message, /^ObjectStore s: AssumeRole failed for 2 pod\(s\): .*ECONNREFUSED/);
    // Without a failure (cleared by the next success) both are Ready again.
    assert.deepEqual(
      [objectStoreReadiness(sts, good).reason, bucketAccessReadiness(ba, sts, { ok: 'y' }, good, 1).reason],
      ['Ready', 'Ready'],
    );
    // Earlier reasons win; a static store ignores STS failures (left over from before a mode switch).
    assert.equal(objectStoreReadiness(sts, bad, failure).reason, 'CredentialsMissing');
    assert.equal(
      bucketAccessReadiness(ba, undefined, { ok: 'y' }, undefined, 0, failure).reason,
      'StoreNotFound',
    );
    assert.equal(bucketAccessReadiness(ba, sts, {}, good, 0, failure).reason, 'StoreNotFound');
    assert.equal(bucketAccessReadiness(ba, sts, { ok: 'y' }, bad, 0, failure).reason, 'CredentialsMissing');
    assert.equal(objectStoreReadiness(store, good, failure).reason, 'Ready');
    assert.equal(bucketAccessReadiness(ba, store, { ok: 'y' }, good, 1, failure).reason, 'Ready');
    // The transition is a transition: lastTransitionTime moves when Ready flips, not while it stays False.
    const ok1 = nextStatus(undefined, 1, objectStoreReadiness(sts, good), t0);
    const f1 = nextStatus(ok1, 1, s, t1);
    assert.equal(f1.conditions?.[0]?.lastTransitionTime, '2024-01-02T00:00:00Z');
    assert.ok(!sameStatus(ok1, f1));
  });
  void test('nextStatus records observedGeneration; an identical status is recognised (no write)', () => {
    const ready = bucketAccessReadiness(ba, undefined, {}, undefined, 0);
    const s1 = nextStatus(undefined, 3, ready, t0, 0);
    assert.equal(s1.observedGeneration, 3);
    assert.equal(s1.conditions?.[0]?.observedGeneration, 3);
    const s2 = nextStatus(s1, 3, ready, t1, 0);
    assert.ok(sameStatus(s1, s2));
    assert.ok(!sameStatus(s1, nextStatus(s1, 4, ready, t1, 0)));
    assert.ok(!sameStatus(s1, nextStatus(s1, 3, ready, t1, 1)));
  });
});

void describe('store credentials', () => {
  const ref = { namespace: 'o', name: 'k' };
  void test('Sluice key names, then AWS env names; session token optional; whitespace trimmed', () => {
    assert.deepEqual(readStoreCredentials(secret({ accessKeyId: 'a\n', secretAccessKey: 'b' }), ref), {
      ok: true,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    assert.deepEqual(
      readStoreCredentials(
        secret({ AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b', AWS_SESSION_TOKEN: 't' }),
        ref,
      ),
      {
        ok: true,
        credentials: { accessKeyId: 'a', secretAccessKey: 'b', sessionToken: 't' },
      },
    );
  });
  void test('missing Secret or keys → CredentialsMissing naming the Secret', () => {
    const r = readStoreCredentials(secret({ accessKeyId: 'a' }), ref);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.message : '', /Secret o\/k has neither/);
    assert.match(JSON.stringify(readStoreCredentials(undefined, ref)), /Secret o\/k not found/);
  });
  void test('credentials file content is stable JSON without empty session tokens', () => {
    assert.equal(
      credentialsFileContent({ secretAccessKey: 'b', accessKeyId: 'a' }),
      '{"accessKeyId":"a","secretAccessKey":"b"}\n',
    );
  });
});

void describe('STS failures (in-memory, per store)', () => {
  void test('a failure shows until the identity succeeds; counts identities; changes reported once each', () => {
    const changed: string[] = [];
    const f = new StsFailures((store) => changed.push(store));
    const none = new Map<string, string>();
    assert.equal(f.forStore('s'), undefined);
    f.record('ns/b', new Map([['s', 'boom b']]));
    f.record(
      'ns/a',
      new Map([
        ['s', 'boom a'],
        ['t', 'boom t'],
      ]),
    );
    assert.deepEqual(
      f.forStore('s'),
      { pods: 2, message: 'boom a' },
      'first identity (sorted) names the error',
    );
    assert.deepEqual(f.forStore('t'), { pods: 1, message: 'boom t' });
    assert.deepEqual(changed, ['s', 's', 't']);
    f.record('ns/a', new Map([['s', 'boom a']])); // same for s, t now succeeds
    assert.deepEqual(changed, ['s', 's', 't', 't']);
    assert.equal(f.forStore('t'), undefined);
    f.record('ns/a', none); // success (or the pod is gone)
    assert.deepEqual(f.forStore('s'), { pods: 1, message: 'boom b' });
    f.record('ns/b', none);
    assert.equal(f.forStore('s'), undefined);
    assert.deepEqual(changed, ['s', 's', 't', 't', 's', 's']);
    f.record('ns/b', none); // nothing known: nothing changes
    assert.equal(changed.length, 6);
  });
  void test("per namespace: a tenant sees only its own pods' failures and error text", () => {
    const f = new StsFailures(() => undefined);
    f.record('team-a/x', new Map([['s', 'AccessDenied for role of team-a']]));
    f.record('team-b/y', new Map([['s', 'AccessDenied for role of team-b']]));
    assert.deepEqual(f.forStore('s', 'team-b'), { pods: 1, message: 'AccessDenied for role of team-b' });
    assert.equal(f.forStore('s', 'team-c'), undefined);
    assert.equal(f.forStore('s', 'team'), undefined, 'a namespace is not a prefix of another');
    assert.deepEqual(
      f.forStore('s'),
      { pods: 2, message: 'AccessDenied for role of team-a' },
      'the store sees all',
    );
  });
  void test('a new error in one namespace is a change even when the store-wide summary stays', () => {
    const changed: string[] = [];
    const f = new StsFailures((store) => changed.push(store));
    f.record('a/x', new Map([['s', 'error of a']]));
    f.record('b/y', new Map([['s', 'error of b']]));
    changed.length = 0;
    f.record('b/y', new Map([['s', 'another error of b']])); // the store-wide summary names a/x's
    assert.deepEqual(changed, ['s']);
    assert.equal(f.forStore('s', 'b')?.message, 'another error of b');
  });
  void test('a long error is cut', () => {
    const f = new StsFailures(() => undefined);
    f.record('ns/a', new Map([['s', 'x'.repeat(5000)]]));
    assert.ok((f.forStore('s')?.message.length ?? 0) <= 513);
  });
});
