/**
 * Webhook latency benchmark (issue 6): `node bench/webhook/run.ts`. Not a test: it measures and
 * reports, it asserts nothing. 100 admissions in flight at all times (closed loop), in one run:
 *  1. direct HTTPS to the webhook, against a bare HTTPS server that answers "allowed" without
 *     looking at the body (the transport's floor: TLS, HTTP/1.1 keep-alive, JSON in and out);
 *  2. through the real kube-apiserver: pod creates with dryRun=All (webhooks run, nothing is
 *     stored) in a namespace the webhook is registered for, against one it is not.
 * Requests per phase are fixed, not time-boxed, so every target does the same work. The machine
 * has 2 cores shared with other work: compare targets within one run, not across runs.
 * Writes bench/results/webhook-<date>.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import pino from 'pino';
import { Agent, request } from 'undici';
import { renewBundle } from '../../operator/tls/bundle.ts';
import { staticCertificateSource } from '../../operator/tls/source.ts';
import { resolveInjectorConfig } from '../../operator/webhook/config.ts';
import { startWebhookServer } from '../../operator/webhook/server.ts';
import type { Pod } from '../../operator/webhook/types.ts';
import { fixturePod, reviewFor } from '../../test/fixtures/cases.ts';
import { startControlPlane } from '../../test/testbed/kube.ts';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const CONCURRENCY = Number(flag('--concurrency') ?? 100);
const DIRECT_REQUESTS = Number(flag('--requests') ?? 5000);
const APISERVER_REQUESTS = Number(flag('--apiserver-requests') ?? 2000);
const SKIP_APISERVER = argv.includes('--no-apiserver');
const ROUNDS = 5;

interface Result {
  target: string;
  requests: number;
  errors: number;
  seconds: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

interface Samples {
  lat: number[];
  errors: number;
  seconds: number;
}

/** Runs `total` calls of `once` with `CONCURRENCY` in flight; latency per call in ms. */
async function closedLoop(total: number, once: () => Promise<boolean>): Promise<Samples> {
  const lat: number[] = [];
  let errors = 0;
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < total) {
      next++;
      const t0 = performance.now();
      let ok = false;
      try {
        ok = await once();
      } catch {
        ok = false;
      }
      lat.push(performance.now() - t0);
      if (!ok) errors++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { lat, errors, seconds: (performance.now() - started) / 1000 };
}

/**
 * Runs the targets in ROUNDS interleaved rounds (a, b, a, b, …) of total/ROUNDS requests each,
 * so load from other work on the machine falls on all targets alike, then summarises.
 */
async function compare(total: number, targets: [string, () => Promise<boolean>][]): Promise<Result[]> {
  for (const [, once] of targets) await closedLoop(CONCURRENCY * 2, once); // warm-up
  const acc = targets.map(() => ({ lat: [] as number[], errors: 0, seconds: 0 }));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, [, once]] of targets.entries()) {
      const s = await closedLoop(Math.ceil(total / ROUNDS), once);
      acc[i]!.lat.push(...s.lat);
      acc[i]!.errors += s.errors;
      acc[i]!.seconds += s.seconds;
    }
  }
  return targets.map(([target], i) => summarise(target, acc[i]!));
}

function summarise(target: string, { lat, errors, seconds }: Samples): Result {
  lat.sort((a, b) => a - b);
  return {
    target,
    requests: lat.length,
    errors,
    seconds,
    p50: quantile(lat, 0.5),
    p90: quantile(lat, 0.9),
    p99: quantile(lat, 0.99),
    max: lat[lat.length - 1] ?? NaN,
  };
}

async function directBench(): Promise<Result[]> {
  const bundle = renewBundle(
    undefined,
    'ca',
    {
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      caValidityDays: 2,
      certValidityDays: 1,
      renewFraction: 0.3,
    },
    new Date(),
  );
  const webhook = await startWebhookServer({
    injector: resolveInjectorConfig(),
    tls: { mode: 'source', source: staticCertificateSource({ cert: bundle.cert, key: bundle.key }) },
    port: 0,
    host: '127.0.0.1',
    nativeSidecars: true,
    namespaceLabels: () => Promise.resolve({ 'sluice.dev/injection': 'enabled' }),
    logger: pino({ level: 'warn' }),
  });
  const bare = createServer({ cert: bundle.cert, key: bundle.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const uid = /"uid":"([^"]+)"/.exec(Buffer.concat(chunks).toString())?.[1] ?? '';
      const body = JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid, allowed: true },
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  });
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
  const barePort = (bare.address() as AddressInfo).port;
  // The API server keeps connections to a webhook alive; so does this client.
  const agent = new Agent({ connections: CONCURRENCY, connect: { ca: bundle.caCert } });

  // A ReplicaSet's pod in an injection-enabled namespace: the namespace decides, so the
  // (cached) namespace lookup is on the path, as in production.
  const pod: Pod = fixturePod({ name: 'generate-name', fixture: 'generate-name', expect: 'injected' });
  let seq = 0;
  const call = (port: number) => async (): Promise<boolean> => {
    const body = JSON.stringify(reviewFor(pod, `uid-${++seq}`));
    const res = await request(`https://127.0.0.1:${port}/mutate`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
      dispatcher: agent,
    });
    const text = await res.body.text();
    return res.statusCode === 200 && text.includes('"allowed":true');
  };

  const results: Result[] = [];
  try {
    results.push(
      ...(await compare(DIRECT_REQUESTS, [
        ['bare HTTPS "allowed" (transport floor)', call(barePort)],
        ['sluice webhook, direct (inject)', call(webhook.port)],
      ])),
    );
  } finally {
    await agent.close();
    await webhook.close();
    await new Promise((r) => bare.close(r));
  }
  return results;
}

async function apiserverBench(): Promise<Result[]> {
  const cp = await startControlPlane();
  const logger = pino({ level: 'warn' });
  let webhook: Awaited<ReturnType<typeof startWebhookServer>> | undefined;
  const agent = new Agent({
    connections: CONCURRENCY,
    connect: {
      ca: Buffer.from(cp.kubeConfig.getCurrentCluster()!.caData!, 'base64'),
      cert: Buffer.from(cp.kubeConfig.getCurrentUser()!.certData!, 'base64'),
      key: Buffer.from(cp.kubeConfig.getCurrentUser()!.keyData!, 'base64'),
    },
  });
  try {
    const core = cp.kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'sluice-system' } } });
    await core.createNamespace({ body: { metadata: { name: 'with-webhook', labels: { bench: 'on' } } } });
    await core.createNamespace({ body: { metadata: { name: 'without-webhook' } } });
    webhook = await startWebhookServer({
      injector: resolveInjectorConfig(),
      tls: { mode: 'self-managed', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
      kubeConfig: cp.kubeConfig,
      port: 0,
      host: '127.0.0.1',
      logger,
    });
    const admission = cp.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    await admission.createMutatingWebhookConfiguration({
      body: {
        metadata: { name: 'sluice-bench' },
        webhooks: [
          {
            name: 'inject.sluice.dev',
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: 'Fail',
            timeoutSeconds: 10,
            clientConfig: {
              url: `https://127.0.0.1:${webhook.port}/mutate`,
              caBundle: Buffer.from(webhook.certificate().ca!).toString('base64'),
            },
            rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
            namespaceSelector: { matchLabels: { bench: 'on' } },
          },
        ],
      },
    });
    const pod = (ns: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { generateName: 'bench-', namespace: ns, annotations: { 'sluice.dev/inject': 'true' } },
        spec: { containers: [{ name: 'app', image: 'example.com/app:1' }] },
      });
    const create = (ns: string) => async (): Promise<boolean> => {
      const res = await request(`${cp.server}/api/v1/namespaces/${ns}/pods?dryRun=All`, {
        method: 'POST',
        body: pod(ns),
        headers: { 'content-type': 'application/json' },
        dispatcher: agent,
      });
      const text = await res.body.text();
      return res.statusCode === 201 && (ns !== 'with-webhook' || text.includes('sluice-proxy'));
    };
    return await compare(APISERVER_REQUESTS, [
      ['apiserver pod create (dry run), no webhook', create('without-webhook')],
      ['apiserver pod create (dry run), sluice webhook', create('with-webhook')],
    ]);
  } finally {
    await agent.close();
    await webhook?.close();
    await cp.stop();
  }
}

function markdown(results: Result[], notes: string[]): string {
  const lines = ['# Webhook latency benchmark', '', ...notes.map((n) => `- ${n}`), ''];
  lines.push('| target | requests | errors | req/s | p50 ms | p90 ms | p99 ms | max ms |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    lines.push(
      `| ${r.target} | ${r.requests} | ${r.errors} | ${(r.requests / r.seconds).toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p90.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} |`,
    );
  }
  return lines.join('\n') + '\n';
}

const results = [...(await directBench()), ...(SKIP_APISERVER ? [] : await apiserverBench())];
const date = new Date().toISOString();
const notes = [
  `${date}, ${cpus().length} CPUs (shared with other work), Node ${process.version}`,
  `${CONCURRENCY} admissions in flight (closed loop), fixed request count per target after a warm-up, in ${ROUNDS} interleaved rounds (a, b, a, b, …) so background load hits both alike`,
  'direct: undici keep-alive client → HTTPS webhook on 127.0.0.1, AdmissionReview of a ReplicaSet pod in an injection-enabled namespace (cached namespace lookup)',
  'apiserver: POST pods?dryRun=All through kube-apiserver 1.34 (etcd on tmpfs-like temp dir, no fsync); the webhook runs on dry runs (sideEffects None)',
  'latency is client-side per request; the two cores also run the client (and the apiserver): indicative numbers',
];
const dir = join(import.meta.dirname, '../results');
mkdirSync(dir, { recursive: true });
const stem = `webhook-${date.slice(0, 10)}`;
writeFileSync(
  join(dir, `${stem}.json`),
  JSON.stringify({ date, concurrency: CONCURRENCY, results }, null, 2) + '\n',
);
writeFileSync(join(dir, `${stem}.md`), markdown(results, notes));
process.stdout.write(markdown(results, notes));
