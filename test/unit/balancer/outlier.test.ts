import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OutlierState } from '../../../proxy/balancer/outlier.ts';

const opts = {
  consecutive5xx: 3,
  consecutiveConnectFailures: 2,
  baseEjectionMs: 1_000,
  maxEjectionMs: 2_500,
};
const yes = (): boolean => true;
const e500 = { status: 500, headersMs: 1 };
const ok = { status: 200, headersMs: 1 };
const refused = { failure: 'connect' as const };

void describe('passive outlier ejection', () => {
  void test('ejects after N consecutive 5xx, for the base time', () => {
    const o = new OutlierState(opts);
    assert.equal(o.record(e500, 0, yes), 0);
    assert.equal(o.record(e500, 0, yes), 0);
    assert.equal(o.record(e500, 0, yes), 1_000);
    assert.ok(o.isEjected(999));
    assert.ok(!o.isEjected(1_000));
    assert.equal(o.ejections, 1);
  });

  void test('a success breaks the run; 4xx counts as a success', () => {
    const o = new OutlierState(opts);
    o.record(e500, 0, yes);
    o.record(e500, 0, yes);
    o.record({ status: 404, headersMs: 1 }, 0, yes);
    o.record(e500, 0, yes);
    o.record(e500, 0, yes);
    assert.ok(!o.isEjected(0));
  });

  void test('waits for our own free connection (queued) never eject a backend', () => {
    const o = new OutlierState(opts);
    for (let i = 0; i < 5; i++) assert.equal(o.record({ failure: 'queued' }, 0, yes), 0);
    assert.ok(!o.isEjected(0));
  });

  void test('timeouts and resets count as 5xx, also after headers (a body the node broke off)', () => {
    for (const failures of [
      [{ failure: 'timeout' as const }, { failure: 'reset' as const }, { failure: 'timeout' as const }],
      [{ status: 200, failure: 'reset' as const }, e500, { status: 200, failure: 'timeout' as const }],
    ]) {
      const o = new OutlierState(opts);
      const durations = failures.map((f) => o.record(f, 0, yes));
      assert.deepEqual(durations, [0, 0, 1_000]);
    }
  });

  void test('a node the health checks saw recover is back at once (uneject)', () => {
    const o = new OutlierState(opts);
    for (let i = 0; i < 3; i++) o.record(e500, 0, yes);
    assert.ok(o.isEjected(500));
    o.uneject(500);
    assert.ok(!o.isEjected(500));
    assert.equal(o.record(e500, 600, yes), 0, 'the run starts over');
  });

  void test('consecutive connect failures eject on their own threshold', () => {
    const o = new OutlierState(opts);
    o.record(refused, 0, yes);
    assert.equal(o.record(refused, 0, yes), 1_000);
  });

  void test('each repeat ejects for base x count, capped at the maximum', () => {
    const o = new OutlierState(opts);
    let now = 0;
    const durations: number[] = [];
    for (let round = 0; round < 4; round++) {
      o.record(refused, now, yes);
      const d = o.record(refused, now, yes);
      durations.push(d);
      now += d; // back in service exactly when the ejection ends, failing again at once
    }
    assert.deepEqual(durations, [1_000, 2_000, 2_500, 2_500]);
  });

  void test('time back in service earns the multiplier down', () => {
    const o = new OutlierState(opts);
    o.record(refused, 0, yes);
    o.record(refused, 0, yes); // ejected 0..1000, multiplier 1
    o.record(refused, 1_000, yes);
    o.record(refused, 1_000, yes); // ejected 1000..3000, multiplier 2
    // 2 s healthy after returning at 3000: the multiplier drops by 2 before this ejection.
    o.record(refused, 5_000, yes);
    assert.equal(o.record(refused, 5_000, yes), 1_000);
  });

  void test('no ejection when the pool refuses it (max ejected percent); the run keeps counting', () => {
    const o = new OutlierState(opts);
    o.record(refused, 0, () => false);
    assert.equal(
      o.record(refused, 0, () => false),
      0,
    );
    assert.ok(!o.isEjected(0));
    assert.equal(o.record(refused, 1, yes), 1_000);
  });

  void test('outcomes during an ejection do not extend it', () => {
    const o = new OutlierState(opts);
    o.record(refused, 0, yes);
    o.record(refused, 0, yes);
    o.record(refused, 500, yes);
    o.record(refused, 500, yes);
    assert.equal(o.ejectedUntil, 1_000);
    assert.ok(o.record(ok, 1_500, yes) === 0 && !o.isEjected(1_500));
  });
});
