import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  PatchApplyError,
  PatchBuilder,
  applyPatch,
  escapeToken,
  pointer,
  unescapeToken,
} from '../../../operator/webhook/patch.ts';

void describe('RFC 6901 escaping', () => {
  void test('escapes ~ before / so "~1" in a key is not read back as "/"', () => {
    assert.equal(escapeToken('sluice.dev/status'), 'sluice.dev~1status');
    assert.equal(escapeToken('a~b'), 'a~0b');
    assert.equal(escapeToken('~1'), '~01');
    assert.equal(escapeToken('a/~/b'), 'a~1~0~1b');
    for (const s of ['~1', '/~0', 'a/b~c', '~~//']) assert.equal(unescapeToken(escapeToken(s)), s);
  });

  void test('pointer joins escaped tokens and numbers', () => {
    assert.equal(pointer('metadata', 'annotations', 'x.io/y~z'), '/metadata/annotations/x.io~1y~0z');
    assert.equal(pointer('spec', 'containers', 0, 'env'), '/spec/containers/0/env');
  });

  void test('applyPatch resolves escaped keys to the real ones', () => {
    const doc = { m: { 'a/b': 1, 'c~d': 2 } };
    const out = applyPatch(doc, [
      { op: 'replace', path: '/m/a~1b', value: 10 },
      { op: 'add', path: '/m/e~01', value: 3 },
      { op: 'remove', path: '/m/c~0d' },
    ]);
    assert.deepEqual(out, { m: { 'a/b': 10, 'e~1': 3 } });
    assert.deepEqual(doc, { m: { 'a/b': 1, 'c~d': 2 } }, 'input untouched');
  });
});

void describe('PatchBuilder', () => {
  void test('adds a missing map whole, else entry by entry (add new, replace existing)', () => {
    assert.deepEqual(new PatchBuilder().setEntries('/metadata/labels', undefined, { 'a/b': 'x' }).ops, [
      { op: 'add', path: '/metadata/labels', value: { 'a/b': 'x' } },
    ]);
    assert.deepEqual(
      new PatchBuilder().setEntries(
        '/metadata/labels',
        { keep: '1', 'a/b': 'old' },
        { 'a/b': 'x', 'n~': 'y' },
      ).ops,
      [
        { op: 'replace', path: '/metadata/labels/a~1b', value: 'x' },
        { op: 'add', path: '/metadata/labels/n~0', value: 'y' },
      ],
    );
  });

  void test('adds a missing list whole, else appends at /-', () => {
    assert.deepEqual(new PatchBuilder().append('/spec/volumes', undefined, [1, 2]).ops, [
      { op: 'add', path: '/spec/volumes', value: [1, 2] },
    ]);
    assert.deepEqual(new PatchBuilder().append('/spec/volumes', [0], [1, 2]).ops, [
      { op: 'add', path: '/spec/volumes/-', value: 1 },
      { op: 'add', path: '/spec/volumes/-', value: 2 },
    ]);
    assert.deepEqual(new PatchBuilder().append('/spec/volumes', [0], []).ops, []);
  });

  void test('prepend inserts at /0 or creates the list', () => {
    const doc = { spec: { containers: [{ name: 'app' }] } as Record<string, unknown> };
    const b = new PatchBuilder()
      .prepend('/spec/containers', doc.spec.containers as unknown[], { name: 'side' })
      .prepend('/spec/initContainers', undefined, { name: 'init' });
    assert.deepEqual(applyPatch(doc, b.ops), {
      spec: { containers: [{ name: 'side' }, { name: 'app' }], initContainers: [{ name: 'init' }] },
    });
  });

  void test('a built patch applies to the document it was built from', () => {
    const doc = { metadata: { annotations: { 'x/y': 'z' } }, spec: { volumes: [{ name: 'v' }] } };
    const b = new PatchBuilder()
      .setEntries('/metadata/annotations', doc.metadata.annotations, { 'sluice.dev/status': 'injected' })
      .setEntries('/metadata/labels', undefined, { id: 'i' })
      .append('/spec/volumes', doc.spec.volumes, [{ name: 'w' }]);
    assert.deepEqual(applyPatch(doc, b.ops), {
      metadata: { annotations: { 'x/y': 'z', 'sluice.dev/status': 'injected' }, labels: { id: 'i' } },
      spec: { volumes: [{ name: 'v' }, { name: 'w' }] },
    });
  });
});

void describe('applyPatch follows RFC 6902', () => {
  void test('add under a missing parent fails (the API server would reject the patch too)', () => {
    assert.throws(
      () => applyPatch({}, [{ op: 'add', path: '/metadata/labels/a', value: 'x' }]),
      PatchApplyError,
    );
  });
  void test('array indexes: insert up to length, replace/remove only existing, no leading zeros', () => {
    assert.deepEqual(applyPatch({ a: [1] }, [{ op: 'add', path: '/a/1', value: 2 }]), { a: [1, 2] });
    assert.throws(() => applyPatch({ a: [1] }, [{ op: 'add', path: '/a/2', value: 2 }]), PatchApplyError);
    assert.throws(() => applyPatch({ a: [1] }, [{ op: 'replace', path: '/a/1', value: 2 }]), PatchApplyError);
    assert.throws(() => applyPatch({ a: [1, 2] }, [{ op: 'remove', path: '/a/01' }]), PatchApplyError);
  });
  void test('replace of a missing key fails; test compares values', () => {
    assert.throws(() => applyPatch({ a: {} }, [{ op: 'replace', path: '/a/b', value: 1 }]), PatchApplyError);
    assert.deepEqual(applyPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 1 }]), { a: 1 });
    assert.throws(() => applyPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]), PatchApplyError);
  });
});
