/** `sluice inject` as users run it: the real CLI process, stdin in, YAML out, exit status. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';

const root = join(import.meta.dirname, '../../..');
const sluice = (args: string[], input: string) =>
  spawnSync(join(root, 'node_modules/.bin/node'), [join(root, 'bin/sluice.ts'), 'inject', ...args], {
    input,
    encoding: 'utf8',
    timeout: 60_000,
  });

const pod = `apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: team-a
spec:
  containers:
    - name: app
      image: x
`;

void test('stdin to stdout; --kube-version below 1.29 gives a non-native sidecar', () => {
  const native = sluice(['-f', '-'], pod);
  assert.equal(native.status, 0, native.stderr);
  const a = parseAllDocuments(native.stdout)[0]!.toJS() as V1Pod;
  assert.equal(a.spec?.initContainers?.[0]?.name, 'sluice-proxy');
  assert.match(native.stderr, /Pod\/team-a\/p injected/);

  const legacy = sluice(['-f', '-', '--kube-version', 'v1.28.9'], pod);
  assert.equal(legacy.status, 0, legacy.stderr);
  const b = parseAllDocuments(legacy.stdout)[0]!.toJS() as V1Pod;
  assert.equal(b.spec?.initContainers, undefined);
  assert.equal(b.spec?.containers[0]?.name, 'sluice-proxy');
});

void test('a refused template exits 1 and is passed through unchanged; bad input exits 2', () => {
  const host = pod.replace('spec:\n', 'spec:\n  hostNetwork: true\n');
  const r = sluice(['-f', '-'], host);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /NOT injected: hostNetwork pod refused/);
  assert.doesNotMatch(r.stdout, /sluice-proxy/);
  assert.equal(sluice(['-f', '-', '--host-network', 'skip'], host).status, 0);
  assert.equal(sluice(['-f', '-'], 'a: [').status, 2);
  assert.equal(sluice(['-f', '/nonexistent.yaml'], '').status, 2);
  assert.equal(sluice(['-f', '-', '--host-network', 'allow'], pod).status, 2);
});

void test('a typo in --config or a --kube-version that is not a version exits 2, naming it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-inject-'));
  try {
    const typo = join(dir, 'typo.yaml');
    writeFileSync(typo, 'imagee: registry.example/sluice:1\n');
    const r = sluice(['-f', '-', '--config', typo], pod);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /imagee: unknown field/);
    const list = join(dir, 'list.yaml');
    writeFileSync(list, '- image: x\n');
    assert.equal(sluice(['-f', '-', '--config', list], pod).status, 2);
    const ok = join(dir, 'ok.yaml');
    writeFileSync(ok, 'image: registry.example/sluice:1\ncacheSize: 64Mi\n');
    const good = sluice(['-f', '-', '--config', ok], pod);
    assert.equal(good.status, 0, good.stderr);
    assert.match(good.stdout, /registry\.example\/sluice:1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const v = sluice(['-f', '-', '--kube-version', 'abc'], pod);
  assert.equal(v.status, 2);
  assert.match(v.stderr, /--kube-version abc: not a Kubernetes version/);
});
