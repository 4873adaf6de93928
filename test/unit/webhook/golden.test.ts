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
import { parseAllDocuments } from 'yaml';
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

  void test('sluice inject reads and writes YAML as kubectl does (1.1): octal modes and quoted yes/no keep their meaning', () => {
    const input = [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: { name: web, namespace: team-a }',
      'spec:',
      '  template:',
      '    metadata: { annotations: { sluice.dev/inject: "true" } }',
      '    spec:',
      '      volumes: [{ name: s, secret: { secretName: x, defaultMode: 0400 } }]',
      '      containers: [{ name: app, image: x, env: [{ name: FLAG, value: "yes" }, { name: "N", value: "n" }] }]',
      '---',
      'kind: ConfigMap',
      'data: { mode: "0400" }',
      'binaryMode: 0755',
      '',
    ].join('\n');
    const { output, reports } = injectStream(input, {
      config: resolveInjectorConfig(),
      nativeSidecars: true,
    });
    assert.equal(reports[0]?.outcome.result, 'injected');
    // Read back as kubectl would.
    type Container = { name: string; env?: { name: string; value: unknown }[] };
    type Web = {
      spec: {
        template: { spec: { volumes: { secret: { defaultMode: number } }[]; containers: Container[] } };
      };
    };
    const [web, cm] = parseAllDocuments(output, { version: '1.1' }).map((d) => d.toJS() as unknown);
    const spec = (web as Web).spec.template.spec;
    assert.equal(spec.volumes[0]!.secret.defaultMode, 0o400, 'the mode 0400, not 400 (0620)');
    const env = Object.fromEntries(
      (spec.containers.find((c) => c.name === 'app')!.env ?? []).map((e) => [e.name, e.value]),
    );
    assert.deepEqual([env.FLAG, env.N], ['yes', 'n'], 'strings, not booleans');
    assert.equal((cm as { binaryMode: number }).binaryMode, 0o755);
    assert.match(output, /binaryMode: 0755/, 'a document not injected passes through as written');
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
