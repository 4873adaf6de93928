/**
 * `make demo`: the Sluice journey narrated for a newcomer, on a local test bed — a 4-node MinIO
 * cluster and a real etcd + kube-apiserver. The same steps e2e/journey.test.ts asserts.
 *
 * Ends with the sidecar running and its metrics and /debug/backends URLs printed. On a terminal
 * it keeps running until Ctrl-C; otherwise (CI, pipes) it tears everything down and exits.
 */
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3ServiceException,
} from '@aws-sdk/client-s3';
import { BUCKET, Journey, eventually } from '../e2e/journey.ts';

const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
let stepNo = 0;
function step(title: string, why: string): void {
  stepNo++;
  process.stdout.write(`\n${bold(`${stepNo}. ${title}`)}\n   ${why}\n`);
}
const say = (line: string): void => void process.stdout.write(`   → ${line}\n`);

async function attempt(what: string, p: Promise<unknown>): Promise<void> {
  try {
    await p;
    say(`${what}: OK`);
  } catch (err) {
    say(`${what}: ${(err as S3ServiceException).name} (${(err as Error).message})`);
  }
}

/** The part of /debug/backends the demo prints. */
interface BackendsView {
  stores: {
    store: string;
    algorithm: string;
    localZone: string;
    backends: { origin: string; zone: string; state: string; ewmaMs: number; attempts: number }[];
  }[];
}

const j = new Journey();
let stopping = false;
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    process.stdout.write('\nStopping the sidecar, the operator, the control plane and MinIO...\n');
    await j.stop();
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

try {
  step(
    'Start the test bed',
    'A distributed MinIO cluster (4 processes) and etcd + kube-apiserver, all on 127.0.0.1.',
  );
  await j.startTestBed();
  say(`MinIO nodes: ${j.minio.endpoints.join(' ')}`);
  say(`kube-apiserver: ${j.kube.server}  (KUBECONFIG=${j.kube.kubeconfigPath})`);

  step(
    'The storage team creates a bucket',
    `Bucket "${BUCKET}" with reports/ and private/ objects, using MinIO's root keys.`,
  );
  await j.seedBucket();

  step(
    'helm install sluice',
    "The chart is rendered and applied; the operator runs with the chart's args and RBAC.",
  );
  const objects = await j.installChart();
  say(`applied ${objects.length} objects: ${[...new Set(objects.map((o) => o.kind))].join(', ')}`);
  await j.startOperator(objects);
  say(`operator ready; webhook on https://127.0.0.1:${j.operatorPorts.webhook}/mutate, its CA published`);

  step(
    'The platform team registers the store',
    'An ObjectStore lists the 4 nodes with zones; its keys live in a Secret in the operator namespace ' +
      '(static mode: each served pod\'s Secret carries a copy; README, "Security model").',
  );
  await j.applyStore();

  step(
    'The app team asks for access',
    `A BucketAccess: pods labelled app=reporter may read and list ${BUCKET}/reports/ — nothing else.`,
  );
  await j.applyBucketAccess(['read', 'list']);

  step(
    'A pod is created with sluice.dev/inject: "true"',
    "The webhook injects the sidecar; the controller writes the pod's policy Secret.",
  );
  const pod = await j.createPod();
  say(
    `pod ${pod.metadata?.namespace}/${pod.metadata?.name}: containers ${[...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name).join(', ')}`,
  );
  const env = (pod.spec?.containers[0]?.env ?? []).map((e) => `${e.name}=${e.value}`).join(' ');
  say(`app env injected: ${env}`);

  step(
    'The sidecar starts',
    "Here the harness plays kubelet: it mounts the Secret and runs the sidecar's command.",
  );
  await j.startSidecar();
  say(`sidecar S3 endpoint http://127.0.0.1:${j.pod?.s3Port} (7480 in a real pod)`);

  step('The app uses S3 with no real keys', 'The AWS SDK, configured only from the injected env.');
  const app = j.appClient();
  const got = await app.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'reports/2026-11.csv' }));
  say(`GET reports/2026-11.csv: ${JSON.stringify(await got.Body?.transformToString())}`);
  const listed = await app.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'reports/' }));
  say(`LIST reports/: ${(listed.Contents ?? []).map((o) => o.Key).join(', ')}`);
  await attempt(
    'GET private/salaries.csv',
    app.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'private/salaries.csv' })),
  );
  await attempt(
    'PUT reports/new.csv',
    app.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'reports/new.csv', Body: 'x' })),
  );

  step('The grant is widened', 'Adding write to the BucketAccess reaches the running sidecar — no restart.');
  await j.applyBucketAccess(['read', 'list', 'write']);
  await eventually('the write grant', async () => {
    await app.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'reports/new.csv', Body: 'written via sluice' }),
    );
    return true;
  });
  say('PUT reports/new.csv: OK');

  step('A storage node dies', 'Node 0 is killed while the app reads; the sidecar routes around it.');
  let ok = 0;
  let failed = 0;
  const reads = (async () => {
    for (let i = 0; i < 100; i++) {
      try {
        await (
          await app.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'reports/2026-10.csv' }))
        ).Body?.transformToString();
        ok++;
      } catch {
        failed++;
      }
    }
  })();
  await eventually('reads under way', () => Promise.resolve(ok >= 10 ? true : undefined));
  await j.minio.killNode(0);
  await reads;
  say(`100 reads while a node died: ${ok} OK, ${failed} failed`);

  step('Look inside', "The sidecar's admin port serves Prometheus metrics and the live backend table.");
  const admin = `http://127.0.0.1:${j.pod?.adminPort}`;
  const dead = j.minio.endpoints[0] ?? '';
  const table = await eventually('the dead node to be marked down', async () => {
    const view = (await (await fetch(`${admin}/debug/backends`)).json()) as BackendsView;
    const b = view.stores[0]?.backends.find((x) => x.origin === dead);
    return b && b.state !== 'healthy' ? view : undefined;
  });
  say(`metrics:  ${admin}/metrics`);
  say(`backends: ${admin}/debug/backends`);
  for (const store of table.stores) {
    say(`store ${store.store} (${store.algorithm}, local zone ${store.localZone}):`);
    for (const b of store.backends) {
      say(
        `  ${b.origin.padEnd(24)} ${String(b.zone).padEnd(7)} ${b.state.padEnd(10)} ewma ${String(b.ewmaMs).padStart(6)} ms  requests ${b.attempts}`,
      );
    }
  }
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  const requestLines = metrics
    .split('\n')
    .filter((l) => l.startsWith('sluice_') && l.includes('requests_total'));
  for (const l of requestLines.slice(0, 8)) say(l);
  app.destroy();

  if (process.stdin.isTTY) {
    process.stdout.write(
      `\n${bold('The sidecar is running.')} Try: curl ${admin}/metrics — Ctrl-C to stop.\n`,
    );
    await new Promise(() => undefined);
  }
  await shutdown(0);
} catch (err) {
  process.stderr.write(`\ndemo failed: ${(err as Error).stack ?? String(err)}\n`);
  if (j.operatorLog) process.stderr.write(`operator log: ${j.operatorLog}\n`);
  if (j.pod) process.stderr.write(`sidecar log: ${j.pod.logFile}\n`);
  await shutdown(1);
}
