/**
 * Balancing benchmark (issue 5): `node bench/balancing/run.ts`. Not a test: it measures and
 * reports, it asserts nothing. Bounded: one 4-node MinIO cluster, then per target a 1 s warm-up
 * and four 10 s phases of open-loop load (a fixed request rate, load.ts) — all healthy; node 1
 * slowed by +50 ms; node 1 at 10x its normal latency; node 2 killed 0.5 s into the phase — about
 * 45 s per target. The machine has 2 cores shared with other work, so absolute numbers are noisy;
 * compare targets within one run. Writes bench/results/balancing-<date>.{json,md} and
 * balancing-latency.svg (p90 per 250 ms window: with ~100 requests a window, p99 would be its max).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { request } from 'undici';
import type { PoolSnapshot } from '../../proxy/balancer/index.ts';
import { startMinioCluster } from '../../test/testbed/minio.ts';
import type { MinioCluster } from '../../test/testbed/minio.ts';
import { quantile, runLoad } from './load.ts';
import type { Sample } from './load.ts';
import { chart, markdown, writeReport } from './report.ts';
import type { Check, PhaseResult, TargetResult } from './report.ts';
import { startHaproxy, startNginx, startSluice } from './targets.ts';
import type { Target, Upstream } from './targets.ts';

// `--only <text>` runs the targets whose name contains it; `--rate N` requests/s (default 200,
// open loop, see load.ts), at most `--max-outstanding N` (default 32) in flight.
const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const ONLY = flag('--only');
const RATE = Number(flag('--rate') ?? 200);
const MAX_OUTSTANDING = Number(flag('--max-outstanding') ?? 32);
// `--rounds N` (default 3): every target runs its phases N times, targets interleaved, so a busy
// moment of the shared machine hits one round of each rather than all of one target; each
// phase reports the median of its rounds' p50/p99.
const ROUNDS = Number(flag('--rounds') ?? 3);
const WARMUP_MS = 1_000;
const PHASE_MS = 10_000;
const BUCKET_MS = 250;
const KEYS = Array.from({ length: 8 }, (_, i) => `obj-${i}`);
const BUCKET = 'bench';
const SLOW = 1;
const KILLED = 2;

interface Phase {
  name: string;
  enter(minio: MinioCluster): void;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-balancing-'));
  const minio = await startMinioCluster({ nodes: 4 });
  try {
    const credentialsFile = join(dir, 'minio.credentials.json');
    writeFileSync(
      credentialsFile,
      JSON.stringify({ accessKeyId: minio.rootUser, secretAccessKey: minio.rootPassword }),
    );
    const up: Upstream = { nodes: minio.endpoints, credentialsFile, bucket: BUCKET, dir };
    await seed(minio);
    const normalMs = await normalLatency(minio, SLOW);
    // The relay delays each direction, so half the added latency goes each way.
    const tenX = Math.max(1, Math.round((9 * normalMs) / 2));
    const phases: Phase[] = [
      { name: 'healthy', enter: () => undefined },
      { name: 'slow +50ms', enter: (m) => m.setDelay(SLOW, 25) },
      { name: `slow 10x (+${2 * tenX}ms)`, enter: (m) => m.setDelay(SLOW, tenX) },
      {
        name: 'node killed',
        enter: (m) => {
          m.setDelay(SLOW, 0);
          setTimeout(() => void m.killNode(KILLED), 500);
        },
      },
    ];
    const starters: [string, () => Promise<Target>][] = [
      ['sluice round-robin', () => startSluice('round-robin', up)],
      ['sluice least-in-flight', () => startSluice('least-in-flight', up)],
      ['sluice peak-ewma', () => startSluice('peak-ewma', up)],
      ['haproxy leastconn', () => startHaproxy(up)],
      ['nginx least_conn', () => startNginx(up)],
    ];
    const rounds = new Map<string, TargetResult[]>();
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [name, start] of starters) {
        if (ONLY !== undefined && !name.includes(ONLY)) continue;
        const target = await start();
        try {
          process.stderr.write(`[bench] round ${round}/${ROUNDS}: ${target.name}\n`);
          const result = await runTarget(target, minio, phases);
          rounds.set(name, [...(rounds.get(name) ?? []), result]);
        } finally {
          await target.stop();
          minio.setDelay(SLOW, 0);
          await minio.startNode(KILLED);
        }
      }
    }
    const results = [...rounds.values()].map(combineRounds);
    const checks = evaluate(results);
    const notes = [
      `${new Date().toISOString()}, ${cpus().length} CPUs (shared with other work), Node ${process.version}`,
      `4-node MinIO (2 drives each) behind delaying relays; GET of 8 small objects, open loop at ${RATE} req/s (≤ ${MAX_OUTSTANDING} in flight), latency from each request's scheduled start`,
      `phases of ${PHASE_MS / 1000} s after a ${WARMUP_MS / 1000} s warm-up; node ${SLOW} slowed, node ${KILLED} killed 0.5 s into the last phase`,
      `${ROUNDS} rounds per target, targets interleaved; p50/p99 = median over rounds (each round's p99 in brackets), requests/errors summed, shares averaged; the chart shows round 1`,
      `node ${SLOW} normal GET latency (direct, p50): ${normalMs.toFixed(2)} ms → 10x = +${2 * tenX} ms`,
      'latency = client-side, to the end of the body; errors = non-200 or transport errors seen by the client',
      'short phases keep the run bounded on a small shared machine: treat numbers as indicative',
    ];
    const stem = `balancing-${new Date().toISOString().slice(0, 10)}`;
    const out = join(process.cwd(), 'bench/results');
    mkdirSync(out, { recursive: true });
    const phaseStarts = phases.map((p, i) => ({ name: p.name, startMs: i * PHASE_MS }));
    writeReport(
      out,
      stem,
      {
        notes,
        normalMs,
        tenXDelayMs: 2 * tenX,
        rate: RATE,
        maxOutstanding: MAX_OUTSTANDING,
        phaseMs: PHASE_MS,
        results,
        checks,
      },
      markdown(results, checks, notes),
      chart(results, phaseStarts, phases.length * PHASE_MS),
    );
    process.stdout.write(markdown(results, checks, notes));
  } finally {
    await minio.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the phases against one target and summarises them. */
async function runTarget(target: Target, minio: MinioCluster, phases: Phase[]): Promise<TargetResult> {
  const pathFor = await paths(target);
  const origin = performance.now();
  const endAt = WARMUP_MS + phases.length * PHASE_MS;
  const attempts: (number[] | undefined)[] = [];
  const timers = phases.map((p, i) =>
    setTimeout(
      () => {
        p.enter(minio);
        void sluiceAttempts(target, minio).then((a) => (attempts[i] = a));
      },
      WARMUP_MS + i * PHASE_MS,
    ),
  );
  const samples = await runLoad(
    target.url,
    pathFor,
    { rate: RATE, maxOutstanding: MAX_OUTSTANDING },
    origin,
    endAt,
  );
  timers.forEach(clearTimeout);
  attempts[phases.length] = await sluiceAttempts(target, minio);
  const measured = samples.filter((s) => s.t >= WARMUP_MS).map((s) => ({ ...s, t: s.t - WARMUP_MS }));
  const byPhase = phases.map((p, i): PhaseResult => {
    const ss = measured.filter((s) => s.t >= i * PHASE_MS && s.t < (i + 1) * PHASE_MS);
    const lat = ss.map((s) => s.ms);
    return {
      phase: p.name,
      requests: ss.length,
      errors: ss.filter((s) => !s.ok).length,
      p50: quantile(lat, 0.5),
      p99: quantile(lat, 0.99),
      over50: lat.filter((ms) => ms >= 50).length / Math.max(1, lat.length),
      shares: shares(ss, minio, attempts[i], attempts[i + 1]),
    };
  });
  const series: TargetResult['series'] = [];
  for (let t = 0; t < phases.length * PHASE_MS; t += BUCKET_MS) {
    const lat = measured.filter((s) => s.t >= t && s.t < t + BUCKET_MS).map((s) => s.ms);
    if (lat.length > 0) series.push({ t, p90: quantile(lat, 0.9) });
  }
  const errorKinds: Record<string, number> = {};
  for (const s of measured) if (s.error) errorKinds[s.error] = (errorKinds[s.error] ?? 0) + 1;
  return { name: target.name, phases: byPhase, series, errorKinds };
}

/** One target's rounds as one result: medians of p50/p99, sums of counts, mean shares. */
function combineRounds(rs: TargetResult[]): TargetResult {
  const first = rs[0]!;
  const median = (xs: number[]): number => quantile(xs, 0.5);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const errorKinds: Record<string, number> = {};
  for (const r of rs)
    for (const [k, n] of Object.entries(r.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + n;
  return {
    name: first.name,
    phases: first.phases.map((p, i) => {
      const ps = rs.map((r) => r.phases[i]!);
      return {
        phase: p.phase,
        requests: ps.reduce((a, x) => a + x.requests, 0),
        errors: ps.reduce((a, x) => a + x.errors, 0),
        p50: median(ps.map((x) => x.p50)),
        p99: median(ps.map((x) => x.p99)),
        p99Rounds: ps.map((x) => x.p99),
        over50: mean(ps.map((x) => x.over50)),
        shares: p.shares.map((_, n) => mean(ps.map((x) => x.shares[n] ?? 0))),
      };
    }),
    series: first.series,
    errorKinds,
  };
}

/** Per-node share: Sluice's own attempt counters, else the peers' x-served-by header. */
function shares(ss: Sample[], minio: MinioCluster, from?: number[], to?: number[]): number[] {
  if (from && to) {
    const d = to.map((v, i) => v - from[i]!);
    const total = d.reduce((a, b) => a + b, 0) || 1;
    return d.map((v) => v / total);
  }
  const counts = minio.nodes.map(() => 0);
  for (const s of ss) {
    if (!s.ok || !s.node) continue;
    const i = minio.nodes.findIndex((n, j) => s.node === `n${j}` || s.node === new URL(n.url).host);
    if (i >= 0) counts[i]! += 1;
  }
  const total = counts.reduce((a, b) => a + b, 0) || 1;
  return counts.map((c) => c / total);
}

async function sluiceAttempts(target: Target, minio: MinioCluster): Promise<number[] | undefined> {
  if (!target.adminUrl) return undefined;
  const res = await request(`${target.adminUrl}/debug/backends`);
  const doc = (await res.body.json()) as { stores: PoolSnapshot[] };
  const bs = doc.stores[0]!.backends;
  return minio.nodes.map((n) => bs.filter((b) => b.origin === n.url).reduce((a, b) => a + b.attempts, 0));
}

/** Request paths: plain for Sluice, presigned with MinIO's keys for the peers. */
async function paths(target: Target): Promise<(i: number) => string> {
  if (!target.needsSignature) return (i) => `/${BUCKET}/${KEYS[i % KEYS.length]!}`;
  const s3 = new S3Client({
    endpoint: target.url,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: await rootKeys(),
  });
  const urls = await Promise.all(
    KEYS.map(async (Key) => {
      const u = new URL(
        await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key }), { expiresIn: 3600 }),
      );
      return u.pathname + u.search;
    }),
  );
  s3.destroy();
  return (i) => urls[i % urls.length]!;
}

let keys: { accessKeyId: string; secretAccessKey: string } | undefined;
function rootKeys(): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  return Promise.resolve(keys!);
}

async function seed(minio: MinioCluster): Promise<void> {
  keys = { accessKeyId: minio.rootUser, secretAccessKey: minio.rootPassword };
  const s3 = new S3Client({
    endpoint: minio.endpoints[0],
    region: minio.region,
    forcePathStyle: true,
    credentials: keys,
  });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  for (const Key of KEYS)
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: Buffer.alloc(4096, Key) }));
  s3.destroy();
}

/** p50 of 200 sequential direct GETs on node `i` (its relay, no added delay). */
async function normalLatency(minio: MinioCluster, i: number): Promise<number> {
  const s3 = new S3Client({
    endpoint: minio.endpoints[i],
    region: minio.region,
    forcePathStyle: true,
    credentials: keys!,
  });
  const lat: number[] = [];
  for (let n = 0; n < 200; n++) {
    const t = performance.now();
    const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEYS[n % KEYS.length] }));
    await r.Body!.transformToByteArray();
    lat.push(performance.now() - t);
  }
  s3.destroy();
  return quantile(lat, 0.5);
}

/** The targets, checked against this run. */
function evaluate(results: TargetResult[]): Check[] {
  const get = (name: string) => results.find((r) => r.name === name);
  const ewma = get('sluice peak-ewma');
  const rr = get('sluice round-robin');
  if (!ewma || !rr) return [];
  const [healthy, slow50, slow10, killed] = ewma.phases;
  const rrSlow = rr.phases[1]!;
  const checks: Check[] = [
    {
      what: 'peak-EWMA p99 with one slow node (+50 ms) ≤ 1.3x all-healthy p99',
      value: `${slow50!.p99.toFixed(1)} ms vs ${healthy!.p99.toFixed(1)} ms (${(slow50!.p99 / healthy!.p99).toFixed(2)}x)`,
      ok: slow50!.p99 <= 1.3 * healthy!.p99,
    },
    {
      what: 'peak-EWMA p99 with one slow node ≥ 5x better than round-robin',
      value: `${rrSlow.p99.toFixed(1)} ms / ${slow50!.p99.toFixed(1)} ms = ${(rrSlow.p99 / slow50!.p99).toFixed(1)}x`,
      ok: rrSlow.p99 >= 5 * slow50!.p99,
    },
    {
      what: 'slow node share < 10% (peak-EWMA, +50 ms and 10x phases)',
      value: `${(slow50!.shares[SLOW]! * 100).toFixed(1)}% and ${(slow10!.shares[SLOW]! * 100).toFixed(1)}%`,
      ok: slow50!.shares[SLOW]! < 0.1 && slow10!.shares[SLOW]! < 0.1,
    },
  ];
  for (const r of results.filter((x) => x.name.startsWith('sluice'))) {
    const k = r.phases[3]!;
    checks.push({
      what: `zero failed GETs with a node killed (${r.name})`,
      value: `${k.errors} of ${k.requests}`,
      ok: k.errors === 0,
    });
  }
  void killed;
  return checks;
}

await main();
