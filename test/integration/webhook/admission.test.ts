/**
 * The webhook on the real kube-apiserver (1.34, native sidecars): registered with a url
 * clientConfig on 127.0.0.1, its caBundle written by the operator's self-managed TLS. Pods are
 * created through the API server and the *stored* spec read back — what the API server
 * accepted after applying the patch, not what the webhook meant to send.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AdmissionregistrationV1Api, AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { V1Deployment, V1MutatingWebhook, V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import { Agent, request } from 'undici';
import { parseAllDocuments } from 'yaml';
import { IDENTITY_LABEL, SIDECAR_CONTAINER_NAME, podSecretName } from '../../../operator/contract.ts';
import { injectStream } from '../../../operator/inject/inject.ts';
import { renewBundle, SecretKeys } from '../../../operator/tls/bundle.ts';
import { ensureCertSecret, fromSecret } from '../../../operator/tls/secret.ts';
import { resolveInjectorConfig } from '../../../operator/webhook/config.ts';
import { isIdentity } from '../../../operator/webhook/identity.ts';
import { startWebhookServer } from '../../../operator/webhook/server.ts';
import type { WebhookServer } from '../../../operator/webhook/server.ts';
import { startControlPlane } from '../../testbed/kube.ts';
import type { ControlPlane } from '../../testbed/kube.ts';
import { freePort } from '../../testbed/ports.ts';

const OPERATOR_NS = 'sluice-system';
const CONFIG = 'sluice-injector-test';
const SECRET = 'sluice-webhook-tls';
const silent = pino({ level: 'silent' });

let cp: ControlPlane;
let core: CoreV1Api;
let webhook: WebhookServer;
let legacy: WebhookServer;

/** The API server's message from a client-node ApiException. */
function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      return (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      return body;
    }
  }
  return String(err);
}

function hook(
  name: string,
  url: string,
  caBundle: string | undefined,
  selector: V1MutatingWebhook['namespaceSelector'],
): V1MutatingWebhook {
  return {
    name,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Fail',
    timeoutSeconds: 10,
    reinvocationPolicy: 'IfNeeded',
    clientConfig: { url, ...(caBundle && { caBundle }) },
    rules: [
      {
        apiGroups: [''],
        apiVersions: ['v1'],
        operations: ['CREATE'],
        resources: ['pods'],
        scope: 'Namespaced',
      },
    ],
    namespaceSelector: selector,
  };
}

async function ensureNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
  await core.createNamespace({ body: { metadata: { name, labels } } });
}

async function createPod(namespace: string, pod: V1Pod): Promise<V1Pod> {
  const created = await core.createNamespacedPod({ namespace, body: pod });
  // Read back what etcd holds.
  return core.readNamespacedPod({ namespace, name: created.metadata!.name! });
}

/**
 * createPod, retried (bounded) while the API server fails to call the webhook: its admission
 * plugin reads webhook configurations from an informer, so a caBundle just seen in the stored
 * configuration may not be the one it verifies the webhook with yet.
 */
async function createAdmittedPod(namespace: string, pod: V1Pod): Promise<V1Pod> {
  for (let i = 0; ; i++) {
    try {
      return await createPod(namespace, pod);
    } catch (err) {
      if (i >= 100 || !/failed calling webhook/.test(apiMessage(err))) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function refusal(namespace: string, pod: V1Pod): Promise<string> {
  try {
    await core.createNamespacedPod({ namespace, body: pod });
  } catch (err) {
    return apiMessage(err);
  }
  throw new Error('the pod was created');
}

const app = (
  name: string,
  annotations?: Record<string, string>,
  extra: Partial<V1Pod['spec']> = {},
): V1Pod => ({
  metadata: { name, ...(annotations && { annotations }) },
  spec: { containers: [{ name: 'app', image: 'example.com/app:1' }], ...extra },
});

before(async () => {
  cp = await startControlPlane();
  core = cp.kubeConfig.makeApiClient(CoreV1Api);
  await ensureNamespace(OPERATOR_NS);
  await ensureNamespace('team-a');
  await ensureNamespace('enabled', { 'sluice.dev/injection': 'enabled' });
  await ensureNamespace('old', { 'sluice-test': 'legacy' });
  await ensureNamespace('down', { 'sluice-test': 'down' });

  webhook = await startWebhookServer({
    injector: resolveInjectorConfig({ operatorNamespace: OPERATOR_NS }),
    tls: {
      mode: 'self-managed',
      secretName: SECRET,
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      webhookConfigurationName: CONFIG,
      refreshMs: 200,
    },
    kubeConfig: cp.kubeConfig,
    port: 0,
    host: '127.0.0.1',
    logger: silent,
  });
  // A second replica-like server fixed to legacy sidecars, for namespace "old" only.
  legacy = await startWebhookServer({
    injector: resolveInjectorConfig({ operatorNamespace: OPERATOR_NS }),
    tls: {
      mode: 'source',
      source: {
        current: () => webhook.certificate(),
        onChange: () => () => {},
        close: () => Promise.resolve(),
      },
    },
    kubeConfig: cp.kubeConfig,
    nativeSidecars: false,
    port: 0,
    host: '127.0.0.1',
    logger: silent,
  });

  const admission = cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const ca = Buffer.from(webhook.certificate().ca!).toString('base64');
  const closedPort = await freePort();
  await admission.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: CONFIG },
      webhooks: [
        // No caBundle: the operator's caBundle sync must fill it in.
        hook('inject.sluice.dev', `https://127.0.0.1:${webhook.port}/mutate`, undefined, {
          matchExpressions: [{ key: 'sluice-test', operator: 'DoesNotExist' }],
        }),
      ],
    },
  });
  await admission.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: 'sluice-injector-other' },
      webhooks: [
        hook('legacy.inject.sluice.dev', `https://127.0.0.1:${legacy.port}/mutate`, ca, {
          matchLabels: { 'sluice-test': 'legacy' },
        }),
        // Nothing listens there: the webhook is down.
        hook('down.inject.sluice.dev', `https://127.0.0.1:${closedPort}/mutate`, ca, {
          matchLabels: { 'sluice-test': 'down' },
        }),
      ],
    },
  });
});

after(async () => {
  await legacy?.close();
  await webhook?.close();
  await cp?.stop();
});

void describe('webhook on the real API server', () => {
  void test('self-managed TLS: the shared Secret holds the CA, and the caBundle is synced into the configuration', async () => {
    const secret = await core.readNamespacedSecret({ namespace: OPERATOR_NS, name: SECRET });
    const bundle = fromSecret(secret);
    assert.ok(bundle);
    assert.equal(bundle.caCert, webhook.certificate().ca);
    const admission = cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    let caBundle: string | undefined;
    for (let i = 0; i < 200 && !caBundle; i++) {
      caBundle = (await admission.readMutatingWebhookConfiguration({ name: CONFIG })).webhooks?.[0]
        ?.clientConfig.caBundle;
      if (!caBundle) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(Buffer.from(caBundle ?? '', 'base64').toString(), bundle.caCert);
  });

  void test('an annotated pod is stored with a native sidecar, its identity and the app env', async () => {
    // The first admission right after the caBundle sync (previous test).
    const pod = await createAdmittedPod('team-a', app('reader', { 'sluice.dev/inject': 'true' }));
    const id = pod.metadata?.labels?.[IDENTITY_LABEL];
    assert.ok(id && isIdentity(id), `identity ${id}`);
    assert.equal(pod.metadata?.annotations?.['sluice.dev/status'], 'injected');
    const sidecar = pod.spec?.initContainers?.[0];
    assert.equal(sidecar?.name, SIDECAR_CONTAINER_NAME);
    assert.equal(sidecar?.restartPolicy, 'Always');
    assert.equal(sidecar?.startupProbe?.httpGet?.path, '/readyz');
    assert.equal(sidecar?.securityContext?.readOnlyRootFilesystem, true);
    assert.deepEqual(sidecar?.securityContext?.capabilities?.drop, ['ALL']);
    const policy = pod.spec?.volumes?.find((v) => v.name === 'sluice-policy');
    assert.equal(policy?.secret?.secretName, podSecretName(id));
    const env = Object.fromEntries((pod.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env.AWS_ENDPOINT_URL_S3, 'http://127.0.0.1:7480');
    assert.equal(env.AWS_ACCESS_KEY_ID, 'sluice');
  });

  void test('an opted-out pod in an enabled namespace is stored untouched', async () => {
    const pod = await createPod('enabled', app('batch', { 'sluice.dev/inject': 'false' }));
    assert.equal(pod.spec?.initContainers, undefined);
    assert.equal(pod.metadata?.labels?.[IDENTITY_LABEL], undefined);
    assert.deepEqual(
      pod.spec?.containers.map((c) => c.name),
      ['app'],
    );
    assert.equal(pod.spec?.containers[0]?.env, undefined);
  });

  void test('a pod in an enabled namespace is injected without an annotation', async () => {
    const pod = await createPod('enabled', app('worker'));
    assert.equal(pod.spec?.initContainers?.[0]?.name, SIDECAR_CONTAINER_NAME);
  });

  void test('a hostNetwork pod is refused with the reason', async () => {
    const msg = await refusal('team-a', app('agent', { 'sluice.dev/inject': 'true' }, { hostNetwork: true }));
    assert.match(
      msg,
      /admission webhook "inject.sluice.dev" denied the request: sluice: hostNetwork pod refused/,
    );
    assert.match(msg, /127\.0\.0\.1 listener would be the node's/);
  });

  void test('garbage overrides are refused, naming each', async () => {
    const msg = await refusal(
      'team-a',
      app('bad', {
        'sluice.dev/inject': 'true',
        'sluice.dev/proxy-port': 'http',
        'sluice.dev/log-level': 'loud',
      }),
    );
    assert.match(msg, /sluice\.dev\/proxy-port="http"/);
    assert.match(msg, /sluice\.dev\/log-level="loud"/);
  });

  void test('generateName pods, as a ReplicaSet creates them, each get their own identity', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 2; i++) {
      const pod = await createPod('enabled', {
        metadata: {
          generateName: 'web-7d4b9c8f6-',
          labels: { app: 'web', 'pod-template-hash': '7d4b9c8f6' },
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'ReplicaSet',
              name: 'web-7d4b9c8f6',
              uid: '0d7f7c3e-1a2b-4c5d-8e9f-0a1b2c3d4e5f',
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: { containers: [{ name: 'web', image: 'example.com/web:1' }] },
      });
      assert.match(pod.metadata?.name ?? '', /^web-7d4b9c8f6-[a-z0-9]{5}$/);
      const id = pod.metadata!.labels![IDENTITY_LABEL]!;
      assert.equal(
        pod.spec?.volumes?.find((v) => v.name === 'sluice-policy')?.secret?.secretName,
        podSecretName(id),
      );
      ids.add(id);
    }
    assert.equal(ids.size, 2);
  });

  void test("a copy of an injected pod's manifest gets its own identity and Secret, not the original's", async () => {
    const original = await createAdmittedPod('team-a', app('original', { 'sluice.dev/inject': 'true' }));
    const id = original.metadata?.labels?.[IDENTITY_LABEL];
    assert.ok(id);
    // What `kubectl get pod -o yaml` gives, re-created under another name: injected already.
    const { name: _n, uid: _u, resourceVersion: _rv, creationTimestamp: _c, ...meta } = original.metadata!;
    const copy = await createPod('team-a', { metadata: { ...meta, name: 'copy' }, spec: original.spec! });
    const copyId = copy.metadata?.labels?.[IDENTITY_LABEL];
    assert.ok(copyId && isIdentity(copyId));
    assert.notEqual(copyId, id);
    const secret = copy.spec?.volumes?.find((v) => v.name === 'sluice-policy')?.secret?.secretName;
    assert.equal(secret, `sluice-pod-${copyId}`);
  });

  void test('a pod carrying a foreign identity label gets a fresh one', async () => {
    const pod = app('borrower', { 'sluice.dev/inject': 'true' });
    pod.metadata!.labels = { [IDENTITY_LABEL]: 'victimidentity000000000000' };
    const stored = await createPod('team-a', pod);
    const id = stored.metadata?.labels?.[IDENTITY_LABEL];
    assert.notEqual(id, 'victimidentity000000000000');
    assert.ok(id && isIdentity(id));
  });

  void test('legacy API server mode: the sidecar is the first regular container with ordering hooks', async () => {
    const pod = await createPod('old', app('export', { 'sluice.dev/inject': 'true' }));
    assert.equal(pod.spec?.initContainers, undefined);
    const [first, second] = pod.spec!.containers;
    assert.equal(first?.name, SIDECAR_CONTAINER_NAME);
    assert.equal(second?.name, 'app');
    assert.ok(first?.lifecycle?.postStart?.exec && first.lifecycle.preStop?.exec);
  });

  void test('webhook down with failurePolicy Fail: creation is refused, naming the webhook', async () => {
    const msg = await refusal('down', app('x', { 'sluice.dev/inject': 'true' }));
    assert.match(msg, /failed calling webhook "down.inject.sluice.dev"/);
  });

  void test('sluice inject: the injected Deployment is accepted, and its pods get identities at admission', async () => {
    const input = readFileSync(join(import.meta.dirname, '../../fixtures/workloads.yaml'), 'utf8');
    const { output } = injectStream(input, {
      config: resolveInjectorConfig({ operatorNamespace: OPERATOR_NS }),
      nativeSidecars: true,
    });
    const deployment = parseAllDocuments(output)
      .map((d) => d.toJS() as V1Deployment)
      .find((d) => d.kind === 'Deployment')!;
    const apps = cp.kubeConfig.makeApiClient(AppsV1Api);
    const stored = await apps.createNamespacedDeployment({ namespace: 'team-a', body: deployment });
    const template = stored.spec!.template;
    assert.equal(template.spec?.initContainers?.[0]?.name, SIDECAR_CONTAINER_NAME);
    assert.equal(template.metadata?.labels?.[IDENTITY_LABEL], undefined);

    // The pod a ReplicaSet would stamp from it: the webhook completes its identity.
    const pod = await createPod('team-a', {
      metadata: {
        generateName: 'web-',
        labels: template.metadata?.labels,
        annotations: template.metadata?.annotations,
      },
      spec: template.spec,
    });
    const id = pod.metadata?.labels?.[IDENTITY_LABEL];
    assert.ok(id && isIdentity(id));
    assert.equal(
      pod.spec?.volumes?.find((v) => v.name === 'sluice-policy')?.secret?.secretName,
      podSecretName(id),
    );
    assert.equal(pod.spec?.initContainers?.filter((c) => c.name === SIDECAR_CONTAINER_NAME).length, 1);
  });

  void test('replicas racing on a fresh Secret agree on one CA', async () => {
    const policy = {
      dnsNames: ['localhost'],
      caValidityDays: 30,
      certValidityDays: 10,
      renewFraction: 1 / 3,
    };
    const results = await Promise.all(
      [0, 1, 2].map(() => ensureCertSecret(core, OPERATOR_NS, 'race-tls', policy)),
    );
    assert.equal(new Set(results.map((r) => r.bundle.caCert)).size, 1, 'one CA');
    assert.equal(
      results.filter((r) => r.action === 'created').length,
      1,
      results.map((r) => r.action).join(),
    );
    // And again at renewal time (a week before expiry of the 10-day certificate).
    const later = () => new Date(Date.now() + 8 * 86_400_000);
    const renewed = await Promise.all(
      [0, 1, 2].map(() => ensureCertSecret(core, OPERATOR_NS, 'race-tls', policy, later)),
    );
    assert.equal(new Set(renewed.map((r) => r.bundle.cert)).size, 1, 'one renewed certificate');
    assert.equal(
      renewed.filter((r) => r.action === 'renewed').length,
      1,
      renewed.map((r) => r.action).join(),
    );
    assert.equal(renewed[0]!.bundle.caCert, results[0]!.bundle.caCert, 'same CA');
  });

  void test('a CA rotated by another replica is picked up: new certificate served, caBundle patched, pods admitted', async () => {
    const secret = await core.readNamespacedSecret({ namespace: OPERATOR_NS, name: SECRET });
    const old = fromSecret(secret)!;
    const rotated = renewBundle(
      old,
      'ca',
      {
        dnsNames: ['localhost'],
        ipAddresses: ['127.0.0.1'],
        caValidityDays: 3650,
        certValidityDays: 365,
        renewFraction: 1 / 3,
      },
      new Date(),
    );
    const b64 = (x: string) => Buffer.from(x).toString('base64');
    secret.data = {
      [SecretKeys.cert]: b64(rotated.cert),
      [SecretKeys.key]: b64(rotated.key),
      [SecretKeys.caCert]: b64(rotated.caCert),
      [SecretKeys.caKey]: b64(rotated.caKey),
      [SecretKeys.previousCaCert]: b64(rotated.previousCaCert!),
    };
    await core.replaceNamespacedSecret({ namespace: OPERATOR_NS, name: SECRET, body: secret });

    const admission = cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    let served = '';
    let caBundle = '';
    for (
      let i = 0;
      i < 300 && (served !== rotated.cert || !caBundle.startsWith(rotated.caCert.trimEnd()));
      i++
    ) {
      await new Promise((r) => setTimeout(r, 50));
      served = webhook.certificate().cert;
      const b = (await admission.readMutatingWebhookConfiguration({ name: CONFIG })).webhooks?.[0]
        ?.clientConfig.caBundle;
      caBundle = Buffer.from(b ?? '', 'base64').toString();
    }
    assert.equal(served, rotated.cert);
    assert.match(caBundle, /BEGIN CERTIFICATE[\s\S]+BEGIN CERTIFICATE/, 'new CA and the previous one');
    const pod = await createAdmittedPod('team-a', app('after-rotation', { 'sluice.dev/inject': 'true' }));
    assert.equal(pod.spec?.initContainers?.[0]?.name, SIDECAR_CONTAINER_NAME);
  });

  void test('admission warnings reach the client as Warning headers', async () => {
    const user = cp.kubeConfig.getCurrentUser()!;
    const agent = new Agent({
      connect: {
        ca: Buffer.from(cp.kubeConfig.getCurrentCluster()!.caData!, 'base64'),
        cert: Buffer.from(user.certData!, 'base64'),
        key: Buffer.from(user.keyData!, 'base64'),
      },
    });
    try {
      const pod = app('warned', { 'sluice.dev/inject': 'true' });
      pod.spec!.containers[0]!.env = [{ name: 'AWS_REGION', value: 'eu-west-3' }];
      const res = await request(`${cp.server}/api/v1/namespaces/team-a/pods`, {
        method: 'POST',
        body: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', ...pod }),
        headers: { 'content-type': 'application/json' },
        dispatcher: agent,
      });
      const stored = (await res.body.json()) as V1Pod;
      assert.equal(res.statusCode, 201);
      const warning = [res.headers.warning ?? []].flat().join('\n');
      assert.match(warning, /sluice: container \\?"app\\?" sets its own AWS_REGION; left unchanged/);
      const env = stored.spec?.containers[0]?.env ?? [];
      assert.deepEqual(
        env.filter((e) => e.name === 'AWS_REGION').map((e) => e.value),
        ['eu-west-3'],
      );
    } finally {
      await agent.close();
    }
  });
});
