/**
 * `make bench`: the proxy and balancing benchmarks, one after the other, each only if present and
 * each bounded by a time limit (killed past it, the run goes on). Not a test: it measures and
 * reports; results land in bench/results/.
 *
 *   node bench/run.ts          quick (default, a few minutes): the proxy ceiling (3 rounds),
 *                              added latency in front of a quiet backend (2 rounds), the proxy matrix without concurrency 64, the balancing benchmark
 *                              for Sluice's own targets, one round
 *   node bench/run.ts --full   everything each benchmark measures by default
 *
 * The machine is shared (2 cores): compare within one run, never across runs.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('../', import.meta.url).pathname;
const FULL = process.argv.includes('--full');

interface Step {
  name: string;
  script: string;
  args: string[];
  limitMs: number;
}

const MIN = 60_000;
const steps: Step[] = [
  {
    name: 'proxy ceiling (4 KiB GET: backend vs nginx vs sluice)',
    script: 'bench/proxy/ceiling.ts',
    args: FULL ? ['--rounds', '5', '--seconds', '3'] : ['--rounds', '3', '--seconds', '2'],
    limitMs: 3 * MIN,
  },
  {
    name: 'added latency (4 KiB GET in front of a quiet backend: nginx, Node floor, sluice)',
    script: 'bench/proxy/added.ts',
    args: FULL ? ['--own-core'] : ['--own-core', '--rounds', '2', '--seconds', '5'],
    limitMs: (FULL ? 6 : 3) * MIN,
  },
  {
    name: 'signer (sluice vs @smithy)',
    script: 'bench/proxy/signer.ts',
    args: FULL ? [] : ['--ms', '300'],
    limitMs: MIN,
  },
  {
    name: 'S3 operation classifier',
    script: 'bench/proxy/classify.ts',
    args: [],
    limitMs: MIN,
  },
  {
    name: 'access-log sink (sonic-boom string vs buffer mode)',
    script: 'bench/proxy/log-sink.ts',
    args: [],
    limitMs: MIN,
  },
  {
    name: 'proxy vs direct MinIO (GET/PUT 4 KiB, 1 MiB, 64 MiB)',
    script: 'bench/proxy/run.ts',
    args: FULL ? [] : ['--quick', '--seconds', '1'],
    // Each cell warms its proxy for 8 s and runs direct, nginx, the Node floor (GETs) and the
    // proxy: the full matrix took ~35 min in session 8.
    limitMs: (FULL ? 50 : 12) * MIN,
  },
  {
    name: 'balancing',
    script: 'bench/balancing/run.ts',
    args: FULL ? [] : ['--only', 'sluice', '--rounds', '1'],
    limitMs: (FULL ? 20 : 5) * MIN,
  },
];

function run(step: Step): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, step.script), ...step.args], {
      cwd: ROOT,
      stdio: 'inherit',
      detached: true, // its own process group: a time-out takes its servers down with it
    });
    const timer = setTimeout(() => {
      process.stderr.write(`bench: ${step.script} ran past ${step.limitMs / MIN} min, stopping it\n`);
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
    }, step.limitMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(signal ? `stopped (${signal})` : code === 0 ? 'ok' : `failed (exit ${code})`);
    });
  });
}

const summary: string[] = [];
let failures = 0;
for (const step of steps) {
  if (!existsSync(join(ROOT, step.script))) {
    summary.push(`${step.name}: skipped (${step.script} not present)`);
    continue;
  }
  process.stdout.write(`\n=== ${step.name}: node ${step.script} ${step.args.join(' ')}\n`);
  const outcome = await run(step);
  if (outcome !== 'ok') failures++;
  summary.push(`${step.name}: ${outcome}`);
}
process.stdout.write(`\n=== summary (${FULL ? 'full' : 'quick'})\n${summary.join('\n')}\n`);
// The others still ran (and reported); the run as a whole did not succeed.
if (failures > 0) process.exitCode = 1;
