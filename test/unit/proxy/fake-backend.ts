/**
 * A proxy in front of a real node:http "backend" on port 0 whose behaviour each test scripts
 * (slow headers, truncated bodies, endless bodies), for the failure paths MinIO will not produce
 * on demand.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseProxyConfig } from '../../../proxy/config/parse.ts';
import { startProxy } from '../../../proxy/server.ts';
import type { ProxyHandle } from '../../../proxy/server.ts';

export type BackendHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface FakeStack {
  backend: Server;
  backendUrl: string;
  proxy: ProxyHandle;
  /** Replace what the backend does. */
  handle(h: BackendHandler): void;
  logText(): string;
  /** Requests the backend saw (method, url, headers). */
  seen: { method: string; url: string; headers: IncomingMessage['headers'] }[];
  dir: string;
  stop(): Promise<void>;
}

export const SECRET = 'backend-secret-KEEP-OUT-OF-LOGS';

/** Starts a scripted backend and a proxy in front of it (bucket "fake-bucket" fully granted). */
export async function startFake(
  config: Record<string, unknown> = {},
  backendUrl?: string,
  /** More fields of store "fake", given the backend's URL (e.g. a second endpoint to it). */
  storeFields: (url: string) => Record<string, unknown> = () => ({}),
): Promise<FakeStack> {
  let handler: BackendHandler = (_req, res) => res.end('ok');
  const seen: FakeStack['seen'] = [];
  const backend = createServer((req, res) => {
    // The proxy's health checks (every 5 s, the default path) are answered here and not
    // recorded: a test scripts and inspects its own requests only.
    if (req.url === '/minio/health/live') return void res.end();
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res);
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const url = backendUrl ?? `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'sluice-proxy-unit-'));
  writeFileSync(
    join(dir, 'fake.credentials.json'),
    JSON.stringify({ accessKeyId: 'AKIDBACKEND', secretAccessKey: SECRET }),
  );
  let text = '';
  const dest = new Writable({
    write(chunk: Buffer, _e, cb) {
      text += chunk.toString();
      cb();
    },
  });
  const proxy = await startProxy(
    parseProxyConfig({
      config: {
        listen: '127.0.0.1:0',
        admin: '127.0.0.1:0',
        stores: [
          {
            name: 'fake',
            endpoints: [url],
            credentials: { file: 'fake.credentials.json' },
            ...storeFields(url),
          },
        ],
        grants: [
          {
            store: 'fake',
            bucket: 'fake-bucket',
            access: ['read', 'write', 'list', 'delete'],
            bucketConfig: ['delete-bucket'],
          },
        ],
        ...config,
      },
      configDir: dir,
    }),
    { logDestination: dest },
  );
  return {
    backend,
    backendUrl: url,
    proxy,
    seen,
    dir,
    handle: (h) => {
      handler = h;
    },
    logText: () => text,
    async stop() {
      await proxy.shutdown(500);
      backend.closeAllConnections();
      await new Promise((r) => backend.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
