/**
 * Golden files: each fixture pod in, the expected AdmissionResponse (patch decoded) out. A
 * change in what the webhook does to a pod shows as a diff here; `make golden` regenerates
 * after review. Beyond equality, every patch must apply to its fixture and leave it in a
 * shape the webhook then leaves alone (idempotence).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { IDENTITY_LABEL, SIDECAR_CONTAINER_NAME, podSecretName } from '../../../operator/contract.ts';
import { injectStream } from '../../../operator/inject/inject.ts';
import { resolveInjectorConfig } from '../../../operator/webhook/config.ts';
import { mutate } from '../../../operator/webhook/mutate.ts';
import { applyPatch } from '../../../operator/webhook/patch.ts';
import type { PatchOp } from '../../../operator/webhook/patch.ts';
import {
  CASES,
  GOLDEN_DIR,
  NAMESPACE_LABELS,
  requestNamespace,
  reviewFor,
  runCase,
  stubIdentities,
} from '../../fixtures/cases.ts';

void describe('webhook golden files', () => {
  for (const c of CASES) {
    void test(c.name, () => {
      const { golden, outcome, pod } = runCase(c);
      assert.equal(outcome, c.expect);
      const want: unknown = JSON.parse(readFileSync(join(GOLDEN_DIR, `${c.name}.patch.json`), 'utf8'));
      assert.deepEqual(golden, want, `${c.name}: differs from test/golden (run make golden if intended)`);

      const patch = golden.patch as PatchOp[];
      if (outcome === 'skipped' || outcome === 'denied') {
        assert.equal(patch.length, 0, 'a pod that is not injected is not changed');
        return;
      }
      if (outcome === 'env-completed') {
        for (const op of patch)
          assert.match(op.path, /^\/spec\/(containers|initContainers)\/\d+\/env(\/-)?$/, 'only env is added');
      }
      const after = applyPatch(pod, patch);
      const identity = after.metadata?.labels?.[IDENTITY_LABEL];
      assert.ok(identity, 'every injected pod has an identity');
      const policy = after.spec?.volumes?.find((v) => v.name === 'sluice-policy');
      assert.equal(policy?.secret?.secretName, podSecretName(identity));
      const all = [...(after.spec?.initContainers ?? []), ...(after.spec?.containers ?? [])];
      assert.equal(all.filter((x) => x.name === SIDECAR_CONTAINER_NAME).length, 1, 'exactly one sidecar');

      // Re-invocation on the mutated pod changes nothing.
      const again = mutate(reviewFor(after), {
        config: resolveInjectorConfig(c.config),
        nativeSidecars: c.nativeSidecars ?? true,
        namespaceLabels: NAMESPACE_LABELS[requestNamespace(pod)] ?? {},
        newIdentity: stubIdentities(),
      });
      assert.deepEqual(again.outcome, { result: 'skipped', reason: 'already-injected' });
      assert.equal(again.review.response?.patch, undefined);
    });
  }

  void test('sluice inject on a workload stream', () => {
    const input = readFileSync(join(GOLDEN_DIR, '../fixtures/workloads.yaml'), 'utf8');
    const { output, reports } = injectStream(input, {
      config: resolveInjectorConfig(),
      nativeSidecars: true,
    });
    assert.equal(output, readFileSync(join(GOLDEN_DIR, 'workloads.inject.yaml'), 'utf8'));
    assert.deepEqual(
      reports.map((r) => `${r.resource} ${r.outcome.result}`),
      [
        'Deployment/team-a/web injected',
        'StatefulSet/team-a/db injected',
        'CronJob/team-a/nightly injected',
        'Job/team-a/once skipped',
        'DaemonSet/team-a/node-agent denied',
        'Pod/team-a/solo injected',
      ],
    );
    // Injecting the output again is a no-op: every template is already injected.
    const twice = injectStream(output, { config: resolveInjectorConfig(), nativeSidecars: true });
    assert.equal(twice.output, output);
  });

  void test('sluice inject reads and writes YAML as kubectl does: octal modes, yes/no, and strings that stay strings', () => {
    const input = [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: { name: web, namespace: team-a }',
      'spec:',
      '  template:',
      '    metadata: { annotations: { sluice.dev/inject: "true" } }',
      '    spec:',
      '      nodeSelector: { cloud.google.com/machine-family: e2 }',
      '      volumes: [{ name: s, secret: { secretName: x, defaultMode: 0400 } }]',
      '      containers:',
      '        - name: app',
      '          image: x',
      '          args: [chown, 0:0, ., 2024-01-01T10:00:00+02:00]',
      '          env: [{ name: FLAG, value: "yes" }, { name: "N", value: "n" }, { name: M, value: "0O17" }]',
      '---',
      'kind: ConfigMap',
      'data: { mode: "0400", fam: e2, at: 1:20 }',
      'binaryMode: 0755',
      '',
    ].join('\n');
    const { output, reports } = injectStream(input, {
      config: resolveInjectorConfig(),
      nativeSidecars: true,
    });
    assert.equal(reports[0]?.outcome.result, 'injected');
    const [web, cm] = output.split(/^---$/m).filter((d) => d.trim() !== '');
    // The text kubectl reads. An octal mode is written in decimal: 0400 is 256 (not 400, 0620).
    assert.match(web!, /^ +defaultMode: 256$/m);
    // Strings go-yaml would read as a boolean or a number are quoted; others are left plain.
    assert.match(web!, /^ +value: "yes"$/m);
    assert.match(web!, /^ +value: "n"$/m);
    assert.match(web!, /^ +value: "0O17"$/m);
    assert.match(web!, /cloud\.google\.com\/machine-family: e2$/m);
    for (const arg of ['chown', '0:0', '.', '2024-01-01T10:00:00+02:00'])
      assert.match(web!, new RegExp(`^ +- ${arg.replace(/[.+]/g, '\\$&')}$`, 'm'), arg);
    // A document not injected keeps its meaning: the mode 0755 (493), the strings as written.
    assert.match(cm!, /^binaryMode: (0755|493)$/m);
    assert.match(cm!, /mode: "0400"/);
    assert.match(cm!, /fam: e2/);
    assert.match(cm!, /at: 1:20/);
  });

  void test('every fixture pod is used by a case', () => {
    const used = new Set(CASES.map((c) => c.fixture));
    const fixtures = readdirSync(join(GOLDEN_DIR, '../fixtures'))
      .filter((f) => f.endsWith('.yaml') && f !== 'workloads.yaml')
      .map((f) => f.slice(0, -'.yaml'.length));
    assert.ok(fixtures.length >= 15);
    for (const f of fixtures) assert.ok(used.has(f), `fixture ${f}.yaml has no case`);
  });
});
