/**
 * The chart grants exactly the rules the controller states it needs (operator/controller/rbac.yaml,
 * which its own integration tests run under), plus the webhook's one rule (its configuration's
 * caBundle, self-signed TLS only). A rule added on one side and not the other fails here; whether
 * the rules suffice on a real API server is test/integration/chart/rbac.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1PolicyRule } from '@kubernetes/client-node';
import { REPO_ROOT, parseManifests, template, type Manifest } from './helm.ts';

/** A rule as a comparable string; lease names differ by design (the chart derives its own). */
function key(r: V1PolicyRule): string {
  const sorted = (xs?: string[]): string => [...(xs ?? [])].sort().join(',');
  const names = r.resources?.includes('leases') && r.resourceNames ? '<lease>' : sorted(r.resourceNames);
  return `${sorted(r.apiGroups)}|${sorted(r.resources)}|${sorted(r.verbs)}|${names}`;
}
const rules = (ms: Manifest[], kind: string): string[] =>
  ms
    .filter((m) => m.kind === kind)
    .flatMap((m) => (m as { rules?: V1PolicyRule[] }).rules ?? [])
    .map(key)
    .sort();

const controller = parseManifests(readFileSync(join(REPO_ROOT, 'operator/controller/rbac.yaml'), 'utf8'));
const WEBHOOK_CA_RULE =
  'admissionregistration.k8s.io|mutatingwebhookconfigurations|get,list,patch,update,watch|sluice-injector';

void test("ClusterRole: the controller's rules, plus the caBundle rule in self-signed mode", () => {
  const chart = rules(template({ release: 'sluice' }), 'ClusterRole');
  assert.deepEqual(chart, [...rules(controller, 'ClusterRole'), WEBHOOK_CA_RULE].sort());
});

void test("ClusterRole in cert-manager mode: exactly the controller's rules", () => {
  const chart = rules(template({ release: 'sluice', values: { 'tls.mode': 'cert-manager' } }), 'ClusterRole');
  assert.deepEqual(chart, rules(controller, 'ClusterRole'));
});

void test("leader-election Role: the controller's rules", () => {
  assert.deepEqual(rules(template({ release: 'sluice' }), 'Role'), rules(controller, 'Role'));
});

void test('every chart RBAC rule has a comment saying why', () => {
  const src = readFileSync(join(REPO_ROOT, 'charts/sluice/templates/rbac.yaml'), 'utf8').split('\n');
  src.forEach((line, i) => {
    if (/^\s*- apiGroups:/.test(line)) {
      let j = i - 1;
      while (j >= 0 && /^\s*{{-? (if|end)/.test(src[j] ?? '')) j--;
      assert.match(src[j] ?? '', /^\s*#/, `rule at templates/rbac.yaml:${i + 1} has no reason above it`);
    }
  });
});
