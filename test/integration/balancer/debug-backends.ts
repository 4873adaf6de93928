/** Reads a proxy's /debug/backends the way the balancer integration tests look at it. */
import assert from 'node:assert/strict';
import type { PoolSnapshot } from '../../../proxy/balancer/index.ts';
import type { MinioCluster } from '../../testbed/minio.ts';

export type BackendSnapshot = PoolSnapshot['backends'][number];

/**
 * Balancer settings for the integration tests: checks every 200 ms so the tests move on quickly
 * (production defaults are 5 s); three failures in a row, not two, before a node counts as down,
 * so one slow probe on 2 busy shared cores never takes a healthy node out.
 */
export const FAST_CHECKS = {
  balancer: {
    defaults: {
      healthCheck: { intervalMs: 200, timeoutMs: 1_000, rise: 2, fall: 3 },
      outlier: { baseEjectionMs: 2_000 },
    },
  },
};

/** One store's pool as /debug/backends shows it now. */
export async function poolSnapshot(adminUrl: string, store: string): Promise<PoolSnapshot> {
  const res = await fetch(`${adminUrl}/debug/backends`);
  assert.equal(res.status, 200);
  const doc = (await res.json()) as { stores: PoolSnapshot[] };
  const pool = doc.stores.find((s) => s.store === store);
  assert.ok(pool, `store ${store} in /debug/backends`);
  return pool;
}

/** The store's backend for MinIO node i (its origin is the node's relay url). */
export async function nodeBackend(
  adminUrl: string,
  store: string,
  minio: MinioCluster,
  i: number,
): Promise<BackendSnapshot> {
  const b = (await poolSnapshot(adminUrl, store)).backends.find((x) => x.origin === minio.nodes[i]!.url);
  assert.ok(b, `node ${i} is a backend of ${store}`);
  return b;
}

/** Attempts finished per MinIO node in the store, in node order. */
export async function attemptsPerNode(
  adminUrl: string,
  store: string,
  minio: MinioCluster,
): Promise<number[]> {
  const backends = (await poolSnapshot(adminUrl, store)).backends;
  return minio.nodes.map((n) => backends.find((b) => b.origin === n.url)?.attempts ?? 0);
}
