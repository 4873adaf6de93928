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
