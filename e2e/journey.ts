/**
 * The product as its users meet it, on a real control plane and a real MinIO cluster:
 * `helm install` the operator (rendered with helm, applied to kube-apiserver, the operator run
 * as a process with the chart's own args and the chart's ServiceAccount RBAC), apply an
 * ObjectStore and a BucketAccess, create an annotated pod, and use S3 through its sidecar.
 *
 * One implementation, two drivers: e2e/journey.test.ts asserts each step, scripts/demo.ts
 * narrates it. Every step is a method so both can interleave their own checks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CoreV1Api, KubernetesObjectApi, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { binPath } from '../test/testbed/bin.ts';
import { startControlPlane, type ControlPlane } from '../test/testbed/kube.ts';
import { startMinioCluster, type MinioCluster } from '../test/testbed/minio.ts';
import { freePort } from '../test/testbed/ports.ts';
import { runPod, type RunningPod } from './harness/pod-runner.ts';
import { podSecretName, IDENTITY_LABEL } from '../operator/contract.ts';
import { buildDist, DIST_ENTRY } from '../scripts/build.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const RELEASE = 'sluice';
export const OPERATOR_NS = 'sluice-system';
export const APP_NS = 'team-a';
export const BUCKET = 'analytics';
export const STORE = 'minio';
/** The MinIO nodes' zones: two per zone, the app pod runs in zone-a. */
export const NODE_ZONES = ['zone-a', 'zone-a', 'zone-b', 'zone-b'];

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export class Journey {
  minio!: MinioCluster;
  kube!: ControlPlane;
  operator: ChildProcess | undefined;
  operatorLog = '';
  operatorPorts = { webhook: 0, health: 0, metrics: 0 };
  pod: RunningPod | undefined;
  podName = '';
  identity = '';
  private dir = '';

  /**
   * Builds dist/ (the operator and sidecar run what the image ships), then starts the 4-node
   * MinIO cluster and the control plane (in parallel).
   */
  async startTestBed(): Promise<void> {
    buildDist();
    this.dir = await mkdtemp(join(tmpdir(), 'sluice-journey-'));
    [this.minio, this.kube] = await Promise.all([startMinioCluster({ nodes: 4 }), startControlPlane()]);
  }

  /** The store admin's side: a bucket with a few objects, using MinIO's root keys directly. */
  async seedBucket(): Promise<void> {
    const s3 = new S3Client({
      endpoint: this.minio.endpoints[0],
      region: this.minio.region,
      forcePathStyle: true,
      credentials: { accessKeyId: this.minio.rootUser, secretAccessKey: this.minio.rootPassword },
    });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    for (const key of ['reports/2026-11.csv', 'reports/2026-10.csv', 'private/salaries.csv']) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `contents of ${key}\n` }));
    }
    s3.destroy();
  }

  /** `helm template` the chart (webhook reached by URL, as for an out-of-cluster operator). */
  async renderChart(): Promise<KubernetesObject[]> {
    this.operatorPorts = { webhook: await freePort(), health: await freePort(), metrics: await freePort() };
    const { stdout } = await run(
      binPath('helm'),
      [
        'template',
        RELEASE,
        join(repoRoot, 'charts/sluice'),
        '--namespace',
        OPERATOR_NS,
        '--include-crds',
        '--set',
        `webhook.url=https://127.0.0.1:${this.operatorPorts.webhook}/mutate`,
        '--set',
        'webhook.failurePolicy=Fail',
        '--set',
        'operator.extraArgs={--webhook-ip-sans=127.0.0.1}',
      ],
      { maxBuffer: 16 << 20 },
    );
    return parseAllDocuments(stdout)
      .map((d) => d.toJS() as KubernetesObject | null)
      .filter((o): o is KubernetesObject => o !== null && typeof o === 'object' && 'kind' in o);
  }

  /** Applies objects with server-side apply as the cluster admin (what `helm install` does). */
  async apply(objects: KubernetesObject[]): Promise<void> {
    const api = KubernetesObjectApi.makeApiClient(this.kube.kubeConfig);
    // CRDs and namespaces first, so the rest can be stored.
    const rank = (o: KubernetesObject): number =>
      o.kind === 'CustomResourceDefinition' ? 0 : o.kind === 'Namespace' ? 1 : 2;
    for (const o of [...objects].sort((a, b) => rank(a) - rank(b))) {
      await eventually(`${o.kind} ${o.metadata?.name} stored`, async () => {
        await api.patch(o, undefined, undefined, 'sluice-e2e', true, 'application/apply-patch+yaml');
        return true;
      });
    }
  }

  /** Installs the chart: its namespace, CRDs, RBAC, webhook configuration, Deployment, Service. */
  async installChart(): Promise<KubernetesObject[]> {
    const objects = await this.renderChart();
    await this.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: OPERATOR_NS } }, ...objects]);
    return objects;
  }

  /**
   * Runs `sluice operator` as a process with the args of the chart's Deployment, authenticated
   * as the chart's ServiceAccount (so the chart's RBAC is what it gets), ports remapped to free
   * loopback ports. Resolves once it is ready and has published its CA in the webhook config.
   */
  async startOperator(objects: KubernetesObject[]): Promise<void> {
    const deployment = objects.find((o) => o.kind === 'Deployment') as
      | { spec: { template: { spec: { serviceAccountName: string; containers: { args: string[] }[] } } } }
      | undefined;
    if (!deployment) throw new Error('chart rendered no Deployment');
    const podSpec = deployment.spec.template.spec;
    const sa = podSpec.serviceAccountName;
    const identity = this.kube.kubeconfigFor(`system:serviceaccount:${OPERATOR_NS}:${sa}`, [
      'system:serviceaccounts',
      `system:serviceaccounts:${OPERATOR_NS}`,
      'system:authenticated',
    ]);
    const p = this.operatorPorts;
    const args = (podSpec.containers[0]?.args ?? [])
      .map((a) => a.replace(/^--webhook-port=.*/, `--webhook-port=${p.webhook}`))
      .map((a) => a.replace(/^--health-port=.*/, `--health-port=${p.health}`))
      .map((a) => a.replace(/^--metrics-port=.*/, `--metrics-port=${p.metrics}`));
    args.push(`--kubeconfig=${identity.kubeconfigPath}`, `--namespace=${OPERATOR_NS}`, '--resync-period=30s');
    if (args[0] !== 'operator') args.unshift('operator');
    this.operatorLog = join(this.dir, 'operator.log');
    const log = createWriteStream(this.operatorLog);
    const child = spawn(join(repoRoot, 'node_modules/.bin/node'), [join(repoRoot, DIST_ENTRY), ...args], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        POD_NAME: 'sluice-operator-e2e',
        POD_NAMESPACE: OPERATOR_NS,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    this.operator = child;
    await eventually('operator /readyz', async () => {
      if (child.exitCode !== null) throw new Error(`operator exited with ${child.exitCode}`);
      const res = await fetch(`http://127.0.0.1:${p.health}/readyz`);
      return res.ok ? true : undefined;
    });
    const api = KubernetesObjectApi.makeApiClient(this.kube.kubeConfig);
    await eventually('caBundle published in the MutatingWebhookConfiguration', async () => {
      const mwc: KubernetesObject & { webhooks?: { clientConfig?: { caBundle?: string } }[] } =
        await api.read({
          apiVersion: 'admissionregistration.k8s.io/v1',
          kind: 'MutatingWebhookConfiguration',
          metadata: { name: `${RELEASE}-injector` },
        });
      return mwc.webhooks?.every((w) => (w.clientConfig?.caBundle ?? '').length > 0) ? true : undefined;
    });
  }

  /** The platform team's side: a store, its credentials, the app namespace, a scheduled node. */
  async applyStore(): Promise<void> {
    await this.apply([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: APP_NS } },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'minio-credentials', namespace: OPERATOR_NS },
        stringData: { accessKeyId: this.minio.rootUser, secretAccessKey: this.minio.rootPassword },
      } as KubernetesObject,
      {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: 'node-a1', labels: { 'topology.kubernetes.io/zone': 'zone-a' } },
      },
      {
        apiVersion: 'sluice.dev/v1alpha1',
        kind: 'ObjectStore',
        metadata: { name: STORE },
        spec: {
          endpoints: this.minio.endpoints.map((url, i) => ({ url, zone: NODE_ZONES[i] })),
          region: this.minio.region,
          addressing: 'path',
          provider: 'minio',
          balancing: { algorithm: 'peak-ewma', healthCheck: { path: '/minio/health/live', intervalMs: 500 } },
          credentials: { mode: 'static', secretRef: { namespace: OPERATOR_NS, name: 'minio-credentials' } },
          allowedNamespaces: {},
        },
      } as KubernetesObject,
    ]);
  }

  /** The app team's grant: read + list under reports/ of the bucket, for pods labelled app=reporter. */
  async applyBucketAccess(access: string[] = ['read', 'list']): Promise<void> {
    await this.apply([
      {
        apiVersion: 'sluice.dev/v1alpha1',
        kind: 'BucketAccess',
        metadata: { name: 'reporter', namespace: APP_NS },
        spec: {
          storeRef: STORE,
          podSelector: { matchLabels: { app: 'reporter' } },
          grants: [{ bucket: BUCKET, prefixes: ['reports/'], access }],
        },
      } as KubernetesObject,
    ]);
  }

  /** Creates an annotated pod with generateName, as a ReplicaSet would; returns it as stored. */
  async createPod(): Promise<V1Pod> {
    const core = this.kube.kubeConfig.makeApiClient(CoreV1Api);
    const pod = await core.createNamespacedPod({
      namespace: APP_NS,
      body: {
        metadata: {
          generateName: 'reporter-',
          labels: { app: 'reporter' },
          annotations: { 'sluice.dev/inject': 'true' },
        },
        spec: {
          nodeName: 'node-a1',
          containers: [{ name: 'app', image: 'example.com/reporter:1.0', command: ['sleep', 'infinity'] }],
        },
      },
    });
    this.podName = pod.metadata?.name ?? '';
    this.identity = pod.metadata?.labels?.[IDENTITY_LABEL] ?? '';
    return pod;
  }

  /** Waits for the controller's per-pod Secret, then plays kubelet: starts the sidecar. */
  async startSidecar(): Promise<RunningPod> {
    const core = this.kube.kubeConfig.makeApiClient(CoreV1Api);
    await eventually('the per-pod policy Secret', async () =>
      core.readNamespacedSecret({ name: podSecretName(this.identity), namespace: APP_NS }),
    );
    this.pod = await runPod({
      kubeConfig: this.kube.kubeConfig,
      namespace: APP_NS,
      name: this.podName,
      s3Port: await freePort(),
      adminPort: await freePort(),
      syncEveryMs: 300,
    });
    const admin = this.pod.adminPort;
    await eventually('sidecar /readyz', async () => {
      if (this.pod?.process.exitCode !== null) throw new Error('sidecar exited; see ' + this.pod?.logFile);
      const res = await fetch(`http://127.0.0.1:${admin}/readyz`);
      return res.ok ? true : undefined;
    });
    return this.pod;
  }

  /** An S3 client configured only from the app container's injected env (no real keys). */
  appClient(): S3Client {
    if (!this.pod) throw new Error('no sidecar running');
    const env = this.pod.appEnv('app');
    return new S3Client({
      endpoint: env.AWS_ENDPOINT_URL_S3,
      region: env.AWS_REGION,
      forcePathStyle: true,
      credentials: {
        accessKeyId: env.AWS_ACCESS_KEY_ID ?? '',
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? '',
      },
      maxAttempts: 1,
    });
  }

  async deletePod(): Promise<void> {
    const core = this.kube.kubeConfig.makeApiClient(CoreV1Api);
    await this.pod?.stop();
    this.pod = undefined;
    await core.deleteNamespacedPod({ name: this.podName, namespace: APP_NS, gracePeriodSeconds: 0 });
  }

  async secretExists(): Promise<boolean> {
    const core = this.kube.kubeConfig.makeApiClient(CoreV1Api);
    try {
      await core.readNamespacedSecret({ name: podSecretName(this.identity), namespace: APP_NS });
      return true;
    } catch (err) {
      // client-node's ApiException carries the HTTP status as `code`.
      if ((err as { code?: unknown }).code === 404) return false;
      throw err; // a 403 or a dead API server is not "deleted"
    }
  }

  async stop(): Promise<void> {
    await this.pod?.stop().catch(() => undefined);
    if (this.operator && this.operator.exitCode === null) {
      const exited = new Promise((r) => this.operator?.once('exit', r));
      this.operator.kill('SIGTERM');
      const t = setTimeout(() => this.operator?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    await Promise.all([this.kube?.stop(), this.minio?.stop()]);
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
