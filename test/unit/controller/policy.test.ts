import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bucketAccessSelectsPod,
  computePodPolicy,
  storeAllowsNamespace,
} from '../../../operator/controller/policy.ts';
import { selectorMatches } from '../../../operator/kube/selectors.ts';
import { createAuthorizer } from '../../../proxy/policy/index.ts';
import type { BucketAccess, ObjectStore, Pod } from '../../../operator/controller/types.ts';

const store = (name: string, allowed: ObjectStore['spec']['allowedNamespaces'] = {}): ObjectStore => ({
  metadata: { name },
  spec: {
    endpoints: [{ url: 'http://s:9000', zone: 'a' }],
    region: 'r',
    credentials: { secretRef: { namespace: 'ops', name: 'k' } },
    allowedNamespaces: allowed,
  },
});
const ba = (name: string, spec: Partial<BucketAccess['spec']>): BucketAccess => ({
  metadata: { name, namespace: 'ns' },
  spec: { storeRef: 's1', grants: [{ bucket: 'b', access: ['read'] }], ...spec },
});
const pod = (labels: Record<string, string>, sa?: string): Pod => ({
  metadata: { name: 'p', namespace: 'ns', labels },
  spec: sa ? { serviceAccountName: sa } : {},
});
const stores = new Map([
  ['s1', store('s1')],
  ['s2', store('s2', { matchLabels: { tier: 'gold' } })],
]);

void describe('selectors', () => {
  void test('matchLabels AND matchExpressions; {} matches all', () => {
    assert.equal(selectorMatches({}, undefined), true);
    assert.equal(selectorMatches({ matchLabels: { a: '1' } }, { a: '1', b: '2' }), true);
    assert.equal(selectorMatches({ matchLabels: { a: '1' } }, { a: '2' }), false);
    const sel = { matchExpressions: [{ key: 'env', operator: 'In' as const, values: ['prod', 'stage'] }] };
    assert.equal(selectorMatches(sel, { env: 'prod' }), true);
    assert.equal(selectorMatches(sel, {}), false);
    assert.equal(
      selectorMatches({ matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['1'] }] }, {}),
      true,
    );
    assert.equal(selectorMatches({ matchExpressions: [{ key: 'x', operator: 'Exists' }] }, { x: '' }), true);
    assert.equal(
      selectorMatches({ matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] }, { x: '' }),
      false,
    );
    assert.equal(
      selectorMatches({ matchExpressions: [{ key: 'x', operator: 'Bogus' as 'In' }] }, { x: '' }),
      false,
    );
  });
  void test('a BucketAccess selects by labels and/or service account; with neither it selects nobody', () => {
    assert.equal(
      bucketAccessSelectsPod(ba('a', { podSelector: { matchLabels: { app: 'x' } } }), pod({ app: 'x' })),
      true,
    );
    assert.equal(
      bucketAccessSelectsPod(ba('a', { serviceAccountName: 'default' }), pod({})),
      true,
      'unset SA is "default"',
    );
    assert.equal(
      bucketAccessSelectsPod(ba('a', { serviceAccountName: 'sa1', podSelector: {} }), pod({}, 'sa2')),
      false,
    );
    assert.equal(
      bucketAccessSelectsPod(
        ba('a', { serviceAccountName: 'sa1', podSelector: { matchLabels: { a: 'b' } } }),
        pod({}, 'sa1'),
      ),
      false,
    );
    assert.equal(bucketAccessSelectsPod(ba('a', {}), pod({})), false);
  });
  void test('allowedNamespaces: {} = all, a selector filters, a missing one admits nobody', () => {
    assert.equal(storeAllowsNamespace(store('x'), undefined), true);
    assert.equal(storeAllowsNamespace(store('x', { matchLabels: { t: 'g' } }), { t: 'h' }), false);
    const broken = store('x');
    delete (broken.spec as Partial<ObjectStore['spec']>).allowedNamespaces;
    assert.equal(storeAllowsNamespace(broken, {}), false);
  });

  void test('a namespace whose labels are not known yet is admitted only by {} (fail closed)', () => {
    const notUntrusted = store('x', {
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['untrusted'] }],
    });
    assert.equal(storeAllowsNamespace(notUntrusted, undefined), false, 'NotIn must not match unknown labels');
    assert.equal(storeAllowsNamespace(notUntrusted, { 'kubernetes.io/metadata.name': 'apps' }), true);
    assert.equal(storeAllowsNamespace(notUntrusted, { 'kubernetes.io/metadata.name': 'untrusted' }), false);
    assert.equal(storeAllowsNamespace(store('x', { matchLabels: {} }), undefined), true);
  });
});

void describe('computePodPolicy', () => {
  const input = (
    over: Partial<Parameters<typeof computePodPolicy>[0]> = {},
  ): Parameters<typeof computePodPolicy>[0] => ({
    pod: pod({ app: 'x' }),
    namespaceLabels: {},
    bucketAccesses: [],
    stores,
    storeUsable: () => true,
    ...over,
  });

  void test('no selecting BucketAccess → the explicit empty policy', () => {
    assert.deepEqual(computePodPolicy(input()).document, { version: 1, stores: [], grants: [] });
  });

  void test('union of selecting BucketAccesses, sorted by name, with sources; non-selecting ones ignored', () => {
    const r = computePodPolicy(
      input({
        bucketAccesses: [
          ba('z-second', {
            podSelector: {},
            grants: [{ bucket: 'b2', prefixes: ['p/'], access: ['write'], bucketConfig: ['config-read'] }],
          }),
          ba('a-first', { podSelector: { matchLabels: { app: 'x' } } }),
          ba('other', { podSelector: { matchLabels: { app: 'y' } } }),
        ],
        zone: 'zone-a',
      }),
    );
    assert.deepEqual(r.selectedBy, ['ns/a-first', 'ns/z-second']);
    assert.deepEqual(r.document.grants, [
      { store: 's1', bucket: 'b', access: ['read'], source: 'ns/a-first' },
      {
        store: 's1',
        bucket: 'b2',
        prefixes: ['p/'],
        access: ['write'],
        bucketConfig: ['config-read'],
        source: 'ns/z-second',
      },
    ]);
    assert.equal(r.document.zone, 'zone-a');
    assert.deepEqual(r.document.stores, [
      {
        name: 's1',
        endpoints: [{ url: 'http://s:9000', zone: 'a' }],
        region: 'r',
        addressing: 'path',
        credentials: { file: 's1.credentials.json' },
      },
    ]);
  });

  void test("a store's provider reaches the sidecar's store spec", () => {
    const minio = store('s1');
    minio.spec.provider = 'minio';
    const doc = computePodPolicy(
      input({ stores: new Map([['s1', minio]]), bucketAccesses: [ba('a', { podSelector: {} })] }),
    ).document;
    assert.equal(doc.stores[0]?.provider, 'minio');
  });

  void test('stores not admitting the namespace, missing stores and unusable credentials contribute nothing', () => {
    const accesses = [
      ba('gold', { storeRef: 's2', podSelector: {}, grants: [{ bucket: 'g', access: ['read'] }] }),
      ba('missing', { storeRef: 'nope', podSelector: {} }),
      ba('plain', { podSelector: {} }),
    ];
    assert.deepEqual(
      computePodPolicy(input({ bucketAccesses: accesses })).document.stores.map((s) => s.name),
      ['s1'],
    );
    assert.deepEqual(
      computePodPolicy(
        input({ bucketAccesses: accesses, namespaceLabels: { tier: 'gold' } }),
      ).document.stores.map((s) => s.name),
      ['s1', 's2'],
    );
    assert.deepEqual(
      computePodPolicy(input({ bucketAccesses: accesses, storeUsable: (n) => n !== 's1' })).document.grants,
      [],
    );
  });

  void test("a BucketAccess's cache settings ride on each of its grants", () => {
    const cached = ba('cached', { podSelector: {} });
    cached.spec.cache = { ttlSeconds: 60, maxSizeBytes: 1 << 20 };
    const grants = computePodPolicy(input({ bucketAccesses: [cached] })).document.grants;
    assert.ok(grants.length > 0);
    for (const g of grants) assert.deepEqual(g.cache, { ttlSeconds: 60, maxSizeBytes: 1 << 20 });
  });

  void test('a BucketAccess being deleted no longer grants', () => {
    const dying = ba('dying', { podSelector: {} });
    dying.metadata = { ...dying.metadata, deletionTimestamp: '2024-01-01T00:00:00Z' };
    assert.deepEqual(computePodPolicy(input({ bucketAccesses: [dying] })).document.grants, []);
  });
});

/**
 * The sidecar refuses a policy holding a grant it cannot enforce, and keeps its previous one
 * (proxy/policy/reload.ts): such grants are left out, the rest of the document stays.
 */
void describe('grants the sidecar could not enforce', () => {
  const p = pod({});
  void test('one bucket on two stores: the first BucketAccess by name keeps it', () => {
    const twoStores = new Map([...stores, ['s3', store('s3')]]);
    const r = computePodPolicy({
      pod: p,
      namespaceLabels: {},
      bucketAccesses: [
        ba('b-second', {
          storeRef: 's3',
          podSelector: {},
          grants: [
            { bucket: 'b', access: ['write'] },
            { bucket: 'c', access: ['read'] },
          ],
        }),
        ba('a-first', { podSelector: {} }),
      ],
      stores: twoStores,
      storeUsable: () => true,
    });
    assert.deepEqual(
      r.document.grants.map((g) => `${g.store}/${g.bucket}`),
      ['s1/b', 's3/c'],
    );
    assert.deepEqual(r.refused, [
      {
        source: 'ns/b-second',
        bucket: 'b',
        message: 'bucket b is already granted on ObjectStore s1 to the same pod',
        heldBy: 's1',
      },
    ]);
    assert.doesNotThrow(() => createAuthorizer(r.document));
  });
  void test('the older BucketAccess keeps the bucket, whatever the names: a newcomer cannot move it', () => {
    const aged = (name: string, created: string, spec: Partial<BucketAccess['spec']>): BucketAccess => {
      const b = ba(name, spec);
      return { ...b, metadata: { ...b.metadata, creationTimestamp: created } };
    };
    const r = computePodPolicy({
      pod: p,
      namespaceLabels: {},
      bucketAccesses: [
        aged('z-in-use', '2026-01-01T00:00:00Z', { podSelector: {} }),
        aged('a-newcomer', '2026-06-01T00:00:00Z', { storeRef: 's3', podSelector: {} }),
      ],
      stores: new Map([...stores, ['s3', store('s3')]]),
      storeUsable: () => true,
    });
    assert.deepEqual(
      r.document.grants.map((g) => `${g.store}/${g.bucket}`),
      ['s1/b'],
    );
    assert.equal(r.refused[0]?.source, 'ns/a-newcomer');
  });
  void test('a bucket the store reserves is left out, and a store left with no grant is not listed', () => {
    const ceph = new Map([
      ['s1', { ...store('s1'), spec: { ...store('s1').spec, provider: 'ceph' as const } }],
    ]);
    const r = computePodPolicy({
      pod: p,
      namespaceLabels: {},
      bucketAccesses: [ba('x', { podSelector: {}, grants: [{ bucket: 'admin', access: ['read'] }] })],
      stores: ceph,
      storeUsable: () => true,
    });
    assert.deepEqual(r.document, { version: 1, stores: [], grants: [] });
    assert.match(r.refused[0]?.message ?? '', /bucket admin is reserved by the backend of ObjectStore s1/);
    const minio = computePodPolicy({
      pod: p,
      namespaceLabels: {},
      bucketAccesses: [
        ba('x', {
          podSelector: {},
          grants: [
            { bucket: 'minio', access: ['read'] },
            { bucket: 'ok', access: ['read'] },
          ],
        }),
      ],
      stores,
      storeUsable: () => true,
    });
    assert.deepEqual(
      minio.document.grants.map((g) => g.bucket),
      ['ok'],
    );
    assert.equal(minio.refused.length, 1);
  });
});
