/**
 * The rendered chart is accepted by a real kube-apiserver (the test bed's, 1.34): CRDs become
 * Established, and every templated object — Deployment, PDB, RBAC, Services, the
 * MutatingWebhookConfiguration with its CEL matchConditions, and in the monitoring / cert-manager
 * variants their third-party kinds — is stored as rendered.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  type V1Deployment,
  type V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../../testbed/kube.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHART_DIR, helm, parseManifests, template, type Manifest } from '../../unit/chart/helm.ts';
import { apply, core, ensureNamespace, errorBody, install, stubCrd, waitEstablished } from './apply.ts';

let cp: ControlPlane;
before(async () => {
  cp = await startControlPlane();
});
after(async () => {
  await cp?.stop();
});

void describe('helm install equivalent on the real API server', () => {
  void test('default values: CRDs established, every object stored', async () => {
    const manifests = template({ release: 'sluice', namespace: 'sluice-system', includeCrds: true });
    const crds = manifests.filter((m) => m.kind === 'CustomResourceDefinition').map((m) => m.metadata.name);
    assert.deepEqual(crds.sort(), ['bucketaccesses.sluice.dev', 'objectstores.sluice.dev']);
    const stored = await install(cp.kubeConfig, manifests, 'sluice-system');
    assert.equal(stored.length, manifests.length - crds.length);

    const dep: V1Deployment = await cp.kubeConfig
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: 'sluice', namespace: 'sluice-system' });
    assert.equal(dep.spec?.replicas, 2);
    assert.equal(dep.spec?.template.spec?.containers[0]?.securityContext?.readOnlyRootFilesystem, true);

    const mwc: V1MutatingWebhookConfiguration = await cp.kubeConfig
      .makeApiClient(AdmissionregistrationV1Api)
      .readMutatingWebhookConfiguration({ name: 'sluice-injector' });
    assert.deepEqual(
      mwc.webhooks?.map((w) => [
        w.name,
        w.failurePolicy,
        w.sideEffects,
        w.reinvocationPolicy,
        w.matchConditions?.length,
      ]),
      [
        ['inject.sluice.dev', 'Fail', 'None', 'IfNeeded', 1],
        ['namespace.inject.sluice.dev', 'Fail', 'None', 'IfNeeded', 1],
      ],
    );
  });

  void test("the identity guard: a pod's sluice.dev/identity label cannot be changed, removed or added", async () => {
    // Installed by the test before (default values). No webhook is called: the pod asks for nothing.
    await ensureNamespace(cp.kubeConfig, 'guarded');
    const api = core(cp.kubeConfig);
    const created = await api.createNamespacedPod({
      namespace: 'guarded',
      body: {
        metadata: { name: 'p', labels: { 'sluice.dev/identity': 'id0', app: 'a' } },
        spec: { containers: [{ name: 'app', image: 'busybox' }] },
      },
    });
    assert.equal(created.metadata?.labels?.['sluice.dev/identity'], 'id0');
    const relabel = async (name: string, labels: Record<string, string>): Promise<string | undefined> => {
      const pod = await api.readNamespacedPod({ name, namespace: 'guarded' });
      pod.metadata!.labels = labels;
      try {
        await api.replaceNamespacedPod({ name, namespace: 'guarded', body: pod });
        return undefined;
      } catch (err) {
        return errorBody(err);
      }
    };
    // The API server compiles a new policy in the background: bounded polls until it denies.
    let denied: string | undefined;
    for (let i = 1; i <= 100 && denied === undefined; i++) {
      const current =
        (await api.readNamespacedPod({ name: 'p', namespace: 'guarded' })).metadata?.labels ?? {};
      denied = await relabel('p', { ...current, 'sluice.dev/identity': `id${i}` });
      if (denied === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(String(denied), /sluice\.dev\/identity label is assigned by Sluice/);
    const now = (await api.readNamespacedPod({ name: 'p', namespace: 'guarded' })).metadata?.labels ?? {};
    const { 'sluice.dev/identity': _id, ...without } = now;
    assert.match(String(await relabel('p', without)), /cannot be added, changed or removed/, 'removal');
    assert.equal(await relabel('p', { ...now, app: 'b' }), undefined, 'other labels change freely');
    // Through the status subresource, which may change labels too.
    const viaStatus = await api.readNamespacedPod({ name: 'p', namespace: 'guarded' });
    viaStatus.metadata!.labels = { ...viaStatus.metadata!.labels, 'sluice.dev/identity': 'via-status' };
    const statusDenied = await api
      .replaceNamespacedPodStatus({ name: 'p', namespace: 'guarded', body: viaStatus })
      .then(
        () => undefined,
        (err: unknown) => errorBody(err),
      );
    assert.match(String(statusDenied), /cannot be added, changed or removed/, 'via pods/status');
    await api.createNamespacedPod({
      namespace: 'guarded',
      body: { metadata: { name: 'q' }, spec: { containers: [{ name: 'app', image: 'busybox' }] } },
    });
    assert.match(
      String(await relabel('q', { 'sluice.dev/identity': 'stolen' })),
      /cannot be added/,
      'adding',
    );

    // The sidecar's image is frozen, the app's is not; no ephemeral container mounts the policy.
    await api.createNamespacedPod({
      namespace: 'guarded',
      body: {
        metadata: { name: 'r' },
        spec: {
          containers: [
            { name: 'app', image: 'busybox' },
            { name: 'sluice-proxy', image: 'sluice:1' },
          ],
          volumes: [{ name: 'sluice-policy', emptyDir: {} }],
        },
      },
    });
    const setImage = async (container: string, image: string): Promise<string | undefined> => {
      const pod = await api.readNamespacedPod({ name: 'r', namespace: 'guarded' });
      pod.spec!.containers.find((c) => c.name === container)!.image = image;
      try {
        await api.replaceNamespacedPod({ name: 'r', namespace: 'guarded', body: pod });
        return undefined;
      } catch (err) {
        return errorBody(err);
      }
    };
    assert.match(String(await setImage('sluice-proxy', 'evil:1')), /sidecar's image is set at admission/);
    assert.equal(await setImage('app', 'busybox:2'), undefined, "the app's image may change");
    const debug = async (
      mounts: { name: string; mountPath: string }[],
      target?: string,
    ): Promise<string | undefined> => {
      const pod = await api.readNamespacedPod({ name: 'r', namespace: 'guarded' });
      pod.spec!.ephemeralContainers = [
        ...(pod.spec!.ephemeralContainers ?? []),
        {
          name: `dbg${mounts.length}${target ?? ''}`,
          image: 'busybox',
          volumeMounts: mounts,
          ...(target ? { targetContainerName: target } : {}),
        },
      ];
      try {
        await api.replaceNamespacedPodEphemeralcontainers({ name: 'r', namespace: 'guarded', body: pod });
        return undefined;
      } catch (err) {
        return errorBody(err);
      }
    };
    assert.match(
      String(await debug([{ name: 'sluice-policy', mountPath: '/x' }])),
      /ephemeral container may not mount sluice-policy/,
    );
    assert.match(String(await debug([], 'sluice-proxy')), /may not target sluice-proxy/);
    assert.equal(await debug([], 'app'), undefined, "targeting the app's container is fine");
  });

  void test('re-applying the same release is a no-op the API server accepts (helm upgrade)', async () => {
    const manifests = template({ release: 'sluice', namespace: 'sluice-system' });
    for (const m of manifests) await apply(cp.kubeConfig, m);
  });

  void test('monitoring + cert-manager + failurePolicy Ignore: ServiceMonitor, PodMonitor, Certificate, dashboard stored', async () => {
    // prometheus-operator and cert-manager are not in the test bed: stand-in CRDs for their kinds.
    const stubs = [
      stubCrd('monitoring.coreos.com', 'ServiceMonitor', 'servicemonitors'),
      stubCrd('monitoring.coreos.com', 'PodMonitor', 'podmonitors'),
      stubCrd('cert-manager.io', 'Certificate', 'certificates'),
      stubCrd('cert-manager.io', 'Issuer', 'issuers'),
    ];
    for (const s of stubs) await apply(cp.kubeConfig, s);
    await waitEstablished(
      cp.kubeConfig,
      stubs.map((s) => s.metadata.name),
    );

    const manifests = template({
      release: 'mon',
      namespace: 'sluice-mon',
      values: {
        'tls.mode': 'cert-manager',
        'webhook.failurePolicy': 'Ignore',
        'metrics.serviceMonitor.enabled': true,
        'metrics.podMonitor.enabled': true,
        'metrics.dashboard.enabled': true,
      },
    });
    const kinds = new Set(manifests.map((m: Manifest) => m.kind));
    for (const k of ['ServiceMonitor', 'PodMonitor', 'Certificate', 'Issuer', 'ConfigMap'])
      assert.ok(kinds.has(k), k);
    const stored = await install(cp.kubeConfig, manifests, 'sluice-mon');
    assert.equal(stored.length, manifests.length);

    const mwc = await cp.kubeConfig
      .makeApiClient(AdmissionregistrationV1Api)
      .readMutatingWebhookConfiguration({ name: 'mon-sluice-injector' });
    assert.equal(
      mwc.metadata?.annotations?.['cert-manager.io/inject-ca-from'],
      'sluice-mon/mon-sluice-webhook-ca',
    );
    assert.ok(mwc.webhooks?.every((w) => w.failurePolicy === 'Ignore'));
  });

  void test('the quickstart example in NOTES.txt is valid against the CRDs', async () => {
    const examples = parseManifests(readFileSync(join(CHART_DIR, 'examples/quickstart.yaml'), 'utf8'));
    assert.deepEqual(
      examples.map((m) => m.kind),
      ['Secret', 'ObjectStore', 'BucketAccess'],
    );
    await ensureNamespace(cp.kubeConfig, 'analytics');
    for (const m of examples) await apply(cp.kubeConfig, m);
  });

  void test('real `helm install`, `helm upgrade` and `helm uninstall` against the API server', () => {
    const kc = ['--kubeconfig', cp.kubeconfigPath, '--namespace', 'helm-ns'];
    const installed = helm(['install', 'helm', CHART_DIR, ...kc, '--create-namespace']);
    assert.equal(installed.status, 0, installed.stderr);
    // NOTES.txt rendered for this release, quickstart example included.
    assert.match(installed.stdout, /STATUS: deployed/);
    assert.match(installed.stdout, /Webhook: +helm-sluice-injector \(failurePolicy Fail, TLS self-signed\)/);
    assert.match(installed.stdout, /kind: BucketAccess/);
    assert.match(installed.stdout, /Never injected: kube-system, helm-ns, kube-public, kube-node-lease/);

    const upgraded = helm(['upgrade', 'helm', CHART_DIR, ...kc, '--set', 'webhook.failurePolicy=Ignore']);
    assert.equal(upgraded.status, 0, upgraded.stderr);
    assert.match(upgraded.stdout, /REVISION: 2/);

    const removed = helm(['uninstall', 'helm', ...kc]);
    assert.equal(removed.status, 0, removed.stderr);
    const listed = helm(['list', '--all', ...kc, '-q']);
    assert.equal(listed.stdout.trim(), '');
  });
});
