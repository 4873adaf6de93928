/**
 * The proxy's ceiling, short and repeatable (not a test): `node bench/proxy/ceiling.ts
 * [--rounds N] [--seconds S] [--concurrency C] [--size B] [--sluice-only] [--cpu-prof DIR]
 * [--heap-sample FILE] [--node-arg X]…`.
 *
 * A backend that is not the bottleneck (nginx serving a fixed 4 KiB body), nginx as a reverse
 * proxy in front of it, and `sluice proxy` (its own process, as in a pod) in front of it. Each
 * round measures backend → nginx → sluice back to back with wrk (one thread: the load generator
 * must leave the 2 shared cores to the proxies), so drift of the machine hits all three alike;
 * the report gives medians over the rounds, and the ratios sluice/nginx and sluice/backend.
 * Also the proxy's idle RSS before load and its RSS after it. Default 5 rounds × 3 s, c=16.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/testbed/ports.ts';
import { cpuSeconds, proxyEnv, rssBytes, waitHttp } from './proc.ts';
import { buildDist } from '../../scripts/build.ts';
import { wrk, type WrkResult } from './wrk.ts';
import { NGINX, startNginx } from './nginx.ts';
import { InspectorClient, summarize } from './heap-sampler.ts';

/** The built CLI (dist/), what the image ships: benchmarks measure that, not type stripping. */
const SLUICE = buildDist();

const argv = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const ROUNDS = flag('--rounds', 5);
const SECONDS = flag('--seconds', 3);
const CONCURRENCY = flag('--concurrency', 16);
// `--size BYTES`: the backend's object size (default 4 KiB; large ones measure streaming cost).
const SIZE = flag('--size', 4096);
// `--cpu-prof DIR`: the proxy writes a V8 CPU profile there when it stops.
const PROF_DIR = argv.includes('--cpu-prof') ? argv[argv.indexOf('--cpu-prof') + 1] : undefined;
// `--sluice-only`: skip backend and nginx rounds (for profiling the proxy alone).
const SLUICE_ONLY = argv.includes('--sluice-only');
// `--heap-sample FILE`: V8's sampling heap profile of the proxy's sluice rounds goes there, and
// the report gives the bytes it allocated per request and where (./heap-sampler.ts).
const HEAP_FILE = argv.includes('--heap-sample') ? argv[argv.indexOf('--heap-sample') + 1] : undefined;
// `--node-arg X` (repeatable): extra Node flags for the proxy process (heap experiments).
const NODE_ARGS = argv.flatMap((a, i) => (a === '--node-arg' && argv[i + 1] ? [argv[i + 1]!] : []));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(children: ChildProcess[], dir: string): Promise<void> {
  if (!existsSync(NGINX)) throw new Error(`nginx is needed (${NGINX})`);
  const [backendPort, nginxPort, sluicePort, adminPort, inspectPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  mkdirSync(join(dir, 'www'), { recursive: true });
  writeFileSync(join(dir, 'www', 'k'), Buffer.alloc(SIZE, 120));
  children.push(
    await startNginx(
      dir,
      `http { access_log off; keepalive_requests 100000;
  upstream be { server 127.0.0.1:${backendPort}; keepalive 128; }
  server { listen 127.0.0.1:${backendPort}; location / { root ${dir}/www; try_files /k =404; } }
  server { listen 127.0.0.1:${nginxPort}; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; } }
}`,
      `http://127.0.0.1:${backendPort}/`,
    ),
  );
  writeFileSync(join(dir, 'creds.json'), JSON.stringify({ accessKeyId: 'a', secretAccessKey: 'b' }));
  writeFileSync(
    join(dir, 'sluice.json'),
    JSON.stringify({
      listen: `127.0.0.1:${sluicePort}`,
      admin: `127.0.0.1:${adminPort}`,
      logLevel: 'info',
      stores: [
        {
          name: 'ceiling',
          endpoints: [`http://127.0.0.1:${backendPort}`],
          credentials: { file: 'creds.json' },
        },
      ],
      grants: [{ store: 'ceiling', bucket: 'ceiling', access: ['read'] }],
    }),
  );
  // The access log goes to /dev/null, as cheap a sink as a pod's stdout pipe gets.
  const sluice = spawn(
    process.execPath,
    [
      ...(PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROF_DIR}`] : []),
      ...(HEAP_FILE ? [`--inspect=127.0.0.1:${inspectPort}`] : []),
      ...NODE_ARGS,
      SLUICE,
      'proxy',
      '--config',
      join(dir, 'sluice.json'),
    ],
    { env: proxyEnv(), stdio: ['ignore', 'ignore', 'inherit'] },
  );
  children.push(sluice);
  await waitHttp(`http://127.0.0.1:${adminPort}/readyz`);
  await new Promise((r) => setTimeout(r, 1000));
  const idleRss = rssBytes(sluice.pid!);

  const urls = {
    backend: `http://127.0.0.1:${backendPort}/ceiling/k`,
    nginx: `http://127.0.0.1:${nginxPort}/ceiling/k`,
    sluice: `http://127.0.0.1:${sluicePort}/ceiling/k`,
  };
  wrk(urls.sluice, 1, CONCURRENCY); // warm-up (JIT, connections)
  const runs: Record<keyof typeof urls, WrkResult[]> = { backend: [], nginx: [], sluice: [] };
  const cpuPerReq: number[] = [];
  const inspector = HEAP_FILE ? await InspectorClient.connect(inspectPort) : undefined;
  await inspector?.startSampling();
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of SLUICE_ONLY ? (['sluice'] as const) : (['backend', 'nginx', 'sluice'] as const)) {
      const cpu0 = cpuSeconds(sluice.pid!);
      const r = wrk(urls[name], SECONDS, CONCURRENCY);
      if (name === 'sluice')
        cpuPerReq.push(((cpuSeconds(sluice.pid!) - cpu0) * 1000) / (r.reqPerSec * SECONDS));
      runs[name].push(r);
      process.stdout.write(
        `round ${round + 1} ${name.padEnd(7)} ${r.reqPerSec.toFixed(0).padStart(6)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms${r.errors ? `  errors ${r.errors}` : ''}\n`,
      );
    }
  }
  if (inspector) await reportAllocations(inspector, runs.sluice, HEAP_FILE!);
  const loadedRss = rssBytes(sluice.pid!);
  const med = (name: keyof typeof urls, k: keyof WrkResult): number =>
    runs[name].length ? median(runs[name].map((r) => r[k])) : NaN;
  const rps = {
    backend: med('backend', 'reqPerSec'),
    nginx: med('nginx', 'reqPerSec'),
    sluice: med('sluice', 'reqPerSec'),
  };
  process.stdout.write(
    `\nmedians of ${ROUNDS} × ${SECONDS}s, c=${CONCURRENCY}, ${SIZE} B GET:\n` +
      (['backend', 'nginx', 'sluice'] as const)
        .map(
          (n) =>
            `  ${n.padEnd(7)} ${rps[n].toFixed(0).padStart(6)} req/s  p50 ${med(n, 'p50Ms').toFixed(2)} ms  p99 ${med(n, 'p99Ms').toFixed(2)} ms`,
        )
        .join('\n') +
      `\n  sluice/nginx ${(rps.sluice / rps.nginx).toFixed(2)}×  sluice/backend ${(rps.sluice / rps.backend).toFixed(2)}×` +
      `  sluice CPU ${median(cpuPerReq).toFixed(3)} ms/req` +
      `  RSS idle ${(idleRss / (1 << 20)).toFixed(0)} MiB, after load ${(loadedRss / (1 << 20)).toFixed(0)} MiB\n`,
  );
}

async function reportAllocations(inspector: InspectorClient, runs: WrkResult[], file: string): Promise<void> {
  const profile = await inspector.stopSampling();
  inspector.close();
  writeFileSync(file, JSON.stringify(profile));
  // wrk's count leaves out the requests in flight at each round's end: a few per round at most.
  const requests = runs.reduce((n, r) => n + r.requests, 0);
  const { total, sites } = summarize(profile, 30);
  process.stdout.write(
    `\nallocated ${(total / requests).toFixed(0)} B per request (${requests} requests; profile ${file}); by site:\n` +
      sites.map(([site, bytes]) => `  ${(bytes / requests).toFixed(0).padStart(6)} B  ${site}`).join('\n') +
      '\n',
  );
}

const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'sluice-ceiling-'));
// nginx workers run as `nobody` when started as root: a 0700 temp dir would answer 403 to all.
chmodSync(dir, 0o755);
try {
  await main(children, dir);
} finally {
  for (const c of children) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, PROF_DIR ? 3000 : 200));
  rmSync(dir, { recursive: true, force: true });
}
