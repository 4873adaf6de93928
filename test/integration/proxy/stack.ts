/**
 * A proxy in front of a real MinIO cluster, for the proxy's integration tests: MinIO root
 * credentials live only in a credentials file (as the operator's Secret would hold them); the
 * clients under test get throwaway keys the proxy never checks.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { parseProxyConfig } from '../../../proxy/config/parse.ts';
import type { ProxyConfig, StoreSpec } from '../../../proxy/config/types.ts';
import { startProxy } from '../../../proxy/server.ts';
import type { ProxyHandle, ProxyOptions } from '../../../proxy/server.ts';
import { startMinioCluster } from '../../testbed/minio.ts';
import type { MinioCluster } from '../../testbed/minio.ts';

/** Keys the clients use against the proxy: deliberately not MinIO's. */
export const CLIENT_KEYS = { accessKeyId: 'AKIDCLIENTNOTREAL', secretAccessKey: 'client-secret-not-real' };

export interface Stack {
  minio: MinioCluster;
  proxy: ProxyHandle;
  dir: string;
  credentialsFile: string;
  /** Every access-log / proxy log line, parsed. */
  logs: Record<string, unknown>[];
  /** Raw log text (for "never a secret" checks). */
  logText(): string;
  /** An SDK client through the proxy (path-style, default checksums). */
  client(extra?: Partial<ConstructorParameters<typeof S3Client>[0]>): S3Client;
  /** An SDK client straight to MinIO with the real keys (to check what the backend holds). */
  direct(): S3Client;
  stop(): Promise<void>;
}

export interface StackOptions {
  buckets: string[];
  /** Extra config (timeouts, limits, …) merged into the proxy config. */
  config?: Record<string, unknown>;
  proxyOptions?: ProxyOptions;
  /** Reuse a running cluster instead of starting one (not stopped by stop()). */
  minio?: MinioCluster;
  /** Grants override (default: every access and bucket-config right on every bucket). */
  grants?: unknown[];
  /** The sidecar's own zone (the policy's `zone`); default none. */
  zone?: string;
  /** Zone of each MinIO node's endpoint in the `minio` store, by node index; default none. */
  zones?: readonly (string | undefined)[];
  /** Balancing settings of the `minio` store; default none (the balancer's defaults). */
  balancing?: StoreSpec['balancing'];
  /**
   * More stores in the same proxy, with the cluster's region and keys (grant them via `grants`;
   * the default grants name only `minio`).
   */
  extraStores?: readonly Pick<StoreSpec, 'name' | 'endpoints' | 'balancing'>[];
}

/** Starts MinIO (2 nodes × 2 drives) and a proxy in front of it. */
export async function startStack(opts: StackOptions): Promise<Stack> {
  const minio = opts.minio ?? (await startMinioCluster({ nodes: 2, drivesPerNode: 2 }));
  const dir = mkdtempSync(join(tmpdir(), 'sluice-proxy-it-'));
  const credentialsFile = join(dir, 'minio.credentials.json');
  writeFileSync(
    credentialsFile,
    JSON.stringify({ accessKeyId: minio.rootUser, secretAccessKey: minio.rootPassword }),
  );
  const grants =
    opts.grants ??
    opts.buckets.map((bucket) => ({
      store: 'minio',
      bucket,
      access: ['read', 'write', 'list', 'delete'],
      bucketConfig: ['config-read', 'config-write', 'create-bucket', 'delete-bucket'],
    }));
  const config: ProxyConfig = parseProxyConfig({
    config: {
      listen: '127.0.0.1:0',
      admin: '127.0.0.1:0',
      virtualHostDomains: ['s3.localhost'],
      logLevel: 'info',
      ...(opts.zone === undefined ? {} : { zone: opts.zone }),
      stores: [
        {
          name: 'minio',
          endpoints: minio.endpoints.map((url, i) => {
            const zone = opts.zones?.[i];
            return zone === undefined ? { url } : { url, zone };
          }),
          region: minio.region,
          provider: 'minio',
          credentials: { file: credentialsFile },
          ...(opts.balancing === undefined ? {} : { balancing: opts.balancing }),
        },
        ...(opts.extraStores ?? []).map((s) => ({
          ...s,
          region: minio.region,
          credentials: { file: credentialsFile },
        })),
      ],
      grants,
      ...opts.config,
    },
    configDir: dir,
  });
  const logs: Record<string, unknown>[] = [];
  let text = '';
  const dest = new Writable({
    write(chunk: Buffer, _e, cb) {
      const s = chunk.toString();
      text += s;
      for (const line of s.split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const proxy = await startProxy(config, { logDestination: dest, ...opts.proxyOptions });
  const clients: S3Client[] = [];
  return {
    minio,
    proxy,
    dir,
    credentialsFile,
    logs,
    logText: () => text,
    client(extra = {}) {
      const c = new S3Client({
        endpoint: proxy.url,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: CLIENT_KEYS,
        maxAttempts: 1,
        ...extra,
      });
      clients.push(c);
      return c;
    },
    direct() {
      const c = new S3Client({
        endpoint: minio.endpoints[0],
        region: minio.region,
        forcePathStyle: true,
        credentials: { accessKeyId: minio.rootUser, secretAccessKey: minio.rootPassword },
        maxAttempts: 1,
      });
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.destroy();
      await proxy.shutdown(1000);
      if (!opts.minio) await minio.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
