/**
 * The chart grants exactly the rules the controller states it needs (operator/controller/rbac.yaml,
 * which its own integration tests run under), plus the webhook's one rule (its configuration's
 * caBundle, self-signed TLS only). A rule added on one side and not the other fails here, and so
 * does a verb no API call of the operator needs (CALLS below); whether the rules suffice on a
 * real API server is test/integration/chart/rbac.test.ts.
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
  'admissionregistration.k8s.io|mutatingwebhookconfigurations|get,patch|sluice-injector';

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

/**
 * Every Kubernetes API call the operator makes, as RBAC sees it (GET one object = get, GET a
 * collection = list, ?watch = watch, POST = create, PUT = update, PATCH = patch, DELETE =
 * delete), and where: the file must still contain the snippet, so a call removed from the code
 * leaves a row that fails instead of a verb granted for nothing. Calls go through
 * operator/kube/client.ts (KubeClient, and the Informer's list+watch built on it), except the
 * webhook's and TLS code's @kubernetes/client-node calls named here.
 */
interface Call {
  group: string;
  resource: string;
  verbs: string[];
  file: string;
  snippet: string;
}
const CALLS: Call[] = [
  // Informers (operator/kube/informer.ts: client.list then a Watch) on these collections.
  ...['objectstores', 'bucketaccesses'].map((r) => ({
    group: 'sluice.dev',
    resource: r,
    verbs: ['list', 'watch'],
    file: 'operator/controller/controller.ts',
    snippet: `\`\${CRD_BASE}/${r}\``,
  })),
  ...['pods', 'secrets', 'nodes', 'namespaces'].map((r) => ({
    group: '',
    resource: r,
    verbs: ['list', 'watch'],
    file: 'operator/controller/controller.ts',
    snippet: `'/api/v1/${r}'`,
  })),
  ...['objectstores/status', 'bucketaccesses/status'].map((r) => ({
    group: 'sluice.dev',
    resource: r,
    verbs: ['patch'],
    file: 'operator/controller/reconcile-status.ts',
    snippet: "client.patch(path, { status }, 'merge')",
  })),
  // Per-pod policy Secrets.
  {
    group: '',
    resource: 'secrets',
    verbs: ['create'],
    file: 'operator/controller/reconcile-pod.ts',
    snippet: 'client.create(',
  },
  {
    group: '',
    resource: 'secrets',
    verbs: ['get'],
    file: 'operator/controller/reconcile-pod.ts',
    snippet: 'client.get<Secret>(path)',
  },
  {
    group: '',
    resource: 'secrets',
    verbs: ['update'],
    file: 'operator/controller/reconcile-pod.ts',
    snippet: 'client.replace(path,',
  },
  {
    group: '',
    resource: 'secrets',
    verbs: ['delete'],
    file: 'operator/controller/reconcile-pod.ts',
    snippet: 'client.delete(path,',
  },
  // The webhook's shared TLS Secret (self-signed mode).
  {
    group: '',
    resource: 'secrets',
    verbs: ['get'],
    file: 'operator/tls/secret.ts',
    snippet: 'api.readNamespacedSecret(',
  },
  {
    group: '',
    resource: 'secrets',
    verbs: ['create'],
    file: 'operator/tls/secret.ts',
    snippet: 'api.createNamespacedSecret(',
  },
  {
    group: '',
    resource: 'secrets',
    verbs: ['update'],
    file: 'operator/tls/secret.ts',
    snippet: 'api.replaceNamespacedSecret(',
  },
  {
    group: '',
    resource: 'namespaces',
    verbs: ['get'],
    file: 'operator/webhook/namespaces.ts',
    snippet: 'api.readNamespace(',
  },
  {
    group: '',
    resource: 'events',
    verbs: ['create'],
    file: 'operator/controller/events.ts',
    snippet: "plural: 'events'",
  },
  // Leader election: read, create the first time, then PUT to acquire, renew and release.
  {
    group: 'coordination.k8s.io',
    resource: 'leases',
    verbs: ['get'],
    file: 'operator/kube/leader.ts',
    snippet: 'this.client.getOrUndefined<Lease>(',
  },
  {
    group: 'coordination.k8s.io',
    resource: 'leases',
    verbs: ['create'],
    file: 'operator/kube/leader.ts',
    snippet: 'this.client.create(this.path,',
  },
  {
    group: 'coordination.k8s.io',
    resource: 'leases',
    verbs: ['update'],
    file: 'operator/kube/leader.ts',
    snippet: 'this.client.replace(',
  },
  // caBundle (self-signed mode): read, then a JSON patch.
  {
    group: 'admissionregistration.k8s.io',
    resource: 'mutatingwebhookconfigurations',
    verbs: ['get'],
    file: 'operator/tls/ca-bundle.ts',
    snippet: 'api.readMutatingWebhookConfiguration(',
  },
  {
    group: 'admissionregistration.k8s.io',
    resource: 'mutatingwebhookconfigurations',
    verbs: ['patch'],
    file: 'operator/tls/ca-bundle.ts',
    snippet: 'api.patchMutatingWebhookConfiguration(',
  },
];

/** Every (group, resource, verb) a set of manifests grants, as `group|resource|verb`. */
const grants = (ms: Manifest[]): Set<string> =>
  new Set(
    ms
      .filter((m) => m.kind === 'ClusterRole' || m.kind === 'Role')
      .flatMap((m) => (m as { rules?: V1PolicyRule[] }).rules ?? [])
      .flatMap((r) =>
        (r.apiGroups ?? []).flatMap((g) =>
          (r.resources ?? []).flatMap((res) => r.verbs.map((v) => `${g}|${res}|${v}`)),
        ),
      ),
  );
const used = new Set(CALLS.flatMap((c) => c.verbs.map((v) => `${c.group}|${c.resource}|${v}`)));

void test('every granted verb is one the operator calls (CALLS): no unused permission', () => {
  for (const [what, ms] of [
    ['operator/controller/rbac.yaml', controller],
    ['chart, self-signed TLS', template({ release: 'sluice' })],
    ['chart, cert-manager TLS', template({ release: 'sluice', values: { 'tls.mode': 'cert-manager' } })],
  ] as const) {
    const unused = [...grants(ms)].filter((g) => !used.has(g));
    assert.deepEqual(unused, [], `${what} grants verbs no call in CALLS needs`);
  }
});

void test('every call in CALLS is still in the code, and granted by the chart', () => {
  const granted = grants(template({ release: 'sluice' }));
  for (const c of CALLS) {
    const src = readFileSync(join(REPO_ROOT, c.file), 'utf8');
    assert.ok(src.includes(c.snippet), `${c.file} no longer contains ${c.snippet}: update CALLS and RBAC`);
    for (const v of c.verbs) assert.ok(granted.has(`${c.group}|${c.resource}|${v}`), `${v} ${c.resource}`);
  }
});
