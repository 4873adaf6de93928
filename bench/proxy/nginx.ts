/**
 * nginx for the proxy benchmarks: {@link startNginx} runs it with any `http` block (the ceiling's
 * static backend and reverse proxy), {@link startNginxPeer} as a plain reverse proxy in front of
 * one S3 node — the peer the proxy is compared with in the same run. The peer is configured as MinIO's documentation configures nginx in front of MinIO — the
 * client's Host passed on (so a signature made for the peer's address verifies at the store),
 * request and response bodies streamed, not buffered — with one worker process, as the sidecar
 * is one Node process, and reads of up to 256 KiB, as the sidecar's from the store
 * (`proxy_buffer_size`, and `client_body_buffer_size` for uploads; unbuffered, nginx relays at
 * most that much per read, and its one-page default relayed 64 MiB GETs at 0.27–0.60× direct,
 * bench/proxy/runs/2026-12-02-s7-pinned-{peer,warm8}.json). It neither re-signs nor checks a
 * policy: it is what a hop costs when it only relays, written in C.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../test/testbed/ports.ts';
import { waitHttp } from './proc.ts';

export const NGINX = '/usr/sbin/nginx';

/**
 * Runs nginx (one worker, in the foreground) under `prefix` with the given `http { … }` block
 * and resolves once `readyUrl` answers at all. A configuration nginx refuses makes it exit at
 * once: that rejects, with nginx's reason from its error log.
 */
export async function startNginx(prefix: string, http: string, readyUrl: string): Promise<ChildProcess> {
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  writeFileSync(
    join(prefix, 'nginx.conf'),
    `worker_processes 1; error_log ${prefix}/logs/error.log warn; pid ${prefix}/nginx.pid;
events { worker_connections 4096; }
${http}
`,
  );
  const child = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => {
      let log = '(no error log)';
      try {
        log = readFileSync(join(prefix, 'logs', 'error.log'), 'utf8').trim();
      } catch {
        // nginx stopped before it wrote one
      }
      reject(new Error(`nginx exited (${code}): ${log}`));
    }),
  );
  exited.catch(() => undefined); // once up, a later exit is the run's teardown
  try {
    await Promise.race([waitHttp(readyUrl), exited]);
  } catch (err) {
    child.kill('SIGTERM'); // the caller never gets it to stop
    throw err;
  }
  return child;
}

/** Starts the peer under `prefix` (a fresh directory) in front of `upstream` (http://host:port). */
export async function startNginxPeer(
  prefix: string,
  upstream: string,
): Promise<{ url: string; process: ChildProcess }> {
  const port = await freePort();
  const { host } = new URL(upstream);
  mkdirSync(prefix, { recursive: true });
  // Workers run as `nobody` when started as root: they must reach their temp directories here
  // (and the caller the directories above).
  chmodSync(prefix, 0o755);
  const url = `http://127.0.0.1:${port}`;
  // Any answer will do (MinIO answers / with an S3 error): the peer is up.
  const child = await startNginx(
    prefix,
    `http { access_log off; keepalive_requests 100000; client_max_body_size 0;
  upstream store { server ${host}; keepalive 128; keepalive_requests 100000; }
  server { listen 127.0.0.1:${port};
    location / { proxy_pass http://store; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host $http_host; proxy_buffering off; proxy_request_buffering off;
      proxy_buffer_size 256k; proxy_buffers 4 256k; proxy_busy_buffers_size 256k;
      client_body_buffer_size 256k; }
  }
}`,
    `${url}/`,
  );
  return { url, process: child };
}
