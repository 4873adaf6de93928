// The control-plane test bed is real: a CRD is installed on kube-apiserver, and objects of it are
// created, listed and watched through @kubernetes/client-node; RBAC denies an identity it has not
// granted anything.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, VersionApi, Watch } from '@kubernetes/client-node';
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane } from '../../testbed/kube.ts';
import { helm, kubectl } from '../../testbed/kubetools.ts';
import type { ControlPlane } from '../../testbed/kube.ts';

const group = 'testbed.sluice.dev';
const version = 'v1';
const plural = 'widgets';

const crd: V1CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.${group}` },
  spec: {
    group,
    scope: 'Namespaced',
    names: { plural, singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: version,
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
          },
        },
      },
    ],
  },
};

interface Widget {
  metadata?: { name?: string };
  spec?: { size?: number };
}

void describe('control-plane test bed (etcd + kube-apiserver)', () => {
  let cp: ControlPlane;
  const aborts: AbortController[] = [];

  before(async () => {
    cp = await startControlPlane();
  });
  after(async () => {
    for (const a of aborts) a.abort();
    await cp?.stop();
  });

  void test('is a real, versioned apiserver over TLS on 127.0.0.1', async () => {
    assert.match(cp.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    // A build without version ldflags says v0.0.0-master, which breaks Helm kubeVersion checks.
    const version = await cp.kubeConfig.makeApiClient(VersionApi).getCode();
    assert.match(version.gitVersion, /^v1\.\d+\.\d+$/);
    assert.ok(Number(version.minor) >= 34, `minor ${version.minor}`);
    const ns = await cp.kubeConfig.makeApiClient(CoreV1Api).readNamespace({ name: 'default' });
    assert.equal(ns.metadata?.name, 'default');
  });

  void test('a CRD is installed and becomes Established', async () => {
    const ext = cp.kubeConfig.makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({ body: crd });
    let established = false;
    for (let i = 0; i < 100 && !established; i++) {
      const got = await ext.readCustomResourceDefinition({ name: crd.metadata!.name! });
      established =
        got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
      if (!established) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(established, 'CRD never became Established');
  });

  void test('a custom object is created, listed and watched', async () => {
    const objects = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    // The watch starts first, so the ADDED event for the object created below must arrive.
    const { ready, seen } = watchForAdded(
      cp,
      `/apis/${group}/${version}/namespaces/default/${plural}`,
      'w1',
      aborts,
    );
    await ready;
    await objects.createNamespacedCustomObject({
      group,
      version,
      namespace: 'default',
      plural,
      body: {
        apiVersion: `${group}/${version}`,
        kind: 'Widget',
        metadata: { name: 'w1' },
        spec: { size: 3 },
      },
    });
    const list = (await objects.listNamespacedCustomObject({
      group,
      version,
      namespace: 'default',
      plural,
    })) as { items: Widget[] };
    assert.deepEqual(
      list.items.map((w) => [w.metadata?.name, w.spec?.size]),
      [['w1', 3]],
    );
    const watched = await withTimeout(seen, 30_000, 'no ADDED watch event for w1');
    assert.equal(watched.spec?.size, 3);
  });

  void test('kubectl and the cached helm work against it: a chart is installed and its object stored', async () => {
    const nodes = await kubectl(cp.kubeconfigPath, ['get', 'namespaces', '-o', 'name']);
    assert.equal(nodes.code, 0, nodes.stderr);
    assert.match(nodes.stdout, /namespace\/kube-system/);

    const chart = mkdtempSync(join(tmpdir(), 'sluice-chart-test-'));
    try {
      mkdirSync(join(chart, 'templates'));
      writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: smoke\nversion: 0.1.0\n');
      writeFileSync(
        join(chart, 'templates', 'cm.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\ndata:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n',
      );
      const install = await helm(cp.kubeconfigPath, [
        'install',
        'smoke',
        chart,
        '--namespace',
        'default',
        '--wait',
        '--timeout',
        '60s',
      ]);
      assert.equal(install.code, 0, install.stderr);
    } finally {
      rmSync(chart, { recursive: true, force: true });
    }
    const cm = await cp.kubeConfig
      .makeApiClient(CoreV1Api)
      .readNamespacedConfigMap({ name: 'smoke-cm', namespace: 'default' });
    const version = await cp.kubeConfig.makeApiClient(VersionApi).getCode();
    assert.equal(cm.data?.kube, version.gitVersion); // helm saw the real server version
  });

  void test('a least-privilege identity is denied by RBAC', async () => {
    const alice = cp.kubeconfigFor('alice', ['testbed:readers']);
    await assert.rejects(
      alice.kubeConfig.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: 'default' }),
      (err: { code?: number }) => {
        assert.equal(err.code, 403);
        return true;
      },
    );
  });
});

/**
 * Watches `path` until an ADDED event for `name`. `ready` resolves once the watch is accepted:
 * right after a CRD is established kube-apiserver answers 429 while that resource's watch cache
 * initializes, so the watch is retried (bounded) until it stays open.
 */
function watchForAdded(
  cp: ControlPlane,
  path: string,
  name: string,
  aborts: AbortController[],
): { ready: Promise<void>; seen: Promise<Widget> } {
  let resolveSeen!: (w: Widget) => void;
  const seen = new Promise<Widget>((r) => {
    resolveSeen = r;
  });
  const ready = (async () => {
    for (let attempt = 1; ; attempt++) {
      let ended: string | undefined;
      const abort = await new Watch(cp.kubeConfig).watch(
        path,
        {},
        (phase, obj: Widget) => {
          if (phase === 'ADDED' && obj.metadata?.name === name) resolveSeen(obj);
        },
        (err: unknown) => {
          ended = err instanceof Error ? err.message : 'closed';
        },
      );
      aborts.push(abort);
      // A rejected watch ends at once; one that is still open after a pause was accepted.
      await new Promise((r) => setTimeout(r, 300));
      if (ended === undefined) return;
      if (attempt >= 50) throw new Error(`watch on ${path} kept failing: ${ended}`);
    }
  })();
  return { ready, seen };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
