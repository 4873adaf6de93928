import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveBalancerOptions } from '../../../proxy/balancer/config.ts';
import { parseEndpoint, refreshDelayMs } from '../../../proxy/balancer/discovery.ts';
import { BalancerError } from '../../../proxy/balancer/errors.ts';
import type { StoreSpec } from '../../../proxy/config/types.ts';

const base: StoreSpec = {
  name: 's',
  endpoints: [{ url: 'http://127.0.0.1:9000' }],
  region: 'us-east-1',
  addressing: 'path',
  credentials: { file: 'x' },
};

void describe('balancer options', () => {
  void test('defaults: peak-EWMA, MinIO health path, 20% retry budget', () => {
    const o = resolveBalancerOptions(base);
    assert.equal(o.algorithm, 'peak-ewma');
    assert.equal(o.healthCheck.path, '/minio/health/live');
    assert.equal(o.retry.budgetPercent, 0.2);
  });

  void test('health checks by provider: MinIO (or unset) its liveness endpoint, 2xx/3xx; others the root, anything below 500', () => {
    for (const provider of [undefined, 'minio'] as const) {
      const h = resolveBalancerOptions({ ...base, provider }).healthCheck;
      assert.deepEqual([h.path, h.expectStatus, h.healthy], ['/minio/health/live', '200-399', [[200, 399]]]);
    }
    for (const provider of ['aws', 'ceph', 'vast', 'other'] as const) {
      const h = resolveBalancerOptions({ ...base, provider }).healthCheck;
      assert.deepEqual([h.path, h.expectStatus, h.healthy], ['/', '200-499', [[200, 499]]], provider);
    }
    // Unset on AWS's own endpoints: AWS (as the policy's reserved names take it).
    const aws = resolveBalancerOptions({
      ...base,
      endpoints: [{ url: 'https://s3.eu-west-1.amazonaws.com' }],
    });
    assert.deepEqual([aws.healthCheck.path, aws.healthCheck.expectStatus], ['/', '200-499']);
    // Each field set on its own overrides only itself.
    const own = resolveBalancerOptions({
      ...base,
      provider: 'ceph',
      balancing: { healthCheck: { path: '/swift/healthcheck' } },
    });
    assert.deepEqual([own.healthCheck.path, own.healthCheck.expectStatus], ['/swift/healthcheck', '200-499']);
    const listed = resolveBalancerOptions({
      ...base,
      balancing: { healthCheck: { expectStatus: '200,204,300-302' } },
    });
    assert.deepEqual(listed.healthCheck.healthy, [
      [200, 200],
      [204, 204],
      [300, 302],
    ]);
  });

  void test('the store spec overrides the sidecar defaults', () => {
    const o = resolveBalancerOptions(
      { ...base, balancing: { algorithm: 'round-robin', healthCheck: { rise: 4 } } },
      { healthCheck: { rise: 1, intervalMs: 100 } },
    );
    assert.deepEqual([o.algorithm, o.healthCheck.rise, o.healthCheck.intervalMs], ['round-robin', 4, 100]);
  });

  void test('invalid values fail at load with a CONFIG error naming the store and field', () => {
    const bad = [
      { healthCheck: { rise: 0 } },
      { healthCheck: { path: 'health' } },
      { outlier: { maxEjectionPercent: 120 } },
      { algorithm: 'random' as never },
      { dnsRefreshMs: -1 },
      { dnsAddressRetentionMs: -1 },
      { healthCheck: { path: '/a b' } },
      { healthCheck: { expectStatus: '499-200' } },
      { healthCheck: { expectStatus: '2xx' } },
      { healthCheck: { expectStatus: '200, 403' } },
      { healthCheck: { expectStatus: '600' } },
      { outlier: { maxEjectionMs: Number.NaN } as never },
    ];
    for (const balancing of bad) {
      assert.throws(
        () => resolveBalancerOptions({ ...base, balancing }),
        (e: unknown) =>
          e instanceof BalancerError && e.code === 'SLUICE_BALANCER_CONFIG' && e.message.includes('store s'),
        JSON.stringify(balancing),
      );
    }
  });
});

void test('a base ejection above the default maximum raises the maximum (an ejection never lasts less than its base)', () => {
  const o = resolveBalancerOptions({ ...base, balancing: { outlier: { baseEjectionMs: 600_000 } } });
  assert.equal(o.outlier.maxEjectionMs, 600_000);
});

void describe('endpoints', () => {
  void test('parses host, port and Host header; IP literals need no resolution', () => {
    const ep = parseEndpoint({ url: 'https://minio.example', zone: 'a' });
    assert.deepEqual(
      [ep.hostname, ep.port, ep.hostHeader, ep.zone, ep.literal],
      ['minio.example', 443, 'minio.example', 'a', undefined],
    );
    const v6 = parseEndpoint({ url: 'http://[::1]:9000' });
    assert.deepEqual(v6.literal, { address: '::1', family: 6 });
    assert.equal(v6.hostHeader, '[::1]:9000');
  });

  void test('rejects paths, credentials and other schemes', () => {
    assert.throws(() => parseEndpoint({ url: 'http://h/bucket' }), TypeError);
    assert.throws(() => parseEndpoint({ url: 'http://u:p@h' }), TypeError);
    assert.throws(() => parseEndpoint({ url: 'ftp://h' }), TypeError);
  });

  void test('refresh follows the configured interval, else the TTL clamped to 1 s..5 min', () => {
    assert.equal(refreshDelayMs(7_000, 60_000), 7_000);
    assert.equal(refreshDelayMs(undefined, 60_000), 60_000);
    assert.equal(refreshDelayMs(undefined, 0), 1_000);
    assert.equal(refreshDelayMs(undefined, 86_400_000), 300_000);
    assert.equal(refreshDelayMs(undefined, undefined), 30_000);
  });
});
