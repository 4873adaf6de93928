/**
 * The systems under comparison, each started as its own process in front of the same MinIO relays
 * on dynamic loopback ports: the Sluice proxy with one algorithm, HAProxy `leastconn` and nginx
 * `least_conn` (Debian packages, scripts/testbed/debian.sh). Each gets active or passive health
 * checks and retries configured as a fair operator would, and is stopped after its run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BalancingAlgorithm } from '../../proxy/config/types.ts';
import { httpStatus } from '../../test/testbed/http.ts';
import { freePort } from '../../test/testbed/ports.ts';
import { spawnLogged, waitUntil } from '../../test/testbed/proc.ts';
import type { Proc } from '../../test/testbed/proc.ts';
import { buildDist } from '../../scripts/build.ts';
import { sidecarRuntimeEnv } from '../proxy/proc.ts';

/** The built CLI (dist/), what the image ships: benchmarks measure that, not type stripping. */
const SLUICE = buildDist();

/** A running target. */
export interface Target {
  readonly name: string;
  /** http://127.0.0.1:PORT to send S3 requests to. */
  readonly url: string;
  /** Clients must presign (peers forward to MinIO as is); Sluice signs itself. */
  readonly needsSignature: boolean;
  /** Sluice's admin url, for /debug/backends shares. */
  readonly adminUrl: string | undefined;
  stop(): Promise<void>;
}

/** What every target fronts. */
export interface Upstream {
  /** MinIO node urls (relays), http://127.0.0.1:PORT. */
  nodes: string[];
  credentialsFile: string;
  bucket: string;
  dir: string;
}

const CHECK = { intervalMs: 250, timeoutMs: 1_000, rise: 2, fall: 2 };

async function ready(name: string, proc: Proc, url: string): Promise<void> {
  await waitUntil(`${name} ready`, async () => (await httpStatus(url, 500)) > 0, {
    timeoutMs: 20_000,
    dead: () => proc.exited,
    detail: () => proc.tail(),
  });
}

/** The Sluice proxy (`sluice proxy`, a child process) with `algorithm`. */
export async function startSluice(algorithm: BalancingAlgorithm, up: Upstream): Promise<Target> {
  const [port, admin] = [await freePort(), await freePort()];
  const config = {
    listen: `127.0.0.1:${port}`,
    admin: `127.0.0.1:${admin}`,
    logLevel: 'warn',
    stores: [
      {
        name: 'minio',
        endpoints: up.nodes,
        region: 'us-east-1',
        credentials: { file: up.credentialsFile },
        balancing: { algorithm, healthCheck: { ...CHECK, path: '/minio/health/live' } },
      },
    ],
    grants: [{ store: 'minio', bucket: up.bucket, access: ['read', 'list'] }],
  };
  const file = join(up.dir, `sluice-${algorithm}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  const node = join(process.cwd(), 'node_modules/.bin/node');
  const proc = spawnLogged(
    node,
    [SLUICE, 'proxy', '--config', file],
    join(up.dir, `sluice-${algorithm}.log`),
    {
      env: { PATH: process.env.PATH ?? '', ...sidecarRuntimeEnv() },
      cwd: process.cwd(),
    },
  );
  await ready('sluice', proc, `http://127.0.0.1:${admin}/readyz`);
  return {
    name: `sluice ${algorithm}`,
    url: `http://127.0.0.1:${port}`,
    needsSignature: false,
    adminUrl: `http://127.0.0.1:${admin}`,
    stop: () => proc.stop('SIGTERM', 5_000),
  };
}

/** HAProxy `balance leastconn`, HTTP checks, retries with redispatch. */
export async function startHaproxy(up: Upstream): Promise<Target> {
  const port = await freePort();
  const servers = up.nodes.map((u, i) => {
    const { host } = new URL(u);
    return `  server n${i} ${host} check inter ${CHECK.intervalMs} fall ${CHECK.fall} rise ${CHECK.rise}`;
  });
  const cfg = [
    'global',
    '  maxconn 2048',
    '  nbthread 1',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  retries 3',
    '  option redispatch 1',
    '  retry-on conn-failure empty-response response-timeout 503',
    'frontend fe',
    `  bind 127.0.0.1:${port}`,
    '  default_backend minio',
    'backend minio',
    '  balance leastconn',
    '  option httpchk GET /minio/health/live',
    '  http-response set-header x-served-by %[srv_name]',
    ...servers,
    '',
  ].join('\n');
  const file = join(up.dir, 'haproxy.cfg');
  writeFileSync(file, cfg);
  const proc = spawnLogged('/usr/sbin/haproxy', ['-db', '-f', file], join(up.dir, 'haproxy.log'), {
    env: { PATH: process.env.PATH ?? '' },
  });
  await ready('haproxy', proc, `http://127.0.0.1:${port}/minio/health/live`);
  return {
    name: 'haproxy leastconn',
    url: `http://127.0.0.1:${port}`,
    needsSignature: true,
    adminUrl: undefined,
    stop: () => proc.stop('SIGTERM', 5_000),
  };
}

/** nginx `least_conn` with passive checks (open-source nginx has no active ones) and retries. */
export async function startNginx(up: Upstream): Promise<Target> {
  const port = await freePort();
  const prefix = join(up.dir, 'nginx');
  mkdirSync(join(prefix, 'tmp'), { recursive: true });
  const servers = up.nodes.map((u) => `    server ${new URL(u).host} max_fails=1 fail_timeout=2s;`);
  const tmp = join(prefix, 'tmp');
  const cfg = [
    'daemon off;',
    'worker_processes 1;',
    `pid ${join(prefix, 'nginx.pid')};`,
    `error_log ${join(prefix, 'error.log')} warn;`,
    'events { worker_connections 2048; }',
    'http {',
    '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${tmp}/${t};`),
    '  upstream minio {',
    '    least_conn;',
    ...servers,
    '    keepalive 64;',
    '  }',
    '  server {',
    `    listen 127.0.0.1:${port};`,
    '    location / {',
    '      proxy_pass http://minio;',
    '      proxy_http_version 1.1;',
    '      proxy_set_header Connection "";',
    '      proxy_set_header Host $http_host;',
    '      proxy_connect_timeout 2s;',
    '      proxy_next_upstream error timeout http_503;',
    '      add_header x-served-by $upstream_addr always;',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
  const file = join(prefix, 'nginx.conf');
  writeFileSync(file, cfg);
  const proc = spawnLogged(
    '/usr/sbin/nginx',
    ['-p', prefix, '-e', join(prefix, 'error.log'), '-c', file],
    join(up.dir, 'nginx.log'),
    {
      env: { PATH: process.env.PATH ?? '' },
    },
  );
  await ready('nginx', proc, `http://127.0.0.1:${port}/minio/health/live`);
  return {
    name: 'nginx least_conn',
    url: `http://127.0.0.1:${port}`,
    needsSignature: true,
    adminUrl: undefined,
    stop: () => proc.stop('SIGQUIT', 5_000),
  };
}
