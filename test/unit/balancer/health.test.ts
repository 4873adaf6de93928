import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HealthState } from '../../../proxy/balancer/health.ts';

const ok = { ok: true, at: 0 };
const bad = { ok: false, error: 'ECONNREFUSED', at: 0 };

void describe('health state machine (rise/fall)', () => {
  void test('starts pending and turns healthy only after `rise` consecutive successes', () => {
    const h = new HealthState(3, 2);
    assert.equal(h.status, 'pending');
    assert.equal(h.record(ok), false);
    assert.equal(h.record(ok), false);
    assert.equal(h.status, 'pending');
    assert.equal(h.record(ok), true);
    assert.equal(h.status, 'healthy');
  });

  void test('a failure in between restarts the count', () => {
    const h = new HealthState(2, 5);
    h.record(ok);
    h.record(bad);
    h.record(ok);
    assert.equal(h.status, 'pending');
    h.record(ok);
    assert.equal(h.status, 'healthy');
  });

  void test('a healthy backend flips only after `fall` consecutive failures', () => {
    const h = new HealthState(1, 3);
    h.record(ok);
    h.record(bad);
    h.record(bad);
    h.record(ok); // resets the failure run
    h.record(bad);
    h.record(bad);
    assert.equal(h.status, 'healthy');
    assert.equal(h.record(bad), true);
    assert.equal(h.status, 'unhealthy');
    assert.equal(h.consecutiveFailures, 3);
  });

  void test('a new backend that fails its checks goes pending → unhealthy, then rises back', () => {
    const h = new HealthState(2, 2);
    h.record(bad);
    h.record(bad);
    assert.equal(h.status, 'unhealthy');
    h.record(ok);
    assert.equal(h.status, 'unhealthy');
    h.record(ok);
    assert.equal(h.status, 'healthy');
    assert.deepEqual(h.lastResult, ok);
  });

  void test('rejects thresholds below 1', () => {
    assert.throws(() => new HealthState(0, 1), RangeError);
  });
});
