/**
 * The chart and the operator agree: the command line the Deployment renders parses with the
 * operator's own config parser (operator/config.ts), and what it parses to names the objects the
 * chart creates — the Lease the Role allows, the webhook configuration and Service, the TLS
 * Secret or mounted certificate, the sidecar image and the namespaces the webhook never sees.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment, V1MutatingWebhookConfiguration, V1Role } from '@kubernetes/client-node';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseOperatorConfig, type RawOperatorOptions } from '../../../operator/config.ts';
import { REPO_ROOT, one, template, type Manifest } from './helm.ts';

/** `--flag-name=value` args → commander's camelCase option object. Throws on anything else. */
function toRaw(args: string[]): RawOperatorOptions {
  const raw: Record<string, string> = {};
  for (const a of args) {
    const m = /^--([a-z][a-z0-9-]*)=(.*)$/s.exec(a);
    if (!m)
      throw new Error(`unexpected operator arg ${JSON.stringify(a)} (the chart renders --flag=value only)`);
    raw[(m[1] as string).replace(/-([a-z0-9])/g, (_x, c: string) => c.toUpperCase())] = m[2] as string;
  }
  return raw;
}

/**
 * Option names of RawOperatorOptions, as a literal the compiler checks against it (`satisfies`
 * rejects a name it does not declare, so a renamed option fails the type check; options added
 * there without a line here are simply not rendered by the chart).
 */
const KNOWN = {
  logLevel: '',
  kubeconfig: '',
  webhookPort: '',
  healthPort: '',
  metricsPort: '',
  webhookConfigName: '',
  webhookService: '',
  webhookIpSans: '',
  tlsMode: '',
  tlsSecret: '',
  tlsCertDir: '',
  leaderElect: '',
  leaderElectionLease: '',
  leaderElectionLeaseDuration: '',
  leaderElectionRenewDeadline: '',
  leaderElectionRetryPeriod: '',
  resyncPeriod: '',
  workers: '',
  stsDuration: '',
  sidecarImage: '',
  sidecarImagePullPolicy: '',
  sidecarLogLevel: '',
  sidecarNodeOptions: '',
  sidecarCpuRequest: '',
  sidecarMemoryRequest: '',
  sidecarCpuLimit: '',
  sidecarMemoryLimit: '',
  hostNetwork: '',
  excludeNamespaces: '',
  namespace: '',
} satisfies Partial<Record<keyof RawOperatorOptions, ''>>;

function rendered(ns: string, values: Record<string, unknown> = {}) {
  const m = template({ release: 'rel', namespace: ns, values });
  const c = (one(m, 'Deployment') as unknown as V1Deployment).spec?.template.spec?.containers[0];
  assert.ok(c?.args);
  assert.equal(c.args[0], 'operator');
  const raw = toRaw(c.args.slice(1));
  return { m, c, raw, config: parseOperatorConfig(raw, { podName: 'rel-sluice-abc', podNamespace: ns }) };
}

const mwcName = (m: Manifest[]): string => one(m, 'MutatingWebhookConfiguration').metadata.name;

void describe('the rendered `sluice operator` command line', () => {
  void test('uses only options operator/config.ts knows', () => {
    for (const values of [
      {},
      { 'tls.mode': 'cert-manager' },
      { 'operator.replicas': 1, 'operator.leaderElection.enabled': false },
    ]) {
      const { raw } = rendered('ops', values);
      for (const k of Object.keys(raw)) assert.ok(k in KNOWN, `--${k} is not an operator option`);
    }
  });

  void test('every rendered flag is one `sluice operator --help` lists (the real CLI)', () => {
    const help = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/sluice.ts'), 'operator', '--help'], {
      encoding: 'utf8',
    });
    assert.equal(help.status, 0, help.stderr);
    const listed = new Set([...help.stdout.matchAll(/^\s+(--[a-z0-9-]+)/gm)].map((m) => m[1]));
    for (const values of [{}, { 'tls.mode': 'cert-manager' }]) {
      const { c } = rendered('ops', values);
      for (const a of c.args?.slice(1) ?? []) {
        const flag = a.split('=')[0] ?? a;
        assert.ok(listed.has(flag), `${flag} is not an option of sluice operator`);
      }
    }
  });

  void test("defaults parse into a config naming the chart's objects", () => {
    const { m, c, config } = rendered('ops');
    assert.equal(config.webhook.configName, mwcName(m));
    assert.equal(config.webhook.serviceName, one(m, 'Service', 'rel-sluice-webhook').metadata.name);
    assert.deepEqual(config.webhook.tls, { mode: 'self-signed', secretName: 'rel-sluice-webhook-tls' });
    const role = one(m, 'Role') as unknown as V1Role;
    assert.ok(role.rules?.some((r) => r.resourceNames?.includes(config.leaderElection.leaseName)));
    assert.equal(config.leaderElection.enabled, true);
    assert.equal(config.leaderElection.leaseDurationMs, 15_000);
    const port = (name: string): number | undefined => c.ports?.find((p) => p.name === name)?.containerPort;
    assert.deepEqual(config.ports, {
      webhook: port('webhook'),
      health: port('health'),
      metrics: port('metrics'),
    });
    assert.equal(config.webhook.injector.image, c.image);
    assert.deepEqual(config.webhook.injector.resources, {
      requests: { cpu: '50m', memory: '64Mi' },
      limits: { memory: '256Mi' },
    });
    assert.equal(config.webhook.injector.hostNetwork, 'refuse');
  });

  void test('the webhook excludes the namespaces the API server never sends it', () => {
    const { m, config } = rendered('ops', { 'webhook.excludeNamespaces': ['batch'] });
    const mwc = one(m, 'MutatingWebhookConfiguration') as unknown as V1MutatingWebhookConfiguration;
    const selector = mwc.webhooks?.[0]?.namespaceSelector?.matchExpressions?.find(
      (e) => e.key === 'kubernetes.io/metadata.name',
    );
    assert.deepEqual(
      [...config.webhook.injector.excludedNamespaces, config.webhook.injector.operatorNamespace].sort(),
      [...(selector?.values ?? [])].sort(),
    );
  });

  void test('cert-manager mode reads the certificate where the chart mounts it', () => {
    const { c, config } = rendered('ops', { 'tls.mode': 'cert-manager' });
    assert.equal(config.webhook.tls.mode, 'cert-manager');
    const certDir = config.webhook.tls.mode === 'cert-manager' ? config.webhook.tls.certDir : '';
    assert.ok(c.volumeMounts?.some((v) => v.mountPath === certDir && v.readOnly));
  });

  void test('a separate sidecar image and log level reach the injector', () => {
    const { config } = rendered('ops', {
      'sidecar.image.repository': 'registry.example/sluice',
      'sidecar.image.tag': '1.2.3',
      'sidecar.logLevel': 'debug',
      'webhook.hostNetwork': 'skip',
    });
    assert.equal(config.webhook.injector.image, 'registry.example/sluice:1.2.3');
    assert.equal(config.webhook.injector.logLevel, 'debug');
    assert.equal(config.webhook.injector.hostNetwork, 'skip');
  });

  void test("a sidecar tag alone replaces the operator image's tag, and its digest", () => {
    const tagOnly = rendered('ops', { 'sidecar.image.tag': '0.1.1' }).config;
    assert.equal(tagOnly.webhook.injector.image, 'ghcr.io/sluice-dev/sluice:0.1.1');
    const pinned = rendered('ops', {
      'image.digest': `sha256:${'a'.repeat(64)}`,
      'sidecar.image.tag': '0.1.1',
    }).config;
    assert.equal(pinned.webhook.injector.image, 'ghcr.io/sluice-dev/sluice:0.1.1');
    const same = rendered('ops', { 'image.digest': `sha256:${'a'.repeat(64)}` }).config;
    assert.match(same.webhook.injector.image, /@sha256:a{64}$/);
  });

  void test('single replica without leader election parses as such', () => {
    const { config } = rendered('ops', { 'operator.replicas': 1, 'operator.leaderElection.enabled': false });
    assert.equal(config.leaderElection.enabled, false);
  });
});
