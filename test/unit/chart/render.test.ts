/**
 * charts/sluice rendered by the real helm: `helm lint` is clean and what the default values and
 * the documented combinations render is what issue 8 asks of the chart.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  V1ClusterRole,
  V1ConfigMap,
  V1Container,
  V1Deployment,
  V1MutatingWebhookConfiguration,
  V1PodDisruptionBudget,
  V1Role,
  V1Service,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import {
  WEBHOOK_CERT_SECRET,
  WEBHOOK_CONFIGURATION_NAME,
  WEBHOOK_NAME,
  WEBHOOK_PATH,
  WEBHOOK_PORT,
} from '../../../operator/contract.ts';
import { all, CHART_DIR, helm, one, parseManifests, template, templateArgs, type Manifest } from './helm.ts';

const as = <T>(m: Manifest): T => m as unknown as T;
const operatorContainer = (m: Manifest[]): V1Container => {
  const c = as<V1Deployment>(one(m, 'Deployment')).spec?.template.spec?.containers[0];
  assert.ok(c, 'the Deployment has a container');
  return c;
};
const arg = (c: V1Container, flag: string): string | undefined =>
  c.args?.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);

/** The cert-manager fields the TLS tests read. */
type CmIssuer = Manifest & { spec: { selfSigned?: object; ca?: { secretName: string } } };
type CmCertificate = Manifest & {
  spec: {
    isCA?: boolean;
    secretName: string;
    duration: string;
    dnsNames?: string[];
    privateKey?: { rotationPolicy?: string };
    issuerRef: { name: string; kind?: string; group?: string };
  };
};
/** The webhook's serving Certificate: the one that is not a CA. */
const serving = (m: Manifest[]): CmCertificate => {
  const certs = (all(m, 'Certificate') as CmCertificate[]).filter((c) => c.spec.isCA !== true);
  assert.equal(certs.length, 1, 'one serving Certificate');
  return certs[0]!;
};
/** Hours of a Go duration such as 87600h or 2160h0m0s (the units cert-manager examples use). */
const hours = (d: string): number => {
  const h = /^(\d+)h/.exec(d);
  assert.ok(h, `duration ${d} in hours`);
  return Number(h[1]);
};

/** Value combinations the chart documents; each must lint and render. */
const COMBINATIONS: Record<string, Record<string, unknown>> = {
  defaults: {},
  'cert-manager TLS': { 'tls.mode': 'cert-manager' },
  'cert-manager TLS with an existing issuer': {
    'tls.mode': 'cert-manager',
    'tls.certManager.issuerRef': { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
  },
  'failurePolicy Ignore': { 'webhook.failurePolicy': 'Ignore', 'webhook.timeoutSeconds': 9 },
  'monitoring on': {
    'metrics.serviceMonitor.enabled': true,
    'metrics.podMonitor.enabled': true,
    'metrics.dashboard.enabled': true,
  },
  'single replica, no leader election': { 'operator.replicas': 1, 'operator.leaderElection.enabled': false },
  'pinned digests, separate sidecar image': {
    'image.digest': `sha256:${'a'.repeat(64)}`,
    'sidecar.image.repository': 'registry.example/sluice-proxy',
    'sidecar.image.tag': '0.1.0-rc1',
  },
};

void describe('helm lint', () => {
  for (const [name, values] of Object.entries(COMBINATIONS)) {
    void test(`is clean: ${name}`, () => {
      const args = ['lint', '--strict', CHART_DIR];
      for (const [k, v] of Object.entries(values)) args.push('--set-json', `${k}=${JSON.stringify(v)}`);
      const run = helm(args);
      assert.equal(run.status, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      assert.doesNotMatch(run.stdout, /\[(WARNING|ERROR)\]/);
    });
  }
});

void describe('helm template', () => {
  for (const [name, values] of Object.entries(COMBINATIONS)) {
    void test(`renders: ${name}`, () => {
      const m = template({ values });
      for (const x of m)
        assert.ok(x.apiVersion && x.kind && x.metadata.name, `incomplete object ${JSON.stringify(x)}`);
      one(m, 'Deployment');
      one(m, 'MutatingWebhookConfiguration');
    });
  }

  void test('release "sluice" uses the names operator/contract.ts declares', () => {
    const m = template({ release: 'sluice' });
    const mwc = as<V1MutatingWebhookConfiguration>(one(m, 'MutatingWebhookConfiguration'));
    assert.equal(mwc.metadata?.name, WEBHOOK_CONFIGURATION_NAME);
    assert.ok(mwc.webhooks?.some((w) => w.name === WEBHOOK_NAME));
    for (const w of mwc.webhooks ?? []) assert.equal(w.clientConfig.service?.path, WEBHOOK_PATH);
    const c = operatorContainer(m);
    assert.equal(arg(c, '--tls-secret'), WEBHOOK_CERT_SECRET);
    assert.equal(c.ports?.find((p) => p.name === 'webhook')?.containerPort, WEBHOOK_PORT);
  });
});

void describe('operator Deployment (defaults)', () => {
  const m = template({ release: 'rel', namespace: 'sluice-system' });
  const dep = as<V1Deployment>(one(m, 'Deployment'));
  const pod = dep.spec?.template.spec;
  const c = operatorContainer(m);

  void test('2 replicas with leader election on a Lease the Role names', () => {
    assert.equal(dep.spec?.replicas, 2);
    assert.equal(arg(c, '--leader-elect'), 'true');
    const lease = arg(c, '--leader-election-lease');
    const role = as<V1Role>(one(m, 'Role'));
    assert.ok(
      role.rules?.some((r) => r.resources?.includes('leases') && r.resourceNames?.includes(lease ?? '')),
    );
    assert.equal(c.args?.[0], 'operator');
  });

  void test('a PDB keeps one replica', () => {
    const pdb = as<V1PodDisruptionBudget>(one(m, 'PodDisruptionBudget'));
    assert.equal(pdb.spec?.minAvailable, 1);
    assert.deepEqual(pdb.spec?.selector?.matchLabels, dep.spec?.selector.matchLabels);
  });

  void test('probes on the health port, resources set', () => {
    const health = c.ports?.find((p) => p.name === 'health');
    assert.ok(health);
    assert.equal(c.livenessProbe?.httpGet?.port, 'health');
    assert.equal(c.readinessProbe?.httpGet?.port, 'health');
    assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
    assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(arg(c, '--health-port'), String(health.containerPort));
    assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory && c.resources.limits?.memory);
  });

  void test('restricted security context: non-root, read-only root, no capabilities, RuntimeDefault seccomp', () => {
    assert.equal(pod?.securityContext?.runAsNonRoot, true);
    assert.equal(pod?.securityContext?.runAsUser, 65532);
    assert.equal(pod?.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    assert.equal(c.securityContext?.runAsNonRoot, true);
    assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL']);
    assert.equal(c.securityContext?.capabilities?.add, undefined);
    assert.equal(c.securityContext?.seccompProfile?.type, 'RuntimeDefault');
  });

  void test('the operator pod gets its API token, the ServiceAccount does not hand it out', () => {
    const sa = as<V1ServiceAccount>(one(m, 'ServiceAccount'));
    assert.equal(sa.automountServiceAccountToken, false);
    assert.equal(pod?.automountServiceAccountToken, true);
    assert.equal(pod?.serviceAccountName, sa.metadata?.name);
  });

  void test('the webhook Service maps 443 to the webhook port of the operator pods', () => {
    const svc = as<V1Service>(one(m, 'Service', 'rel-sluice-webhook'));
    assert.deepEqual(
      svc.spec?.ports?.map((p) => [p.port, p.targetPort]),
      [[443, 'webhook']],
    );
    assert.deepEqual(svc.spec?.selector, dep.spec?.selector.matchLabels);
    assert.equal(arg(c, '--webhook-service'), 'rel-sluice-webhook');
  });

  void test('sidecar settings reach the operator: same image, resources, log level, hostNetwork policy', () => {
    assert.equal(arg(c, '--sidecar-image'), c.image);
    assert.equal(arg(c, '--sidecar-memory-limit'), '256Mi');
    assert.equal(arg(c, '--sidecar-log-level'), 'info');
    assert.equal(arg(c, '--sidecar-node-options'), '--max-semi-space-size=1');
    assert.equal(arg(c, '--host-network'), 'refuse');
  });
});

void describe('MutatingWebhookConfiguration', () => {
  const m = template({ release: 'rel', namespace: 'sluice-system' });
  const mwc = as<V1MutatingWebhookConfiguration>(one(m, 'MutatingWebhookConfiguration'));

  void test('two disjoint webhooks: opted-in pods elsewhere, every pod of enabled namespaces', () => {
    const hooks = mwc.webhooks ?? [];
    assert.deepEqual(
      hooks.map((w) => w.name),
      ['inject.sluice.dev', 'namespace.inject.sluice.dev'],
    );
    const labelOps = hooks.map(
      (w) => w.namespaceSelector?.matchExpressions?.find((e) => e.key === 'sluice.dev/injection')?.operator,
    );
    assert.deepEqual(labelOps, ['NotIn', 'In']);
    for (const w of hooks) assert.equal(w.matchConditions?.length, 1);
  });

  void test('every webhook: v1 reviews, no side effects, pods CREATE, reinvoked if needed, defaults', () => {
    for (const w of mwc.webhooks ?? []) {
      assert.deepEqual(w.admissionReviewVersions, ['v1']);
      assert.equal(w.sideEffects, 'None');
      assert.equal(w.failurePolicy, 'Fail');
      assert.equal(w.timeoutSeconds, 10);
      assert.equal(w.reinvocationPolicy, 'IfNeeded');
      assert.deepEqual(w.rules, [
        {
          apiGroups: [''],
          apiVersions: ['v1'],
          operations: ['CREATE'],
          resources: ['pods'],
          scope: 'Namespaced',
        },
      ]);
      assert.equal(w.objectSelector, undefined);
      assert.equal(w.clientConfig.service?.name, 'rel-sluice-webhook');
      assert.equal(w.clientConfig.service?.namespace, 'sluice-system');
      assert.equal(w.clientConfig.service?.port, 443);
      assert.equal(w.clientConfig.caBundle, undefined, 'self-signed mode: the operator sets caBundle');
    }
  });

  void test('kube-system and the release namespace are never sent to the webhook', () => {
    for (const w of mwc.webhooks ?? []) {
      const e = w.namespaceSelector?.matchExpressions?.find((x) => x.key === 'kubernetes.io/metadata.name');
      assert.equal(e?.operator, 'NotIn');
      for (const ns of ['kube-system', 'sluice-system', 'kube-public', 'kube-node-lease'])
        assert.ok(e?.values?.includes(ns), ns);
    }
  });

  void test('failurePolicy, timeout and extra excluded namespaces are configurable', () => {
    const m2 = template({
      namespace: 'ops',
      values: {
        'webhook.failurePolicy': 'Ignore',
        'webhook.timeoutSeconds': 12,
        'webhook.excludeNamespaces': ['batch'],
      },
    });
    for (const w of as<V1MutatingWebhookConfiguration>(one(m2, 'MutatingWebhookConfiguration')).webhooks ??
      []) {
      assert.equal(w.failurePolicy, 'Ignore');
      assert.equal(w.timeoutSeconds, 12);
      const e = w.namespaceSelector?.matchExpressions?.find((x) => x.key === 'kubernetes.io/metadata.name');
      assert.deepEqual(e?.values, ['kube-system', 'ops', 'batch']);
    }
  });

  void test('webhook.url replaces the Service (operator run outside the cluster)', () => {
    const m2 = template({ values: { 'webhook.url': 'https://127.0.0.1:9443/mutate' } });
    for (const w of as<V1MutatingWebhookConfiguration>(one(m2, 'MutatingWebhookConfiguration')).webhooks ??
      []) {
      assert.deepEqual(w.clientConfig, { url: 'https://127.0.0.1:9443/mutate' });
    }
  });
});

void describe('TLS modes', () => {
  void test('self-signed: the operator may patch its own webhook configuration, and only that one', () => {
    const m = template({ release: 'rel' });
    const role = as<V1ClusterRole>(one(m, 'ClusterRole'));
    const rule = role.rules?.find((r) => r.resources?.includes('mutatingwebhookconfigurations'));
    assert.deepEqual(rule?.resourceNames, [one(m, 'MutatingWebhookConfiguration').metadata.name]);
    assert.ok(rule?.verbs.includes('patch'));
    assert.equal(all(m, 'Certificate').length, 0);
  });

  void test('cert-manager: a Certificate for the Service, mounted, caBundle injected by cainjector', () => {
    const m = template({ release: 'rel', namespace: 'ops', values: { 'tls.mode': 'cert-manager' } });
    const cert = serving(m);
    assert.deepEqual(cert.spec.dnsNames, [
      'rel-sluice-webhook.ops.svc',
      'rel-sluice-webhook.ops.svc.cluster.local',
    ]);
    const dep = as<V1Deployment>(one(m, 'Deployment'));
    const vol = dep.spec?.template.spec?.volumes?.find((v) => v.secret?.secretName === cert.spec.secretName);
    assert.ok(vol, 'the certificate Secret is mounted');
    const c = operatorContainer(m);
    assert.equal(arg(c, '--tls-mode'), 'cert-manager');
    assert.equal(c.volumeMounts?.find((v) => v.name === vol.name)?.mountPath, arg(c, '--tls-cert-dir'));
    const role = as<V1ClusterRole>(one(m, 'ClusterRole'));
    assert.ok(
      !role.rules?.some((r) => r.resources?.includes('mutatingwebhookconfigurations')),
      'no caBundle rights needed',
    );
  });

  // A self-signed serving certificate is its own CA: each renewal (new key) would change
  // caBundle before the replicas serve the new certificate, refusing admissions meanwhile.
  void test('cert-manager: selfSigned Issuer → CA Certificate → CA Issuer → serving Certificate; caBundle from the CA', () => {
    const m = template({ release: 'rel', namespace: 'ops', values: { 'tls.mode': 'cert-manager' } });
    const issuers = all(m, 'Issuer') as CmIssuer[];
    const selfSigned = issuers.filter((i) => i.spec.selfSigned !== undefined);
    const caIssuers = issuers.filter((i) => i.spec.ca !== undefined);
    assert.equal(selfSigned.length, 1, 'one selfSigned Issuer');
    assert.equal(caIssuers.length, 1, 'one CA Issuer');
    assert.equal(issuers.length, 2);

    const certs = all(m, 'Certificate') as CmCertificate[];
    const cas = certs.filter((x) => x.spec.isCA === true);
    assert.equal(cas.length, 1, 'one CA Certificate');
    const ca = cas[0]!;
    const cert = serving(m);
    assert.deepEqual(ca.spec.issuerRef, {
      name: selfSigned[0]!.metadata.name,
      kind: 'Issuer',
      group: 'cert-manager.io',
    });
    assert.ok(hours(ca.spec.duration) >= 5 * 8760, `a long-lived CA, not ${ca.spec.duration}`);
    assert.notEqual(ca.spec.secretName, cert.spec.secretName, 'the CA has its own Secret');
    assert.equal(ca.spec.privateKey?.rotationPolicy, 'Never', 'CA renewals keep the key');
    assert.equal(caIssuers[0]!.spec.ca?.secretName, ca.spec.secretName);
    assert.deepEqual(cert.spec.issuerRef, {
      name: caIssuers[0]!.metadata.name,
      kind: 'Issuer',
      group: 'cert-manager.io',
    });
    const mwc = one(m, 'MutatingWebhookConfiguration');
    assert.equal(mwc.metadata.annotations?.['cert-manager.io/inject-ca-from'], `ops/${ca.metadata.name}`);
  });

  void test('cert-manager with an existing issuer: caBundle from the serving Certificate (its ca.crt)', () => {
    const m = template({
      release: 'rel',
      namespace: 'ops',
      values: {
        'tls.mode': 'cert-manager',
        'tls.certManager.issuerRef': { name: 'corp', kind: 'ClusterIssuer' },
      },
    });
    const mwc = one(m, 'MutatingWebhookConfiguration');
    assert.equal(
      mwc.metadata.annotations?.['cert-manager.io/inject-ca-from'],
      `ops/${serving(m).metadata.name}`,
    );
  });

  void test('cert-manager with an existing issuer creates no Issuer', () => {
    const m = template({
      values: {
        'tls.mode': 'cert-manager',
        'tls.certManager.issuerRef': { name: 'corp', kind: 'ClusterIssuer' },
      },
    });
    assert.equal(all(m, 'Issuer').length, 0);
    assert.deepEqual((one(m, 'Certificate') as Manifest & { spec: { issuerRef: unknown } }).spec.issuerRef, {
      name: 'corp',
      kind: 'ClusterIssuer',
    });
  });
});

void describe('monitoring', () => {
  void test('off by default: no ServiceMonitor, PodMonitor or dashboard', () => {
    const m = template();
    for (const kind of ['ServiceMonitor', 'PodMonitor', 'ConfigMap'])
      assert.equal(all(m, kind).length, 0, kind);
  });

  void test('ServiceMonitor selects the metrics Service (and only it) on its metrics port', () => {
    const m = template({ release: 'rel', values: { 'metrics.serviceMonitor.enabled': true } });
    const sm = one(m, 'ServiceMonitor') as Manifest & {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] };
    };
    const selected = all(m, 'Service').filter((s) =>
      Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v),
    );
    assert.deepEqual(
      selected.map((s) => s.metadata.name),
      ['rel-sluice-metrics'],
    );
    const port = as<V1Service>(selected[0] as Manifest).spec?.ports?.[0]?.name;
    assert.equal(sm.spec.endpoints[0]?.port, port);
  });

  void test('the dashboard ConfigMap carries the Grafana sidecar label and valid dashboard JSON', () => {
    const m = template({ values: { 'metrics.dashboard.enabled': true } });
    const cm = as<V1ConfigMap>(one(m, 'ConfigMap'));
    assert.equal(cm.metadata?.labels?.grafana_dashboard, '1');
    const dash = JSON.parse(cm.data?.['sluice.json'] ?? '') as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const titles = dash.panels.map((p) => p.title.toLowerCase()).join(' | ');
    for (const want of [
      'requests/s by operation',
      'p99 latency',
      'denials',
      'backends by state',
      'reconciles/s',
    ]) {
      assert.ok(titles.includes(want), `panel "${want}" in ${titles}`);
    }
    for (const p of dash.panels)
      assert.ok(
        p.targets.every((t) => t.expr.includes('sluice_')),
        p.title,
      );
  });
});

void describe('guards', () => {
  void test('no PDB with a single replica (minAvailable 1 would block node drains)', () => {
    const m = template({ values: { 'operator.replicas': 1 } });
    assert.equal(all(m, 'PodDisruptionBudget').length, 0);
  });

  void test('a PDB requiring every replica is refused (it would block node drains for good)', () => {
    for (const v of ['2', '3']) {
      const run = helm([
        'template',
        'x',
        CHART_DIR,
        '--set',
        `operator.podDisruptionBudget.minAvailable=${v}`,
      ]);
      assert.notEqual(run.status, 0, v);
      assert.match(run.stderr, /minAvailable \d leaves no replica to evict with operator\.replicas=2/);
    }
    const pdb = (...set: string[]) => helm(['template', 'x', CHART_DIR, ...set]);
    // Kubernetes rounds a percentage up: 51 % of 2 replicas is both.
    for (const v of ['100%', '51%']) {
      const pct = pdb('--set-string', `operator.podDisruptionBudget.minAvailable=${v}`);
      assert.notEqual(pct.status, 0, v);
      assert.match(pct.stderr, new RegExp(`minAvailable ${v} leaves no replica`));
    }
    for (const set of [
      ['--set-string', 'operator.podDisruptionBudget.minAvailable=50%'],
      ['--set', 'operator.replicas=3', '--set-string', 'operator.podDisruptionBudget.minAvailable=60%'],
    ]) {
      const ok = pdb(...set);
      assert.equal(ok.status, 0, ok.stderr);
    }
  });

  void test('two replicas without leader election are refused', () => {
    const run = helm(['template', 'x', CHART_DIR, '--set', 'operator.leaderElection.enabled=false']);
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /leaderElection\.enabled=false needs operator\.replicas=1/);
  });

  void test('rbac.create=false renders no RBAC; serviceAccount.create=false requires a name', () => {
    const m = template({ values: { 'rbac.create': false } });
    for (const kind of ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'])
      assert.equal(all(m, kind).length, 0);
    const run = helm(['template', 'x', CHART_DIR, '--set', 'serviceAccount.create=false']);
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /serviceAccount\.name is required/);
  });
});

void describe('identity guard (ValidatingAdmissionPolicy)', () => {
  void test('rendered by default: pod UPDATEs must keep sluice.dev/identity as it was, enforced (Deny)', () => {
    const m = template({ release: 'rel' });
    const policy = one(m, 'ValidatingAdmissionPolicy', 'rel-sluice-identity-guard') as Manifest & {
      spec: {
        matchConstraints: { resourceRules: { operations: string[]; resources: string[] }[] };
        validations: { expression: string }[];
      };
    };
    assert.deepEqual(policy.spec.matchConstraints.resourceRules[0]?.operations, ['UPDATE']);
    assert.deepEqual(policy.spec.matchConstraints.resourceRules[0]?.resources, [
      'pods',
      'pods/ephemeralcontainers',
      'pods/status',
    ]);
    assert.equal(
      policy.spec.validations.length,
      4,
      'identity label, sidecar image, ephemeral mounts, ephemeral target',
    );
    const expr = policy.spec.validations[0]!.expression;
    assert.match(expr, /oldObject\.metadata\.labels\['sluice\.dev\/identity'\]/);
    assert.match(expr, /== \(has\(object\.metadata\.labels\)/);
    const binding = one(m, 'ValidatingAdmissionPolicyBinding') as Manifest & {
      spec: { policyName: string; validationActions: string[] };
    };
    assert.equal(binding.spec.policyName, 'rel-sluice-identity-guard');
    assert.deepEqual(binding.spec.validationActions, ['Deny']);
  });
  void test('left out with webhook.identityGuard=false, and on Kubernetes 1.29 (no v1 API there)', () => {
    const m = template({ values: { 'webhook.identityGuard': false } });
    assert.equal(all(m, 'ValidatingAdmissionPolicy').length, 0);
    assert.equal(all(m, 'ValidatingAdmissionPolicyBinding').length, 0);
    const old = helm([...templateArgs(), '--kube-version', '1.29.4']);
    assert.equal(old.status, 0, old.stderr);
    assert.equal(all(parseManifests(old.stdout), 'ValidatingAdmissionPolicy').length, 0);
  });
});
