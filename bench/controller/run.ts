/**
 * Controller benchmark (not a test): 500 injected pods × 50 BucketAccesses (every BucketAccess
 * selects every pod, so each policy holds 50 grants) on a real kube-apiserver. Measures
 *   - initial convergence: controller start → all 500 Secrets hold their 50 grants
 *   - a BucketAccess edit that touches every pod → all 500 Secrets updated
 *   - a store credential rotation → all 500 Secrets updated
 *   - the controller's heap at that scale (heapUsed after GC, minus the same before it started)
 * Writes bench/results/controller.json. Run: node --expose-gc bench/controller/run.ts [pods] [accesses]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { POLICY_KEY, credentialsKey } from '../../operator/contract.ts';
import type { PodPolicyDocument } from '../../proxy/config/types.ts';
import type { Secret } from '../../operator/controller/types.ts';
import {
  createAccess,
  createNamespace,
  createPod,
  createStore,
  credentialSecret,
  newController,
  startEnv,
} from '../../test/integration/controller/harness.ts';

const PODS = Number(process.argv[2] ?? 500);
const ACCESSES = Number(process.argv[3] ?? 50);
const NS = 'bench';

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) await fn(items[i++] as T);
    }),
  );
}

const gcHeap = (): number => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
};

const env = await startEnv();
const result: Record<string, unknown> = {
  pods: PODS,
  bucketAccesses: ACCESSES,
  node: process.version,
  date: new Date().toISOString(),
};
try {
  const { admin } = env;
  await admin.create(
    '/api/v1/namespaces/sluice-system/secrets',
    credentialSecret('sluice-system', 'keys', 'AK1', 'SK1'),
  );
  await createStore(admin, 'main', {
    endpoints: [{ url: 'http://127.0.0.1:9000', zone: 'a' }],
    region: 'us-east-1',
    credentials: { secretRef: { namespace: 'sluice-system', name: 'keys' } },
    allowedNamespaces: {},
  });
  await createNamespace(admin, NS);
  const ids = Array.from({ length: PODS }, (_, i) => i);
  await pool(ids, 16, (i) =>
    createPod(admin, { ns: NS, name: `pod-${i}`, identity: `bench-${i}`, labels: { app: 'bench' } }),
  );
  await pool(
    Array.from({ length: ACCESSES }, (_, i) => i),
    16,
    (i) =>
      createAccess(admin, NS, `ba-${i}`, {
        storeRef: 'main',
        podSelector: { matchLabels: { app: 'bench' } },
        grants: [{ bucket: `bucket-${i}`, access: ['read', 'list'] }],
      }),
  );

  /** Polls the Secrets until `done(doc, secret)` holds for all PODS of them; returns ms. */
  const converge = async (
    what: string,
    start: number,
    done: (doc: PodPolicyDocument, s: Secret) => boolean,
  ): Promise<number> => {
    for (;;) {
      const list = await admin.list<Secret>(`/api/v1/namespaces/${NS}/secrets`, {
        labelSelector: 'app.kubernetes.io/managed-by=sluice',
      });
      let ok = 0;
      for (const s of list.items) {
        const raw = s.data?.[POLICY_KEY];
        if (raw && done(JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as PodPolicyDocument, s))
          ok++;
      }
      if (ok === PODS) {
        const ms = Date.now() - start;
        console.log(`${what}: ${PODS} Secrets in ${ms} ms`);
        return ms;
      }
      if (Date.now() - start > 300_000) throw new Error(`${what}: only ${ok}/${PODS} after 300 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const heapBefore = gcHeap();
  const { controller, metrics } = newController(env.cp.kubeConfig, { resyncPeriodMs: 600_000 });
  let t = Date.now();
  await controller.start();
  result.initialConvergeMs = await converge('initial', t, (d) => d.grants.length === ACCESSES);

  t = Date.now();
  await admin.patch(`/apis/sluice.dev/v1alpha1/namespaces/${NS}/bucketaccesses/ba-0`, {
    spec: {
      grants: [
        { bucket: 'bucket-0', access: ['read', 'list'] },
        { bucket: 'extra', access: ['write'] },
      ],
    },
  });
  result.bucketAccessChangeConvergeMs = await converge('BucketAccess edit', t, (d) =>
    d.grants.some((g) => g.bucket === 'extra'),
  );

  t = Date.now();
  await admin.replace(
    '/api/v1/namespaces/sluice-system/secrets/keys',
    credentialSecret('sluice-system', 'keys', 'AK2', 'SK2'),
  );
  result.rotationConvergeMs = await converge('credential rotation', t, (_d, s) => {
    const raw = s.data?.[credentialsKey('main')];
    return raw !== undefined && Buffer.from(raw, 'base64').toString('utf8').includes('AK2');
  });

  const heapAfter = gcHeap();
  result.controllerHeapBytes = heapAfter - heapBefore;
  result.processRssBytes = process.memoryUsage().rss;
  result.gcExposed = typeof (globalThis as { gc?: unknown }).gc === 'function';
  const writes = (await metrics.secretWritesTotal.get()).values
    .map((v) => `${v.labels.op}=${v.value}`)
    .join(' ');
  const reconciles = (await metrics.reconcilesTotal.get()).values
    .map((v) => `${v.labels.kind}/${v.labels.result}=${v.value}`)
    .join(' ');
  result.secretWrites = writes;
  result.reconciles = reconciles;
  console.log(
    `controller heap ≈ ${(Number(result.controllerHeapBytes) / 1048576).toFixed(1)} MiB, process RSS ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB`,
  );
  console.log(`writes: ${writes}; reconciles: ${reconciles}`);
  await controller.stop();
} finally {
  await env.cp.stop();
}
const out = join(import.meta.dirname, '..', 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'controller.json'), JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
