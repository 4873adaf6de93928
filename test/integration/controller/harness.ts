/**
 * Shared set-up of the controller's integration tests: a real control plane with the CRDs
 * installed, object builders, a controller instance, and a bounded `eventually` poll (a bound to
 * stop a broken test, never a timing assertion).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { parseAllDocuments } from 'yaml';
import type { KubeConfig } from '@kubernetes/client-node';
import { IDENTITY_LABEL, SIDECAR_CONTAINER_NAME } from '../../../operator/contract.ts';
import { KubeClient, isStatus } from '../../../operator/kube/client.ts';
import { Controller, type ControllerOptions } from '../../../operator/controller/controller.ts';
import { createOperatorMetrics, type OperatorMetrics } from '../../../operator/metrics.ts';
import type { BucketAccessSpec, ObjectStoreSpec, Secret } from '../../../operator/controller/types.ts';
import { startControlPlane, type ControlPlane } from '../../testbed/kube.ts';

export const REPO = join(import.meta.dirname, '..', '..', '..');

/** Polls `probe` until it returns a non-undefined value; throws `what` after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `not reached within ${timeoutMs} ms: ${what}${last ? ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every YAML document of a repo file. */
export function yamlDocs(rel: string): Record<string, unknown>[] {
  return parseAllDocuments(readFileSync(join(REPO, rel), 'utf8')).map(
    (d) => d.toJS() as Record<string, unknown>,
  );
}

/** Installs crds/*.yaml and waits until both are Established. */
export async function installCrds(client: KubeClient): Promise<void> {
  for (const f of ['crds/objectstore.yaml', 'crds/bucketaccess.yaml']) {
    for (const doc of yamlDocs(f))
      await client.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', doc);
  }
  for (const name of ['objectstores.sluice.dev', 'bucketaccesses.sluice.dev']) {
    await eventually(`CRD ${name} established`, async () => {
      const crd = await client.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
      );
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
        ? true
        : undefined;
    });
  }
}

/** A control plane with CRDs and an admin client. */
export interface Env {
  cp: ControlPlane;
  admin: KubeClient;
}

export async function startEnv(): Promise<Env> {
  const cp = await startControlPlane();
  const admin = new KubeClient(cp.kubeConfig);
  await installCrds(admin);
  await createNamespace(admin, 'sluice-system');
  return { cp, admin };
}

export async function createNamespace(
  c: KubeClient,
  name: string,
  labels: Record<string, string> = {},
): Promise<void> {
  try {
    await c.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  } catch (err) {
    if (!isStatus(err, 409)) throw err;
  }
}

export function createNode(c: KubeClient, name: string, zone?: string): Promise<unknown> {
  const labels: Record<string, string> = zone ? { 'topology.kubernetes.io/zone': zone } : {};
  return c.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels } });
}

export interface PodArgs {
  ns: string;
  name: string;
  identity: string;
  labels?: Record<string, string>;
  serviceAccountName?: string;
  nodeName?: string;
  /** Leave the sidecar container out (a pod that only carries the label). */
  noSidecar?: boolean;
  hostNetwork?: boolean;
}

/**
 * An injected pod as the webhook leaves it (the identity label and the sidecar container); it
 * stays Pending (no kubelet).
 */
export function createPod(c: KubeClient, a: PodArgs): Promise<{ metadata: { uid: string; name: string } }> {
  return c.create(`/api/v1/namespaces/${a.ns}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: a.name, labels: { ...(a.labels ?? {}), [IDENTITY_LABEL]: a.identity } },
    spec: {
      containers: [
        { name: 'app', image: 'example.invalid/app:1' },
        ...(a.noSidecar ? [] : [{ name: SIDECAR_CONTAINER_NAME, image: 'example.invalid/sluice:1' }]),
      ],
      ...(a.hostNetwork ? { hostNetwork: true } : {}),
      ...(a.serviceAccountName ? { serviceAccountName: a.serviceAccountName } : {}),
      ...(a.nodeName ? { nodeName: a.nodeName } : {}),
    },
  });
}

export function deletePod(c: KubeClient, ns: string, name: string): Promise<void> {
  // Grace period 0: there is no kubelet to confirm termination.
  return c.request('DELETE', `/api/v1/namespaces/${ns}/pods/${name}`, { body: { gracePeriodSeconds: 0 } });
}

export function createStore(c: KubeClient, name: string, spec: ObjectStoreSpec): Promise<unknown> {
  return c.create('/apis/sluice.dev/v1alpha1/objectstores', {
    apiVersion: 'sluice.dev/v1alpha1',
    kind: 'ObjectStore',
    metadata: { name },
    spec,
  });
}

export function createAccess(
  c: KubeClient,
  ns: string,
  name: string,
  spec: BucketAccessSpec | Record<string, unknown>,
): Promise<unknown> {
  return c.create(`/apis/sluice.dev/v1alpha1/namespaces/${ns}/bucketaccesses`, {
    apiVersion: 'sluice.dev/v1alpha1',
    kind: 'BucketAccess',
    metadata: { name },
    spec,
  });
}

export function credentialSecret(
  ns: string,
  name: string,
  accessKeyId: string,
  secretAccessKey: string,
): Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: ns },
    stringData: { accessKeyId, secretAccessKey },
  } as Secret;
}

/** Decoded data of a Secret, or undefined when it does not exist. */
export async function readSecret(
  c: KubeClient,
  ns: string,
  name: string,
): Promise<{ secret: Secret; data: Record<string, string> } | undefined> {
  const s = await c.getOrUndefined<Secret>(`/api/v1/namespaces/${ns}/secrets/${name}`);
  if (!s) return undefined;
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
  return { secret: s, data };
}

/** A controller on `kubeConfig` with test-friendly timings; the caller stops it. */
export function newController(
  kubeConfig: KubeConfig,
  over: Partial<ControllerOptions> = {},
): { controller: Controller; metrics: OperatorMetrics } {
  const metrics = createOperatorMetrics();
  const controller = new Controller({
    client: new KubeClient(kubeConfig),
    log: pino({ level: 'silent' }),
    metrics,
    resyncPeriodMs: 60_000,
    workers: 4,
    instance: 'test',
    sts: { defaultDurationSeconds: 3600, renewFraction: 2 / 3 },
    backoff: { baseMs: 50, maxMs: 2000 },
    ...over,
  });
  return { controller, metrics };
}

/** Applies operator/controller/rbac.yaml with its subjects replaced by `user`. */
export async function bindOperatorRbac(c: KubeClient, user: string): Promise<void> {
  for (const doc of yamlDocs('operator/controller/rbac.yaml')) {
    const kind = doc.kind as string;
    const md = doc.metadata as { namespace?: string };
    if (kind.endsWith('Binding'))
      doc.subjects = [{ kind: 'User', name: user, apiGroup: 'rbac.authorization.k8s.io' }];
    const plural = {
      ClusterRole: 'clusterroles',
      Role: 'roles',
      ClusterRoleBinding: 'clusterrolebindings',
      RoleBinding: 'rolebindings',
    }[kind];
    const base = md.namespace
      ? `/apis/rbac.authorization.k8s.io/v1/namespaces/${md.namespace}`
      : '/apis/rbac.authorization.k8s.io/v1';
    await c.create(`${base}/${plural}`, doc);
  }
}
