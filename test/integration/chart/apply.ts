/**
 * Installs rendered chart manifests on the test bed's real kube-apiserver the way `helm install`
 * would (CRDs first, then the rest), with server-side apply through @kubernetes/client-node.
 * No kubectl: the API calls are visible here.
 */
import {
  ApiextensionsV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import type { Manifest } from '../../unit/chart/helm.ts';

const FIELD_MANAGER = 'sluice-chart-test';

/** Server-side applies one object (creates it or takes ownership of its fields). */
export async function apply(kc: KubeConfig, obj: Manifest | KubernetesObject): Promise<KubernetesObject> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  return client.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
}

/** Creates `name` unless it exists, with `labels`. */
export async function ensureNamespace(
  kc: KubeConfig,
  name: string,
  labels: Record<string, string> = {},
): Promise<void> {
  await apply(kc, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
}

/** Waits (bounded by polls, not time) until every CRD named is Established. */
export async function waitEstablished(kc: KubeConfig, names: string[], polls = 200): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  for (const name of names) {
    for (let i = 0; ; i++) {
      const crd: V1CustomResourceDefinition = await api.readCustomResourceDefinition({ name });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (i >= polls) throw new Error(`CRD ${name} not Established after ${polls} polls`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * helm install's order: CRDs (waited for), then namespaced objects into an existing namespace.
 * Returns what the API server stored, in input order.
 */
export async function install(
  kc: KubeConfig,
  manifests: Manifest[],
  namespace: string,
): Promise<KubernetesObject[]> {
  const crds = manifests.filter((m) => m.kind === 'CustomResourceDefinition');
  for (const crd of crds) await apply(kc, crd);
  await waitEstablished(
    kc,
    crds.map((c) => c.metadata.name),
  );
  await ensureNamespace(kc, namespace);
  const stored: KubernetesObject[] = [];
  for (const m of manifests.filter((x) => x.kind !== 'CustomResourceDefinition')) {
    try {
      stored.push(await apply(kc, m));
    } catch (err) {
      throw new Error(`${m.kind}/${m.metadata.name} refused by the API server: ${errorBody(err)}`, {
        cause: err,
      });
    }
  }
  return stored;
}

/** The API server's message from a client-node ApiException (its body), else the error text. */
export function errorBody(err: unknown): string {
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

/**
 * A minimal CRD for a third-party kind the chart renders (prometheus-operator, cert-manager)
 * whose real CRD is not in the test bed: same group/version/kind/scope, schema left open. It
 * proves the chart's objects are addressable and well-formed, not that every field is valid.
 */
export function stubCrd(
  group: string,
  kind: string,
  plural: string,
  scope: 'Namespaced' | 'Cluster' = 'Namespaced',
): Manifest {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope,
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          // spec declared (server-side apply cannot type a patch against a bare open root).
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            },
          },
        },
      ],
    },
  };
}

/** Deletes a cluster-scoped or namespaced object; a 404 is fine. */
export async function remove(kc: KubeConfig, obj: Manifest | KubernetesObject): Promise<void> {
  try {
    await KubernetesObjectApi.makeApiClient(kc).delete(obj);
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
  }
}

/** CoreV1Api for `kc`. */
export function core(kc: KubeConfig): CoreV1Api {
  return kc.makeApiClient(CoreV1Api);
}
