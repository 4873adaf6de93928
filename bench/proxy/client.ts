/**
 * The backend client alone (not a test): `node bench/proxy/client.ts [--rounds N] [--seconds S]`.
 * nginx serves static 4 KiB, 1 MiB and 64 MiB files; two forwarders (client-forwarder.ts) put
 * undici's Pool or the proxy's own UpstreamPool (proxy/http1/) in front of it; wrk (c=16) loads
 * each in alternating rounds. Reports req/s and the forwarder's CPU per request and per MiB,
 * medians, and own/undici ratios — the evidence for writing our own client on the hot path.
 * Both forwarders run with the sidecar's runtime env (operator/contract.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/testbed/ports.ts';
import { cpuSeconds, proxyEnv, waitHttp } from './proc.ts';
import { wrk } from './wrk.ts';

const argv = process.argv.slice(2);
const flag = (name: string, dflt: number): number =>
  argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : dflt;
const ROUNDS = flag('--rounds', 3);
const SECONDS = flag('--seconds', 3);
const CONCURRENCY = 16;
const SIZES = [
  { name: '4k', bytes: 4 * 1024 },
  { name: '1m', bytes: 1 << 20 },
  { name: '64m', bytes: 64 << 20 },
];
const KINDS = ['undici', 'sluice'] as const;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(children: ChildProcess[], dir: string): Promise<void> {
  chmodSync(dir, 0o755); // nginx workers may run as nobody
  const www = join(dir, 'www');
  mkdirSync(join(dir, 'logs'), { recursive: true });
  mkdirSync(www);
  for (const s of SIZES) writeFileSync(join(www, s.name), Buffer.alloc(s.bytes, 7));
  const backendPort = await freePort();
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1; error_log ${dir}/logs/error.log warn; pid ${dir}/nginx.pid;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; sendfile on;
  server { listen 127.0.0.1:${backendPort}; root ${www}; } }`,
  );
  children.push(
    spawn('/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  );
  await waitHttp(`http://127.0.0.1:${backendPort}/4k`);
  const forwarders = new Map<string, { url: string; pid: number }>();
  for (const kind of KINDS) {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        new URL('./client-forwarder.ts', import.meta.url).pathname,
        kind,
        `http://127.0.0.1:${backendPort}`,
        String(port),
      ],
      { env: proxyEnv(), stdio: ['ignore', 'ignore', 'inherit'] },
    );
    children.push(child);
    await waitHttp(`http://127.0.0.1:${port}/4k`);
    forwarders.set(kind, { url: `http://127.0.0.1:${port}`, pid: child.pid! });
    wrk(`http://127.0.0.1:${port}/4k`, 1, CONCURRENCY); // warm-up
  }
  process.stdout.write(
    `backend client: wrk c=${CONCURRENCY}, ${ROUNDS} rounds × ${SECONDS}s (64 MiB: ×3), medians\n`,
  );
  for (const size of SIZES) {
    const rps: Record<string, number[]> = { undici: [], sluice: [] };
    const cpu: Record<string, number[]> = { undici: [], sluice: [] };
    const seconds = size.bytes >= 64 << 20 ? SECONDS * 3 : SECONDS;
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of KINDS) {
        const f = forwarders.get(kind)!;
        const c0 = cpuSeconds(f.pid);
        const r = wrk(`${f.url}/${size.name}`, seconds, CONCURRENCY);
        if (r.errors > 0) throw new Error(`${kind} ${size.name}: ${r.errors} errors`);
        rps[kind]!.push(r.reqPerSec);
        cpu[kind]!.push(((cpuSeconds(f.pid) - c0) * 1000) / r.requests);
      }
    }
    const mib = size.bytes / (1 << 20);
    const line = (kind: string): string =>
      `${kind} ${median(rps[kind]!).toFixed(0)} req/s, ${median(cpu[kind]!).toFixed(3)} ms CPU/req` +
      (mib >= 1 ? ` (${(median(cpu[kind]!) / mib).toFixed(3)} ms/MiB)` : '');
    process.stdout.write(
      `${size.name.padEnd(3)} | ${line('undici')} | ${line('sluice')} | own/undici: req/s ${(median(rps.sluice!) / median(rps.undici!)).toFixed(2)}×, CPU/req ${(median(cpu.sluice!) / median(cpu.undici!)).toFixed(2)}×\n`,
    );
  }
}

const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'sluice-client-bench-'));
try {
  await main(children, dir);
} finally {
  for (const c of children) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
