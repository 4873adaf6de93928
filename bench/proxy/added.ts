/**
 * The latency a relay adds to a 4 KiB GET, in front of a backend quiet enough to show it (not a
 * test): `node bench/proxy/added.ts [--rate R] [--rounds N] [--seconds S] [--own-core | --no-pin]
 * [--all-at-once] [--node-arg X]… [--b-node-arg X]…`.
 *
 * Issue 3 asks for ≤ 1 ms added p99 at concurrency 16. Against MinIO on this machine direct's own
 * p99 moves by 10 ms and more between rounds (run.ts part 3), so a 1 ms difference drowns there.
 * Here the backend is nginx serving a fixed 4 KiB body, whose own tail is short: what a relay's
 * p99 has above it is the relay's own. The relays — nginx as a reverse proxy (the peer), the Node
 * floor (client-forwarder.ts: Node's HTTP server and our backend client, nothing else) and
 * `sluice proxy` — take turns: each round, each relay runs paired with direct in interleaved open
 * loops (load.ts `runInterleavedOpenLoops`: the two targets' requests alternate, so a stall of the
 * machine lands in both tails alike), at most 16 in flight each. Reported per round and as the
 * median over rounds of each round's difference to its paired direct.
 *
 * Pinned by default as run.ts `--pin` is: the backend on CPU 0; the relays and the load generator
 * (this process) on CPU 1, as a sidecar shares its app's CPU. `--own-core` gives the relays CPU 1
 * to themselves. The load generator is Node too: it re-runs itself with 64 MiB semi-spaces
 * (GENERATOR_NODE_ARGS), which took direct's p99 here from 3–21 ms to 1.5–4 ms, so that fewer of
 * its own GC pauses land in every target's tail. With few rounds (`make bench` runs 2 of 5 s:
 * 1,500 requests per relay and round) p99.9 is the second-slowest request: read it as a hint.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/testbed/ports.ts';
import { proxyEnv, waitHttp } from './proc.ts';
import { buildDist } from '../../scripts/build.ts';
import { startNginx, startNginxPeer } from './nginx.ts';
import { runInterleavedOpenLoops, runLoad, type LoadResult } from './load.ts';

const GENERATOR_NODE_ARGS = ['--max-semi-space-size=64'];
/** This process is only the wrapper that re-runs itself with GENERATOR_NODE_ARGS. */
const WRAPPER = !GENERATOR_NODE_ARGS.every((a) => process.execArgv.includes(a));

async function run(): Promise<void> {
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'sluice-added-'));
  // nginx workers run as `nobody` when started as root: a 0700 temp dir would answer 403 to all.
  chmodSync(dir, 0o755);
  const stop = (): void => {
    for (const c of children) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await main(children, dir);
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    rmSync(dir, { recursive: true, force: true });
  }
}

const SLUICE = WRAPPER ? '' : buildDist();
const argv = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
/** Requests per second to each target (the load generator's CPU caps the sum, ~2–3k/s here). */
const RATE = flag('--rate', 300);
const ROUNDS = flag('--rounds', 5);
const SECONDS = flag('--seconds', 10);
const CONCURRENCY = 16;
const PIN = !argv.includes('--no-pin');
// `--own-core`: the load generator moves to CPU 0 with the backend, the relays keep CPU 1 to
// themselves — a sidecar with a CPU request of its own.
const OWN_CORE = argv.includes('--own-core');
// `--all-at-once`: every target in one interleaved loop per round, instead of each relay paired
// with direct in turn. The relays then share CPU 1 and each one's bursts (a GC pause) land in the
// others' tails too.
const ALL_AT_ONCE = argv.includes('--all-at-once');
// `--node-arg X` (repeatable): extra Node flags for the two Node relays, sluice and the floor alike.
const nodeArgs = (name: string): string[] =>
  argv.flatMap((a, i) => (a === name && argv[i + 1] ? [argv[i + 1]!] : []));
const NODE_ARGS = nodeArgs('--node-arg');
// `--b-node-arg X` (repeatable): a second sluice with these flags as well, in the same rounds — a
// paired A/B of a runtime setting.
const B_NODE_ARGS = nodeArgs('--b-node-arg');
const ROOT = new URL('../../', import.meta.url).pathname;

/** direct, nginx, floor, sluice and (with `--b-node-arg`) sluice-b. */
type Target = string;

function pinTo(pid: number, cpu: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
}

/** nginx's master and worker processes. */
function withWorkers(pid: number): number[] {
  const workers = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  return [pid, ...workers.trim().split('\n').map(Number)];
}

/** "+1.23" / "-0.45" (ms). */
const signed = (v: number): string => `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(children: ChildProcess[], dir: string): Promise<void> {
  const [backendPort, floorPort] = [await freePort(), await freePort()];
  mkdirSync(join(dir, 'backend', 'www'), { recursive: true });
  writeFileSync(join(dir, 'backend', 'www', 'k'), Buffer.alloc(4096, 120));
  const backend = await startNginx(
    join(dir, 'backend'),
    `http { access_log off; keepalive_requests 100000;
  server { listen 127.0.0.1:${backendPort}; location / { root ${dir}/backend/www; try_files /k =404; } }
}`,
    `http://127.0.0.1:${backendPort}/`,
  );
  children.push(backend);
  const origin = `http://127.0.0.1:${backendPort}`;
  const peer = await startNginxPeer(join(dir, 'peer'), origin);
  children.push(peer.process);

  const floor = spawn(
    process.execPath,
    [
      ...NODE_ARGS,
      new URL('./client-forwarder.ts', import.meta.url).pathname,
      'sluice',
      origin,
      String(floorPort),
    ],
    { env: proxyEnv(), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(floor);
  await new Promise<void>((resolve, reject) => {
    floor.stdout.once('data', () => resolve());
    floor.once('exit', (code) => reject(new Error(`the Node floor exited (${code})`)));
  });

  writeFileSync(join(dir, 'creds.json'), JSON.stringify({ accessKeyId: 'a', secretAccessKey: 'b' }));
  const sluice = await startSluice(children, dir, 'sluice', origin, NODE_ARGS);
  const sluiceB = B_NODE_ARGS.length
    ? await startSluice(children, dir, 'sluice-b', origin, [...NODE_ARGS, ...B_NODE_ARGS])
    : undefined;

  if (PIN) {
    for (const pid of withWorkers(backend.pid!)) pinTo(pid, 0);
    for (const pid of [...withWorkers(peer.process.pid!), floor.pid!, sluice.process.pid!]) pinTo(pid, 1);
    if (sluiceB) pinTo(sluiceB.process.pid!, 1);
    pinTo(process.pid, OWN_CORE ? 0 : 1);
  }

  const urls: Record<Target, string> = {
    direct: origin,
    nginx: peer.url,
    floor: `http://127.0.0.1:${floorPort}`,
    sluice: sluice.url,
    ...(sluiceB && { 'sluice-b': sluiceB.url }),
  };
  const TARGETS = Object.keys(urls);
  const RELAYS = TARGETS.filter((t) => t !== 'direct');
  const spec = (t: Target) => ({
    origin: urls[t]!,
    method: 'GET' as const,
    path: () => '/quiet/k',
    headers: () => ({}),
    concurrency: CONCURRENCY,
    seconds: SECONDS,
    rate: RATE,
  });
  // Warm-up: JIT and connections, every target alike.
  for (const t of TARGETS) {
    const r = await runLoad({ ...spec(t), concurrency: 4, seconds: 3 });
    if (r.errors) throw new Error(`${t}: ${r.errors} of ${r.requests} warm-up requests failed`);
  }

  const sluices = { sluice, ...(sluiceB && { 'sluice-b': sluiceB }) };
  const gcNow = async () =>
    Object.fromEntries(
      await Promise.all(
        Object.entries(sluices).map(
          async ([n, p]) => [n, gcByKind(await (await fetch(p.metrics)).text())] as const,
        ),
      ),
    );
  const gcBefore = await gcNow();
  const rounds: Record<Target, LoadResult[]> = Object.fromEntries(TARGETS.map((t) => [t, []]));
  const line = (r: LoadResult): string =>
    `p50 ${r.p50Ms.toFixed(2)} p99 ${r.p99Ms.toFixed(2)} p99.9 ${r.p999Ms!.toFixed(2)} ms` +
    (r.errors ? ` (${r.errors} errors)` : '');
  // Each relay's own direct rounds, taken at the same moments as its own.
  const directFor: Record<Target, LoadResult[]> = Object.fromEntries(RELAYS.map((t) => [t, []]));
  for (let round = 0; round < ROUNDS; round++) {
    if (ALL_AT_ONCE) {
      const results = await runInterleavedOpenLoops(TARGETS.map(spec));
      TARGETS.forEach((t, i) => rounds[t]!.push(results[i]!));
      for (const t of RELAYS) directFor[t]!.push(results[0]!);
      process.stdout.write(
        `round ${round + 1}: ` + TARGETS.map((t, i) => `${t} ${line(results[i]!)}`).join(' | ') + '\n',
      );
      continue;
    }
    for (const t of RELAYS) {
      const [d, r] = await runInterleavedOpenLoops([spec('direct'), spec(t)]);
      rounds['direct']!.push(d!);
      directFor[t]!.push(d!);
      rounds[t]!.push(r!);
      process.stdout.write(`round ${round + 1}: direct ${line(d!)} | ${t} ${line(r!)}\n`);
    }
  }
  const gcAfter = await gcNow();
  const gc = Object.fromEntries(
    Object.entries(gcAfter).map(([name, kinds]) => [
      name,
      Object.fromEntries(
        Object.entries(kinds).map(([kind, a]) => {
          const b = gcBefore[name]?.[kind] ?? { count: 0, ms: 0 };
          return [kind, { count: a.count - b.count, ms: a.ms - b.ms }];
        }),
      ),
    ]),
  );
  // Paired: each round's difference to direct in that round, then the median over rounds.
  const added = (t: Target, k: 'p50Ms' | 'p99Ms' | 'p999Ms'): number =>
    median(rounds[t]!.map((r, i) => r[k]! - directFor[t]![i]![k]!));
  const summary = Object.fromEntries(
    RELAYS.map((t) => [
      t,
      {
        addedP50Ms: added(t, 'p50Ms'),
        addedP99Ms: added(t, 'p99Ms'),
        addedP999Ms: added(t, 'p999Ms'),
        // A failed request counts with its latency: a relay failing fast would look fast.
        errors: rounds[t]!.reduce((n, r) => n + r.errors, 0),
      },
    ]),
  );
  process.stdout.write(
    `\nadded to direct (median over ${ROUNDS} rounds of ${SECONDS} s, ${RATE}/s to each, ≤${CONCURRENCY} in flight, ` +
      `${ALL_AT_ONCE ? 'all targets at once' : 'each relay with direct in turn'}, ` +
      `${PIN ? (OWN_CORE ? 'relays on a core of their own' : 'pinned') : 'unpinned'}):\n` +
      Object.entries(summary)
        .map(
          ([t, s]) =>
            `  ${t.padEnd(8)} p50 ${signed(s.addedP50Ms)}  p99 ${signed(s.addedP99Ms)}  p99.9 ${signed(s.addedP999Ms)} ms` +
            (s.errors ? `  (${s.errors} FAILED requests: not a latency to compare)` : ''),
        )
        .join('\n') +
      '\n' +
      Object.entries(gc)
        .map(
          ([name, kinds]) =>
            `  ${name}'s GC during the rounds: ` +
            Object.entries(kinds)
              .map(([kind, g]) => `${kind} ${g.count} pauses, ${g.ms.toFixed(1)} ms`)
              .join('; ') +
            '\n',
        )
        .join('') +
      (B_NODE_ARGS.length ? `  sluice-b: ${B_NODE_ARGS.join(' ')}\n` : ''),
  );
  const out = {
    date: new Date().toISOString(),
    rate: RATE,
    rounds: ROUNDS,
    seconds: SECONDS,
    concurrency: CONCURRENCY,
    pinned: PIN,
    ownCore: OWN_CORE,
    allAtOnce: ALL_AT_ONCE,
    nodeArgs: NODE_ARGS,
    bNodeArgs: B_NODE_ARGS,
    results: rounds,
    directFor,
    summary,
    gc,
  };
  const resultsDir = join(ROOT, 'bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `added-${out.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  process.stdout.write(`results: ${file}\n`);
}

/** `sluice proxy` in front of `origin`, its access log to /dev/null (as cheap as a pod's stdout). */
async function startSluice(
  children: ChildProcess[],
  dir: string,
  name: string,
  origin: string,
  args: string[],
): Promise<{ url: string; metrics: string; process: ChildProcess }> {
  const [port, admin] = [await freePort(), await freePort()];
  writeFileSync(
    join(dir, `${name}.json`),
    JSON.stringify({
      listen: `127.0.0.1:${port}`,
      admin: `127.0.0.1:${admin}`,
      logLevel: 'info',
      stores: [{ name: 'quiet', endpoints: [origin], credentials: { file: 'creds.json' } }],
      grants: [{ store: 'quiet', bucket: 'quiet', access: ['read'] }],
    }),
  );
  const child = spawn(process.execPath, [...args, SLUICE, 'proxy', '--config', join(dir, `${name}.json`)], {
    env: proxyEnv(),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child); // stopped with the rest, whether or not it comes up
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready`))),
  );
  exited.catch(() => undefined); // once up, a later exit is the run's teardown
  await Promise.race([waitHttp(`http://127.0.0.1:${admin}/readyz`), exited]);
  return { url: `http://127.0.0.1:${port}`, metrics: `http://127.0.0.1:${admin}/metrics`, process: child };
}

/** nodejs_gc_duration_seconds by kind (prom-client's default metrics): pauses and their total, ms. */
function gcByKind(text: string): Record<string, { count: number; ms: number }> {
  const out: Record<string, { count: number; ms: number }> = {};
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_(count|sum)\{kind="(\w+)"\} (\S+)$/gm)) {
    const g = (out[m[2]!] ??= { count: 0, ms: 0 });
    if (m[1] === 'count') g.count = Number(m[3]);
    else g.ms = Number(m[3]) * 1000;
  }
  return out;
}

if (WRAPPER) {
  const child = spawn(
    process.execPath,
    [...process.execArgv, ...GENERATOR_NODE_ARGS, ...process.argv.slice(1)],
    { stdio: 'inherit' },
  );
  // A signal for this wrapper is for the run: passed on, so that its cleanup stops every server.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  child.on('error', (err) => {
    process.stderr.write(
      `added.ts: could not re-run with ${GENERATOR_NODE_ARGS.join(' ')}: ${err.message}\n`,
    );
    process.exit(1);
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  await run();
}
