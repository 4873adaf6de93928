import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setCondition, type Condition } from '../../../operator/kube/conditions.ts';
import {
  bucketAccessReadiness,
  nextStatus,
  objectStoreReadiness,
  sameStatus,
} from '../../../operator/controller/status.ts';
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
  void test('BucketAccess reasons in order: StoreNotFound, NamespaceNotAllowed, CredentialsMissing, Ready', () => {
    const good = readStoreCredentials(secret({ accessKeyId: 'a', secretAccessKey: 'b' }), {
      namespace: 'o',
      name: 'k',
    });
    const bad = readStoreCredentials(undefined, { namespace: 'o', name: 'k' });
    assert.equal(bucketAccessReadiness(ba, undefined, {}, undefined, 0).reason, 'StoreNotFound');
    assert.equal(bucketAccessReadiness(ba, store, {}, good, 0).reason, 'NamespaceNotAllowed');
    assert.equal(bucketAccessReadiness(ba, store, { ok: 'y' }, bad, 0).reason, 'CredentialsMissing');
    const r = bucketAccessReadiness(ba, store, { ok: 'y' }, good, 2);
    assert.deepEqual([r.status, r.reason], ['True', 'Ready']);
    assert.match(r.message, /delivered to 2 pod/);
    assert.equal(objectStoreReadiness(store, bad).reason, 'CredentialsMissing');
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
