/**
 * A hostname endpoint's backends are its resolved IPs. When they rotate (a cloud store's DNS, a
 * headless Service whose pods restart), the series of backends that left must go with them:
 * per-backend counters kept for every IP ever seen would grow without bound.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Registry } from 'prom-client';
import { Balancer } from '../../../proxy/balancer/balancer.ts';
import type { StorePool } from '../../../proxy/balancer/pool.ts';
import type { ProxyTimeouts } from '../../../proxy/config/types.ts';
import { ProxyMetrics } from '../../../proxy/metrics.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createContext } from '../../../proxy/pipeline/context.ts';
import { recordRequestMetrics } from '../../../proxy/pipeline/finish.ts';

const timeouts: ProxyTimeouts = {
  requestHeaderTimeoutMs: 0,
  clientIdleMs: 0,
  keepAliveIdleMs: 0,
  backendConnectMs: 1000,
  backendFirstByteMs: 0,
  backendIdleMs: 0,
};

void test('backends that leave with a DNS change take their series along; live ones keep theirs', async () => {
  let generation = 0;
  const resolver = {
    resolve: () =>
      Promise.resolve({
        addresses: [0, 1, 2].map((i) => ({ address: `10.0.${generation}.${i}`, family: 4 as const })),
        ttlMs: 5000,
      }),
  };
  const proxyMetrics = new ProxyMetrics();
  const registry: Registry = proxyMetrics.registry;
  const balancer = new Balancer({
    registry,
    forgetBackend: (id) => proxyMetrics.forgetBackend(id),
    deps: { resolver, prober: () => Promise.resolve({ ok: true, at: 0 }) },
  });
  const live = balancer.start(
    {
      version: 1,
      stores: [
        {
          name: 's3',
          endpoints: [{ url: 'https://s3.example.com' }],
          region: 'r',
          addressing: 'path',
          credentials: { file: '/x' },
          // Each answer replaces the last (no addresses kept from earlier answers).
          balancing: { dnsAddressRetentionMs: 0 },
        },
      ],
      grants: [],
    },
    timeouts,
  );
  try {
    const pool = live.get('s3') as StorePool;
    await pool.ready();
    const series = async (name: string): Promise<string[]> =>
      (await registry.metrics()).split('\n').filter((l) => l.startsWith(`${name}{`));
    for (let i = 0; i < 20; i++) {
      generation++;
      await pool.resolveNow();
      await pool.checkNow();
      // Requests answered by each live backend, as the finish phase counts them.
      for (const b of pool.backends()) {
        proxyMetrics.requestsOf('GetObject', '2xx', b.id).inc();
        proxyMetrics.backendHeadersOf(b.id).observe(0.001);
      }
    }
    // A request in flight on a backend when its address leaves DNS finishes after the backend's
    // series were dropped: it must not bring them back.
    const leaving = pool.backends()[0]!;
    const ctx = createContext('R', {} as IncomingMessage, {} as ServerResponse, false, false);
    Object.assign(ctx, { backend: leaving, operation: 'GetObject', status: 200, backendHeadersMs: 1 });
    proxyMetrics.inFlightCount++;
    generation++;
    await pool.resolveNow();
    await pool.checkNow();
    assert.ok(!pool.backends().includes(leaving));
    recordRequestMetrics(ctx, 2, proxyMetrics);
    assert.equal(proxyMetrics.inFlightCount, 0);
    const afterLeaving = await series('sluice_proxy_requests_total');
    assert.ok(!afterLeaving.some((l) => l.includes(leaving.id)), afterLeaving.join('\n'));
    assert.ok(
      afterLeaving.some((l) => l.includes('backend="draining"')),
      `the request is still counted: ${afterLeaving.join('\n')}`,
    );
    const drainingHeaders = (await series('sluice_proxy_backend_response_headers_seconds_count')).filter(
      (l) => l.includes('backend="draining"'),
    );
    assert.equal(drainingHeaders.length, 1);
    for (const b of pool.backends()) {
      proxyMetrics.requestsOf('GetObject', '2xx', b.id).inc();
      proxyMetrics.backendHeadersOf(b.id).observe(0.001);
    }

    const ids = pool.backends().map((b) => b.id);
    assert.equal(ids.length, 3);
    const checks = await series('sluice_balancer_health_checks_total');
    assert.ok(checks.length <= 3 * 2, `${checks.length} health-check series for 3 backends`);
    assert.ok(
      checks.every((l) => ids.some((id) => l.includes(`backend="${id}"`))),
      checks.join('\n'),
    );
    const requests = (await series('sluice_proxy_requests_total')).filter((l) => !l.includes('"draining"'));
    assert.equal(requests.length, 3, requests.join('\n'));
    const headers = (await series('sluice_proxy_backend_response_headers_seconds_count')).length;
    assert.equal(headers, 3 + 1, 'the live backends and draining');
  } finally {
    await balancer.close();
  }
});
