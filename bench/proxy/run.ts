/**
 * Proxy benchmark (not a test): `node bench/proxy/run.ts [--seconds N] [--rounds N] [--pin] [--quick]`.
 *
 * 1. GET and PUT of 4 KiB, 1 MiB and 64 MiB at concurrency 1/16/64, through the proxy and
 *    direct to the same MinIO node, in the same run: throughput and p50/p99 as ratios, the
 *    proxy's CPU per request and peak RSS per cell. GETs are driven by wrk (cheap per byte),
 *    PUTs by the Node generator (./load.ts). Each cell starts a fresh proxy, warms it up, then
 *    runs `--rounds` rounds of direct, peer, floor (GETs) and proxy in turn (medians). The peer
 *    is nginx as a plain reverse proxy in front of the same node (./nginx.ts; `--no-peer` leaves
 *    it out), so each ratio of ours sits next to what a relaying hop written in C gets on the
 *    same machine at the same moment; the floor is a bare Node relay (see FLOOR; `--no-floor`).
 * 2. The proxy's own ceiling (req/s) in front of a backend that is not the bottleneck (nginx
 *    returning a fixed 4 KiB body), next to nginx itself as a reverse proxy, and the backend
 *    alone.
 * 3. Added latency: 4 KiB GETs in open loops below saturation, direct, peer, the Node floor (a
 *    bare Node relay, see FLOOR; `--no-floor`) and proxy interleaved (`--added-only` runs it
 *    alone). Parts 2 and 3 are skipped when --sizes, --concurrency or
 *    --ops narrow the run.
 * `--quick` drops concurrency 64 and runs one round; `--ceiling-only` runs part 2 alone;
 * `--sizes 64M`, `--concurrency 16,64` and `--ops PUT` narrow part 1 (the ceiling's repeatable
 * form is bench/proxy/ceiling.ts); `--plain-node` runs the proxy without the sidecar's runtime env
 * (operator/contract.ts), `--runtime-env-without NAME` without one of its settings; `--pin` puts MinIO on CPU 0 and the load generator and proxy on CPU 1
 * (see PIN), `--own-core` gives the proxy CPU 1 alone (see OWN_CORE). The proxy runs as its own
 * process (`sluice proxy`) in a memory cgroup with the sidecar's limit, as in a pod
 * (`--memory-limit MiB`, default 256; 0 = none). `--ops PUT-CHUNKED` adds SDK-style aws-chunked
 * uploads, `PUT-CHUNKED-STREAM` the same sent without a length (as the JS SDK sends a stream); `--anonymous-gets` drops the GET signatures; `--proxy-logs DIR` keeps each proxy's
 * access log; `--warmup S` and `--no-peer`: see WARMUP_SECONDS and PEER. Results:
 * bench/results/. The machine is shared (2 cores): read ratios, not absolutes, and expect noise
 * of ±10–20 % between runs.
 */
import { PutBucketPolicyCommand, S3Client } from '@aws-sdk/client-s3';
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { join } from 'node:path';
import { StoreSigner } from '../../proxy/sigv4/signer.ts';
import { startMinioCluster } from '../../test/testbed/minio.ts';
import { freePort } from '../../test/testbed/ports.ts';
import { runInterleavedOpenLoops, runLoad } from './load.ts';
import type { LoadResult } from './load.ts';
import { cpuSeconds, cpuTimes, peakRss, proxyEnv, waitHttp, type MemoryAtPeak } from './proc.ts';
import { wrkAsync } from './wrk.ts';
import { memoryCgroup } from './cgroup.ts';
import { NGINX, startNginx, startNginxPeer } from './nginx.ts';
import { defaultInjectorConfig } from '../../operator/webhook/config.ts';
import { EVENT_LOOP_SAMPLING_MS } from '../../proxy/metrics.ts';
import { buildDist } from '../../scripts/build.ts';

const args = process.argv.slice(2);
/** Every flag this script and ./proc.ts read; true: it takes a value. Checked before anything runs. */
const FLAGS: Readonly<Record<string, boolean>> = {
  '--seconds': true,
  '--rounds': true,
  '--warmup': true,
  '--sizes': true,
  '--concurrency': true,
  '--ops': true,
  '--added-rate': true,
  '--memory-limit': true,
  '--proxy-logs': true,
  '--node-options': true,
  '--runtime-env-without': true,
  '--pin': false,
  '--own-core': false,
  '--quick': false,
  '--ceiling-only': false,
  '--added-only': false,
  '--anonymous-gets': false,
  '--no-peer': false,
  '--no-floor': false,
  '--plain-node': false,
};
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  const takesValue = FLAGS[a];
  if (takesValue === undefined) {
    // A typo (or --help) must not start a 25-minute run with the defaults.
    const usage = `usage: node bench/proxy/run.ts ${Object.entries(FLAGS)
      .map(([f, v]) => `[${f}${v ? ' X' : ''}]`)
      .join(' ')}
(what each does: the comment at the top of bench/proxy/run.ts)`;
    const help = a === '--help' || a === '-h';
    process.stderr.write(
      help
        ? `${usage}
`
        : `unknown flag ${a}
${usage}
`,
    );
    process.exit(help ? 0 : 2);
  }
  if (takesValue) i++;
}

/** The built CLI (dist/), what the image ships: benchmarks measure that, not type stripping. */
const SLUICE = buildDist();

const SECONDS = Number(args[args.indexOf('--seconds') + 1]) || 2;
/**
 * Each cell's warm-up, before its rounds (discarded; `--warmup S`): S/2 s of 4 KiB GETs, then S s
 * of the cell's own operation. A sidecar in a pod has served for hours; at 1 s the request path
 * of a c=1 cell still ran in V8's baseline tier (`perf`): 1 MiB c=1 used 1.9–2.3 ms of CPU per GET
 * and 3.8–5.6 per PUT after 1 s, 1.1–1.7 and 2.7–2.8 after 8 s. A warm proxy also holds more:
 * +3 MiB malloc heap, +3 MiB V8 pages at the 64 × 64 MiB peak.
 */
const WARMUP_SECONDS = args.includes('--warmup') ? Number(args[args.indexOf('--warmup') + 1]) : 8;
/** Shortest round of 64 MiB PUTs (each worker also sends at least one). */
const BIG_PUT_SECONDS = 4;
const QUICK = args.includes('--quick');
const CEILING_ONLY = args.includes('--ceiling-only');
// `--added-only`: part 3 alone.
const ADDED_ONLY = args.includes('--added-only');
// `--sizes 64M,1M`: only these object sizes (K/M suffixes); `--concurrency 16,64`: only these.
const listFlag = (name: string): string[] | undefined =>
  args.includes(name) ? (args[args.indexOf(name) + 1] ?? '').split(',').filter(Boolean) : undefined;
const SIZES = listFlag('--sizes')?.map(
  (v) => Number(v.replace(/[KM]$/i, '')) * (/m$/i.test(v) ? 1 << 20 : /k$/i.test(v) ? 1024 : 1),
);
const CONCS = listFlag('--concurrency')?.map(Number);
// `--ops PUT`: only these operations.
const OPS = (listFlag('--ops') ?? ['GET', 'PUT']).map((o) => o.toUpperCase());
// A narrowed run measures part 1's chosen cells only: parts 2 and 3 are skipped.
const NARROWED = SIZES !== undefined || CONCS !== undefined || args.includes('--ops');
// Part 3, added latency: 4 KiB GETs in open loops at `--added-rate` req/s in all (default 300, well
// below what this machine serves), shared by direct, peer and proxy, their requests interleaved
// (load.ts, runInterleavedOpenLoops), ≤ 16 in flight each.
const ADDED_RATE = Number(args[args.indexOf('--added-rate') + 1]) || 300;
const ADDED_ROUNDS = QUICK ? 2 : 3;
// `--rounds N`: part 1's rounds of direct, peer and proxy per cell (medians reported).
const ROUNDS = Number(args[args.indexOf('--rounds') + 1]) || (QUICK ? 1 : 3);
// `--pin`: the store (MinIO) on CPU 0, the load generator (this process) and the proxy on CPU 1 —
// the layout of a deployment, where the store's CPU is not the app's and its sidecar's. Without
// it all share both cores, and every cycle the proxy spends is taken from the backend.
// `--own-core`: the proxy alone on CPU 1, MinIO and the load generator on CPU 0 — a sidecar with a
// CPU request of its own: what it adds is its own work and the extra hop, not contention.
const OWN_CORE = args.includes('--own-core');
const ANONYMOUS_GETS = args.includes('--anonymous-gets');
const PROXY_LOGS = args.includes('--proxy-logs') ? args[args.indexOf('--proxy-logs') + 1] : undefined;
if (PROXY_LOGS) mkdirSync(PROXY_LOGS, { recursive: true });
// The nginx peer in part 1's and part 3's rounds, unless `--no-peer` (or nginx is missing).
const PEER = !args.includes('--no-peer') && existsSync(NGINX);
// The Node floor in part 1's GET rounds and in part 3, unless `--no-floor`: ./client-forwarder.ts
// in front of the same node (Node's HTTP server and our backend client, nothing else), what any
// Node relay costs on this machine, so that the proxy's own share can be told from the runtime's.
const FLOOR = !args.includes('--no-floor');
const PIN = OWN_CORE || args.includes('--pin');
// `--memory-limit MiB`: each proxy runs in a memory cgroup with this limit, as in a pod (default:
// the limit the webhook gives every sidecar; 0 = none). Node sizes V8's heap from it (cgroup.ts).
const MEMORY_LIMIT_MIB = args.includes('--memory-limit')
  ? Number(args[args.indexOf('--memory-limit') + 1])
  : parseMiB(defaultInjectorConfig().resources.limits.memory ?? '0');
/** Where the load generator (this process, and wrk with it) runs when pinned. */
const LOAD_CPU = OWN_CORE ? 0 : 1;
const NODE = process.execPath;
const ROOT = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
const children: ChildProcess[] = [];

/** "256Mi" / "1Gi" (a Kubernetes quantity, binary suffixes only) → MiB. */
function parseMiB(quantity: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (!m) return 0;
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}

/** ", heap 20/25 external 3" (MiB, used/total) for the console line. */
function fmtAtPeak(m: MemoryAtPeak | undefined): string {
  if (!m) return '';
  const mib = (n: number): string => (n / (1 << 20)).toFixed(0);
  return `, heap ${mib(m.heapUsed)}/${mib(m.heapTotal)} external ${mib(m.external)}`;
}

function fmtBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(0)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}

/** Moves `pid` and all its threads to `cpu` (taskset). */
function pinTo(pid: number, cpu: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
}

/** Starts `sluice proxy` on fresh ports for `store`, returns its url and pid. */
async function startProxyProcess(
  name: string,
  endpoint: string,
  creds: object,
  bucket: string,
): Promise<{ url: string; pid: number; adminUrl: string }> {
  const [port, admin] = [await freePort(), await freePort()];
  writeFileSync(join(dir, `${name}.credentials.json`), JSON.stringify(creds));
  const cfg = join(dir, `${name}.yaml`);
  writeFileSync(
    cfg,
    JSON.stringify({
      listen: `127.0.0.1:${port}`,
      admin: `127.0.0.1:${admin}`,
      logLevel: 'info',
      stores: [{ name, endpoints: [endpoint], credentials: { file: `${name}.credentials.json` } }],
      grants: [{ store: name, bucket, access: ['read', 'write', 'list', 'delete'] }],
    }),
  );
  const cgroup =
    MEMORY_LIMIT_MIB > 0 ? memoryCgroup(`sluice-bench-${name}`, MEMORY_LIMIT_MIB << 20) : undefined;
  if (MEMORY_LIMIT_MIB > 0 && !cgroup) {
    process.stdout.write(`(no memory cgroup could be made: ${name} runs without a memory limit)\n`);
  }
  const [cmd, argv] = cgroup
    ? cgroup.wrap(NODE, [SLUICE, 'proxy', '--config', cfg])
    : [NODE, [SLUICE, 'proxy', '--config', cfg]];
  // `--proxy-logs DIR`: each proxy's access log to DIR/<name>.log (what a cell's errors were).
  const logTo = PROXY_LOGS ? openSync(join(PROXY_LOGS, `${name}.log`), 'w') : 'ignore';
  const child = spawn(cmd, argv, { env: proxyEnv(), stdio: ['ignore', logTo, 'inherit'] });
  if (typeof logTo === 'number') closeSync(logTo);
  if (cgroup) child.once('exit', () => cgroup.remove());
  children.push(child);
  await waitHttp(`http://127.0.0.1:${admin}/readyz`);
  if (PIN) pinTo(child.pid!, 1);
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, adminUrl: `http://127.0.0.1:${admin}` };
}

/** Starts the nginx peer in front of `node`, on the proxy's CPU when pinned; returns its url. */
async function startPeer(node: string): Promise<string> {
  // nginx workers run as `nobody` when started as root: they must reach their temp directories
  // (unused while nothing is buffered, but a config change should not turn into 500s).
  chmodSync(dir, 0o755);
  const peer = await startNginxPeer(join(dir, 'nginx-peer'), node);
  children.push(peer.process);
  if (PIN) {
    const workers = execFileSync('pgrep', ['-P', String(peer.process.pid)], { encoding: 'utf8' });
    for (const pid of [peer.process.pid!, ...workers.trim().split('\n').map(Number)]) pinTo(pid, 1);
  }
  return peer.url;
}

/** Starts the Node floor (see FLOOR) in front of `node`, on the proxy's CPU when pinned. */
async function startFloor(node: string): Promise<{ url: string; pid: number }> {
  const port = await freePort();
  const child = spawn(
    NODE,
    [new URL('./client-forwarder.ts', import.meta.url).pathname, 'sluice', node, String(port)],
    { env: proxyEnv(), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the Node floor exited (${code})`)));
  });
  // On the proxy's CPU, as the peer: part 1 runs each in rounds of its own; part 3 leaves both
  // out under --own-core, where they would run beside the proxy on its core.
  if (PIN) pinTo(child.pid!, 1);
  return { url: `http://127.0.0.1:${port}`, pid: child.pid! };
}

interface Cell {
  op: string;
  size: number;
  concurrency: number;
  direct: LoadResult;
  proxy: LoadResult;
  /** nginx relaying to the same node (absent with --no-peer). */
  peer?: LoadResult;
  /** The Node floor relaying to the same node (GET cells; see FLOOR). */
  floor?: LoadResult;
  /** Each round's results (direct, peer, floor and proxy in turn). */
  rounds: { direct: LoadResult[]; proxy: LoadResult[]; peer?: LoadResult[]; floor?: LoadResult[] };
  /** The floor's CPU per request, ms (GET cells). */
  floorCpuMsPerReq?: number;
  proxyCpuMsPerReq: number;
  /**
   * CPU per MiB moved, ms (cells of 1 MiB and up): per request counts completions only, which a
   * round of 64 MiB objects finishes in waves (see run()).
   */
  proxyCpuMsPerMiB?: number;
  floorCpuMsPerMiB?: number;
  /**
   * The median of the rounds' own ratios to direct (each round runs the paths back to back): the
   * ratio of the medians above can pair one path's good round with another's bad one.
   */
  pairedRatio: { proxy: number; peer?: number; floor?: number };
  /** The part of the proxy's CPU spent in the kernel (system time): socket reads and writes. */
  proxyCpuKernelShare: number;
  proxyPeakRssMiB: number;
  /** Peak RSS without file-backed pages (the node binary's text, shared by the page cache). */
  proxyPeakAnonRssMiB: number;
  /** The proxy's heap and external memory (bytes) when its anonymous RSS peaked. */
  proxyMemoryAtPeak: MemoryAtPeak | undefined;
}

async function main(): Promise<void> {
  const out: {
    date: string;
    layout: string;
    memoryLimitMiB: number;
    seconds: number;
    cells: Cell[];
    ceiling: Record<string, LoadResult>;
    addedLatency?: AddedLatency;
  } = {
    date: new Date().toISOString(),
    layout: OWN_CORE ? 'own-core' : PIN ? 'pinned' : 'shared',
    memoryLimitMiB: MEMORY_LIMIT_MIB,
    seconds: SECONDS,
    cells: [],
    ceiling: {},
  };
  const minio = CEILING_ONLY ? undefined : await startMinioCluster({ nodes: 2, drivesPerNode: 2 });
  if (minio && PIN) {
    const pids = execFileSync('pgrep', ['-f', minio.dir], { encoding: 'utf8' }).trim().split('\n');
    for (const pid of pids) pinTo(Number(pid), 0);
    pinTo(process.pid, LOAD_CPU);
    process.stdout.write(
      OWN_CORE
        ? `pinned: MinIO (${pids.length} processes) and load generator on CPU 0; proxy alone on CPU 1\n`
        : `pinned: MinIO (${pids.length} processes) on CPU 0; load generator and proxy on CPU 1\n`,
    );
  }
  if (MEMORY_LIMIT_MIB > 0) {
    process.stdout.write(
      `each proxy runs in a memory cgroup limited to ${MEMORY_LIMIT_MIB} MiB, as in a pod\n`,
    );
  }
  if (minio)
    try {
      const node = minio.nodes[0]!.directUrl;
      const creds = { accessKeyId: minio.rootUser, secretAccessKey: minio.rootPassword };
      const signer = new StoreSigner(minio.region, creds);
      const host = new URL(node).host;
      const proxy = await startProxyProcess('minio', node, creds, 'bench');
      const proxyHost = new URL(proxy.url).host;
      // Both sides sign every request (the proxy ignores the client's signature but a real client
      // still computes one), so the load generator costs the same either way.
      const clientSigner = new StoreSigner('us-east-1', {
        accessKeyId: 'AKIDCLIENT',
        secretAccessKey: 'client-secret',
      });
      const sign =
        (s: StoreSigner, h: string): Sign =>
        (method, path, extra = {}) => {
          const headers = { host: h, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...extra };
          return { ...headers, ...s.sign({ method, path, query: {}, headers }) };
        };
      const peer = PEER ? await startPeer(node) : undefined;
      const floor = FLOOR ? await startFloor(node) : undefined;
      const signFloor = floor && sign(signer, new URL(floor.url).host);
      const signPeer = peer && sign(signer, new URL(peer).host);
      const mk = await fetch(`${node}/bench`, {
        method: 'PUT',
        headers: sign(signer, host)('PUT', '/bench'),
      });
      if (mk.status !== 200 && mk.status !== 409) throw new Error(`create bucket: ${mk.status}`);
      const sizes = ADDED_ONLY ? [4 * 1024] : (SIZES ?? [4 * 1024, 1 << 20, 64 << 20]);
      const concs = CONCS ?? (QUICK ? [1, 16] : [1, 16, 64]);
      // 4 KiB always: every cell's warm-up reads it (it answered 404 when --sizes left it out).
      const seeded = [...new Set([4 * 1024, ...sizes])];
      const bodies = new Map(seeded.map((s) => [s, Buffer.alloc(s, 7)]));
      for (const size of seeded) {
        const r = await fetch(`${node}/bench/obj-${size}`, {
          method: 'PUT',
          headers: sign(signer, host)('PUT', `/bench/obj-${size}`),
          body: bodies.get(size),
        });
        if (r.status !== 200) throw new Error(`seed: ${r.status}`);
      }
      // GETs are measured with wrk (cheap per byte, so the cores go to MinIO and the proxy) with a
      // signature made once per round; with `--anonymous-gets` unsigned, the bucket letting
      // anonymous clients read. PUTs use the Node generator (sending a buffer costs it little),
      // signing every request either way.
      const policy = JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { AWS: ['*'] },
            Action: ['s3:GetObject'],
            Resource: ['arn:aws:s3:::bench/*'],
          },
        ],
      });
      const admin = new S3Client({
        endpoint: node,
        region: minio.region,
        forcePathStyle: true,
        credentials: creds,
      });
      // (A fresh cluster each run: without the flag, no unsigned request is allowed.)
      if (ANONYMOUS_GETS) await admin.send(new PutBucketPolicyCommand({ Bucket: 'bench', Policy: policy }));
      admin.destroy();
      for (const size of ADDED_ONLY ? [] : sizes) {
        for (const concurrency of concs) {
          for (const op of (['GET', 'PUT', 'PUT-CHUNKED', 'PUT-CHUNKED-STREAM'] as const).filter((o) =>
            OPS.includes(o),
          )) {
            out.cells.push(
              await measureCell(op, size, concurrency, {
                direct: node,
                bodies,
                signDirect: sign(signer, host),
                peer: peer && signPeer ? { url: peer, sign: signPeer } : undefined,
                floor: floor && signFloor ? { ...floor, sign: signFloor } : undefined,
                startProxy: async () => {
                  const p = await startProxyProcess(
                    `minio-${op.toLowerCase()}-${size}-${concurrency}`,
                    node,
                    creds,
                    'bench',
                  );
                  return { ...p, sign: sign(clientSigner, new URL(p.url).host) };
                },
              }),
            );
          }
        }
      }
      if (!NARROWED) {
        // Interleaved, the peers run while the proxy does: with --own-core they would share the
        // proxy's core, so there part 3 leaves them out.
        out.addedLatency = await addedLatency(
          { url: node, sign: sign(signer, host) },
          peer && signPeer && !OWN_CORE ? { url: peer, sign: signPeer } : undefined,
          floor && signFloor && !OWN_CORE ? { url: floor.url, sign: signFloor } : undefined,
          { ...proxy, sign: sign(clientSigner, proxyHost) },
        );
      }
    } finally {
      await minio.stop();
    }

  // The ceiling: a backend that is not the bottleneck.
  if (!ADDED_ONLY && (!NARROWED || CEILING_ONLY) && existsSync(NGINX)) {
    const [backendPort, nginxProxyPort] = [await freePort(), await freePort()];
    const prefix = join(dir, 'nginx');
    // nginx workers run as `nobody` when started as root: a 0700 temp dir would answer 403 to all.
    chmodSync(dir, 0o755);
    mkdirSync(join(prefix, 'www'), { recursive: true });
    writeFileSync(join(prefix, 'www', 'k'), Buffer.alloc(4096, 120));
    const nginx = await startNginx(
      prefix,
      `http { access_log off; keepalive_requests 100000;
  upstream be { server 127.0.0.1:${backendPort}; keepalive 128; }
  server { listen 127.0.0.1:${backendPort}; location / { root ${prefix}/www; try_files /k =404; } }
  server { listen 127.0.0.1:${nginxProxyPort}; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; } }
}`,
      `http://127.0.0.1:${backendPort}/`,
    );
    children.push(nginx);
    const p = await startProxyProcess(
      'ceiling',
      `http://127.0.0.1:${backendPort}`,
      { accessKeyId: 'a', secretAccessKey: 'b' },
      'ceiling',
    );
    const plain = () => ({});
    // A freshly started proxy runs cold (JIT): warm it up, or the first cell measures the compiler.
    await runLoad({
      method: 'GET',
      path: () => '/ceiling/k',
      concurrency: 16,
      seconds: 1,
      headers: plain,
      origin: p.url,
    });
    for (const concurrency of [16, 64]) {
      const base = {
        method: 'GET' as const,
        path: () => '/ceiling/k',
        concurrency,
        seconds: SECONDS,
        headers: plain,
      };
      const backend = await runLoad({ ...base, origin: `http://127.0.0.1:${backendPort}` });
      const ng = await runLoad({ ...base, origin: `http://127.0.0.1:${nginxProxyPort}` });
      const cpu0 = cpuSeconds(p.pid);
      const sl = await runLoad({ ...base, origin: p.url });
      const cpuMs = ((cpuSeconds(p.pid) - cpu0) * 1000) / sl.requests;
      out.ceiling[`backend-c${concurrency}`] = backend;
      out.ceiling[`nginx-c${concurrency}`] = ng;
      out.ceiling[`sluice-c${concurrency}`] = sl;
      process.stdout.write(
        `ceiling c=${concurrency}: backend ${backend.reqPerSec.toFixed(0)}/s | nginx proxy ${ng.reqPerSec.toFixed(0)}/s p99 ${ng.p99Ms.toFixed(2)}ms | ` +
          `sluice ${sl.reqPerSec.toFixed(0)}/s p99 ${sl.p99Ms.toFixed(2)}ms (${(sl.reqPerSec / ng.reqPerSec).toFixed(2)}× nginx, ${cpuMs.toFixed(3)} ms CPU/req)\n`,
      );
    }
  }

  const results = join(ROOT, 'bench/results');
  mkdirSync(results, { recursive: true });
  const file = join(results, `proxy-${out.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(out, null, 2));
  process.stdout.write(`results: ${file}\n`);
}

/** Signs one request (headers to send, signature included); `extra` headers are signed too. */
type Sign = (method: string, path: string, extra?: Record<string, string>) => Record<string, string>;

interface CellDeps {
  direct: string;
  bodies: Map<number, Buffer>;
  signDirect: Sign;
  peer: { url: string; sign: Sign } | undefined;
  /** The Node floor (GETs only) and its pid. */
  floor: { url: string; pid: number; sign: Sign } | undefined;
  startProxy: () => Promise<{ url: string; pid: number; adminUrl: string; sign: Sign }>;
}

/**
 * `data` as an aws-chunked STREAMING-UNSIGNED-PAYLOAD-TRAILER body with a CRC32 trailer — what
 * current AWS SDKs send by default — in 64 KiB chunks, and the headers that go with it.
 */
function awsChunked(data: Buffer): { body: Buffer; headers: Record<string, string> } {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += 64 * 1024) {
    const piece = data.subarray(i, i + 64 * 1024);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlibCrc32(data));
  parts.push(Buffer.from(`0\r\nx-amz-checksum-crc32:${crc.toString('base64')}\r\n\r\n`));
  return {
    body: Buffer.concat(parts),
    headers: {
      'content-encoding': 'aws-chunked',
      'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'x-amz-decoded-content-length': String(data.length),
      'x-amz-trailer': 'x-amz-checksum-crc32',
    },
  };
}

/**
 * One cell: a fresh proxy (so its peak RSS is this cell's alone), warmed up, then ROUNDS rounds
 * of direct, the peer and the proxy in turn; medians of throughput and latency, the proxy's CPU over all its
 * rounds, its peak RSS over the cell.
 */
async function measureCell(
  op: 'GET' | 'PUT' | 'PUT-CHUNKED' | 'PUT-CHUNKED-STREAM',
  size: number,
  concurrency: number,
  deps: CellDeps,
): Promise<Cell> {
  const proxy = await deps.startProxy();
  const big = size >= 64 << 20;
  const getPath = `/bench/obj-${size}`;
  const chunked = op.startsWith('PUT-CHUNKED') ? awsChunked(deps.bodies.get(size)!) : undefined;
  // What every PUT of this cell is (rounds and warm-up alike): its path, body and headers.
  const put = (origin: string, sign: Sign) =>
    ({
      method: 'PUT',
      path: (w: number) => `/bench/put-${size}-${w}`,
      body: chunked?.body ?? deps.bodies.get(size)!,
      sendChunked: op === 'PUT-CHUNKED-STREAM',
      origin,
      headers: chunked ? (method: string, path: string) => sign(method, path, chunked.headers) : sign,
    }) as const;
  const run = async (origin: string, sign: Sign): Promise<LoadResult> => {
    if (op === 'GET') {
      // Large objects get 10 s rounds: several requests per connection at c=1 and c=16.
      // Signed once per round (a signature holds for 15 minutes): MinIO verifies a signature on
      // every direct request too, as for any app that holds keys (`--anonymous-gets`: unsigned,
      // the bucket allowing anonymous reads — MinIO's cheaper path, the method until session 4).
      const headers = ANONYMOUS_GETS ? {} : sign('GET', getPath);
      const r = await wrkAsync(`${origin}${getPath}`, big ? 10 : SECONDS, concurrency, headers);
      // From 1 MiB on, the bytes read, not completions × size: 64 connections each fetching
      // 64 MiB finish about two waves of requests in 10 s, so completions counted whether a wave
      // ended just before the round or just after it (two rounds of one path in session 19: 88
      // and 129). Below, completions: response heads, which differ between paths, are a tenth
      // of a 4 KiB response's bytes.
      return { ...r, bytesPerSec: size >= 1 << 20 ? r.bytesRead / r.seconds : r.reqPerSec * size };
    }
    return runLoad({
      ...put(origin, sign),
      concurrency,
      // 64 MiB PUTs: at least BIG_PUT_SECONDS per round, so c=1 sends several (one request per
      // round was the rule until session 6: a round's ratio was one upload's luck).
      seconds: big ? Math.max(SECONDS, BIG_PUT_SECONDS) : SECONDS,
    });
  };
  // A fresh proxy runs cold (JIT, connections), a sidecar does not: warm it up on small GETs,
  // then on the cell's own operation and size (its read and write paths get optimized too; a
  // 1 MiB GET round at c=1 still spent ~8 % of the proxy's CPU in V8's compilers without it).
  await runLoad({
    method: 'GET',
    path: () => `/bench/obj-${4 * 1024}`,
    concurrency: 4,
    seconds: WARMUP_SECONDS / 2,
    origin: proxy.url,
    headers: proxy.sign,
  });
  await runLoad({
    ...(op === 'GET'
      ? { method: 'GET', path: () => getPath, origin: proxy.url, headers: proxy.sign }
      : put(proxy.url, proxy.sign)),
    concurrency: Math.min(concurrency, 4),
    seconds: WARMUP_SECONDS,
  });
  // The floor relays GETs only (./client-forwarder.ts). It is one process for the whole run,
  // warmed on each GET cell's own size as the proxy is (until session 8's runs it was not).
  const floor = op === 'GET' ? deps.floor : undefined;
  if (floor) {
    await runLoad({
      method: 'GET',
      path: () => getPath,
      origin: floor.url,
      headers: floor.sign,
      concurrency: Math.min(concurrency, 4),
      seconds: WARMUP_SECONDS / 2,
    });
  }
  const direct: LoadResult[] = [];
  const viaProxy: LoadResult[] = [];
  const viaPeer: LoadResult[] = [];
  const viaFloor: LoadResult[] = [];
  let floorCpu = 0;
  const rss = peakRss(proxy.pid, 50, proxy.adminUrl);
  let cpu = 0;
  let systemCpu = 0;
  for (let round = 0; round < ROUNDS; round++) {
    direct.push(await run(deps.direct, deps.signDirect));
    if (deps.peer) viaPeer.push(await run(deps.peer.url, deps.peer.sign));
    if (floor) {
      const f0 = cpuSeconds(floor.pid);
      viaFloor.push(await run(floor.url, floor.sign));
      floorCpu += cpuSeconds(floor.pid) - f0;
    }
    const cpu0 = cpuTimes(proxy.pid);
    viaProxy.push(await run(proxy.url, proxy.sign));
    const cpu1 = cpuTimes(proxy.pid);
    cpu += cpu1.user + cpu1.system - cpu0.user - cpu0.system;
    systemCpu += cpu1.system - cpu0.system;
  }
  const peak = await rss.stop();
  process.kill(proxy.pid, 'SIGTERM');
  const d = medianResult(direct);
  const p = medianResult(viaProxy);
  const g = deps.peer ? medianResult(viaPeer) : undefined;
  const f = floor ? medianResult(viaFloor) : undefined;
  const mib = (rs: LoadResult[]): number => rs.reduce((a, r) => a + r.bytesPerSec * r.seconds, 0) / (1 << 20);
  const paired = (rs: LoadResult[]): number =>
    medianOf(rs.map((r, i) => r.bytesPerSec / direct[i]!.bytesPerSec));
  const perMiB = size >= 1 << 20;
  const cell: Cell = {
    op,
    size,
    concurrency,
    direct: d,
    proxy: p,
    peer: g,
    ...(f && { floor: f, floorCpuMsPerReq: (floorCpu * 1000) / f.requests }),
    rounds: { direct, proxy: viaProxy, ...(g && { peer: viaPeer }), ...(f && { floor: viaFloor }) },
    proxyCpuMsPerReq: (cpu * 1000) / viaProxy.reduce((a, r) => a + r.requests, 0),
    ...(perMiB && { proxyCpuMsPerMiB: (cpu * 1000) / mib(viaProxy) }),
    ...(perMiB && f && { floorCpuMsPerMiB: (floorCpu * 1000) / mib(viaFloor) }),
    pairedRatio: {
      proxy: paired(viaProxy),
      ...(g && { peer: paired(viaPeer) }),
      ...(f && { floor: paired(viaFloor) }),
    },
    proxyCpuKernelShare: cpu > 0 ? systemCpu / cpu : 0,
    proxyPeakRssMiB: peak.rss / (1 << 20),
    proxyPeakAnonRssMiB: peak.anon / (1 << 20),
    proxyMemoryAtPeak: peak.atPeak,
  };
  const errors = (rs: LoadResult[]): number => rs.reduce((a, r) => a + r.errors, 0);
  const ratios = (rs: LoadResult[]): string =>
    rs.map((r, i) => (r.bytesPerSec / direct[i]!.bytesPerSec).toFixed(2)).join('/') +
    `, paired ${paired(rs).toFixed(2)}`;
  const errorPart =
    `errors ${[direct, ...(g ? [viaPeer] : []), ...(f ? [viaFloor] : []), viaProxy].map(errors).join('/')} ` +
    `(${['direct', ...(g ? ['nginx'] : []), ...(f ? ['floor'] : []), 'proxy'].join('/')})`;
  const peerPart = g
    ? `nginx ${g.reqPerSec.toFixed(0)}/s p99 ${g.p99Ms.toFixed(1)}ms ratio ${(g.bytesPerSec / d.bytesPerSec).toFixed(2)} (rounds ${ratios(viaPeer)}) | `
    : '';
  const floorPart = f
    ? `Node floor ${f.reqPerSec.toFixed(0)}/s ratio ${(f.bytesPerSec / d.bytesPerSec).toFixed(2)} (rounds ${ratios(viaFloor)}) cpu ${cell.floorCpuMsPerReq!.toFixed(2)}ms/req${cell.floorCpuMsPerMiB === undefined ? '' : ` ${cell.floorCpuMsPerMiB.toFixed(2)}ms/MiB`} | `
    : '';
  process.stdout.write(
    `${op} ${fmtBytes(size)} c=${concurrency}: direct ${d.reqPerSec.toFixed(0)}/s p99 ${d.p99Ms.toFixed(1)}ms | ${peerPart}${floorPart}` +
      `proxy ${p.reqPerSec.toFixed(0)}/s p99 ${p.p99Ms.toFixed(1)}ms | ratio ${(p.bytesPerSec / d.bytesPerSec).toFixed(2)} (rounds ${ratios(viaProxy)}) ` +
      `| cpu ${cell.proxyCpuMsPerReq.toFixed(2)}ms/req${cell.proxyCpuMsPerMiB === undefined ? '' : ` ${cell.proxyCpuMsPerMiB.toFixed(2)}ms/MiB`} (${(cell.proxyCpuKernelShare * 100).toFixed(0)}% kernel) rss ${cell.proxyPeakRssMiB.toFixed(0)}MiB (anon ${cell.proxyPeakAnonRssMiB.toFixed(0)}${fmtAtPeak(peak.atPeak)}) ${errorPart}\n`,
  );
  return cell;
}

function medianOf(values: number[]): number {
  const xs = [...values].sort((a, b) => a - b);
  const m = xs.length >> 1;
  return xs.length % 2 ? xs[m]! : (xs[m - 1]! + xs[m]!) / 2;
}

/** Per field, the median over rounds (throughput and latency each on their own). */
function medianResult(rs: LoadResult[]): LoadResult {
  const med = (k: Exclude<keyof LoadResult, 'p999Ms'>): number => medianOf(rs.map((r) => r[k]));
  return {
    requests: rs.reduce((a, r) => a + r.requests, 0),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    seconds: rs.reduce((a, r) => a + r.seconds, 0),
    reqPerSec: med('reqPerSec'),
    bytesPerSec: med('bytesPerSec'),
    p50Ms: med('p50Ms'),
    p99Ms: med('p99Ms'),
  };
}

/** Part 3's rounds: each one's open-loop result, per target. */
interface AddedLatency {
  rate: number;
  direct: LoadResult[];
  proxy: LoadResult[];
  peer?: LoadResult[];
  /** The Node floor's rounds (see FLOOR). */
  floor?: LoadResult[];
}

/**
 * The latency the proxy adds to a 4 KiB GET below saturation (issue 3's "≤ 1 ms added p99 at
 * concurrency 16"): rounds of interleaved open loops to direct, the nginx peer and the proxy, so
 * all sample the same moments of the machine; reports each round and the median over rounds of
 * each round's p50/p99 difference to direct.
 */
async function addedLatency(
  direct: { url: string; sign: Sign },
  peer: { url: string; sign: Sign } | undefined,
  floor: { url: string; sign: Sign } | undefined,
  proxy: { url: string; adminUrl: string; sign: Sign },
): Promise<AddedLatency> {
  const targets = 2 + (peer ? 1 : 0) + (floor ? 1 : 0);
  const base = {
    method: 'GET' as const,
    path: () => `/bench/obj-${4 * 1024}`,
    concurrency: 16,
    seconds: 10,
    rate: ADDED_RATE / targets,
  };
  const res: AddedLatency = {
    rate: ADDED_RATE,
    direct: [],
    proxy: [],
    ...(peer && { peer: [] }),
    ...(floor && { floor: [] }),
  };
  // The proxy's own event-loop delay and GC pauses during its rounds (prom-client's default
  // metrics; a scrape resets the lag histogram): is its tail its own or the machine's?
  const scrape = async (): Promise<string> => (await fetch(`${proxy.adminUrl}/metrics`)).text();
  // Warm, as every cell's proxy is (see WARMUP_SECONDS): this one has idled since the start.
  // The floor first: the proxy's warm connections then outlast the wait (4 s keep-alive).
  if (floor)
    await runLoad({
      ...base,
      origin: floor.url,
      headers: floor.sign,
      concurrency: 4,
      seconds: WARMUP_SECONDS,
    });
  await runLoad({ ...base, origin: proxy.url, headers: proxy.sign, concurrency: 4, seconds: WARMUP_SECONDS });
  const gcBefore = gcPauses(await scrape());
  // prom-client samples the loop with a timer (EVENT_LOOP_SAMPLING_MS) and records each interval
  // whole (its p50 reads about that on an idle loop), so the delay is the maximum minus it: a
  // lower bound, up to one period short (a stall may begin just after a sample).
  let lagMaxMs = 0;
  for (let round = 0; round < ADDED_ROUNDS; round++) {
    await scrape();
    const [d, p, ...others] = await runInterleavedOpenLoops([
      { ...base, origin: direct.url, headers: direct.sign },
      { ...base, origin: proxy.url, headers: proxy.sign },
      ...(peer ? [{ ...base, origin: peer.url, headers: peer.sign }] : []),
      ...(floor ? [{ ...base, origin: floor.url, headers: floor.sign }] : []),
    ]);
    res.direct.push(d!);
    res.proxy.push(p!);
    if (peer) res.peer!.push(others.shift()!);
    if (floor) res.floor!.push(others.shift()!);
    const max = metricValue(await scrape(), 'nodejs_eventloop_lag_max_seconds') * 1000;
    lagMaxMs = Math.max(lagMaxMs, max - EVENT_LOOP_SAMPLING_MS);
  }
  const gcAfter = gcPauses(await scrape());
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const fmt = (rs: LoadResult[], k: 'p50Ms' | 'p99Ms') => rs.map((r) => r[k].toFixed(2)).join('/');
  // Paired: each round's difference to direct in the same round, then the median over rounds.
  const diff = (rs: LoadResult[], k: 'p50Ms' | 'p99Ms'): string =>
    median(rs.map((r, i) => r[k] - res.direct[i]![k])).toFixed(2);
  const added = (name: string, rs: LoadResult[]): string =>
    `${name} p50 ${fmt(rs, 'p50Ms')} p99 ${fmt(rs, 'p99Ms')} ms, median added p50 ` +
    `${diff(rs, 'p50Ms')} ms, p99 ${diff(rs, 'p99Ms')} ms`;
  const all = [...res.direct, ...res.proxy, ...(res.peer ?? []), ...(res.floor ?? [])];
  process.stdout.write(
    `added latency, GET 4 KiB, open loops interleaved, ${ADDED_RATE}/s in all, ≤16 in flight each, ` +
      `${ADDED_ROUNDS} rounds of ${base.seconds} s: ` +
      `direct p50 ${fmt(res.direct, 'p50Ms')} p99 ${fmt(res.direct, 'p99Ms')} ms | ` +
      (res.peer ? `${added('nginx', res.peer)} | ` : '') +
      (res.floor ? `${added('Node floor', res.floor)} | ` : '') +
      `${added('proxy', res.proxy)} | errors ${all.reduce((a, r) => a + r.errors, 0)}\n` +
      `  proxy during its rounds: longest event-loop delay ${lagMaxMs.toFixed(1)} ms; ` +
      `GC ${gcAfter.count - gcBefore.count} pauses, ${(gcAfter.sumMs - gcBefore.sumMs).toFixed(1)} ms in all\n`,
  );
  return res;
}

/** One unlabelled sample's value from a Prometheus text exposition (NaN when absent). */
function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Sum over kinds of nodejs_gc_duration_seconds: pause count and total (ms). */
function gcPauses(text: string): { count: number; sumMs: number } {
  let count = 0;
  let sumMs = 0;
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_(count|sum)\{[^}]*\} (\S+)$/gm)) {
    if (m[1] === 'count') count += Number(m[2]);
    else sumMs += Number(m[2]) * 1000;
  }
  return { count, sumMs };
}

try {
  await main();
} finally {
  for (const c of children) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
