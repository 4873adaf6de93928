import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock, seededRandom } from '../../../proxy/balancer/random.ts';
import { RetryBudget } from '../../../proxy/balancer/retry-budget.ts';
import { backoffMs, retryVerdict } from '../../../proxy/balancer/retry.ts';

const get = { method: 'GET', bodyReplayable: true, bodySent: false, responseStarted: false };

void describe('retry decision', () => {
  void test('failures before any response byte are retried for an idempotent request', () => {
    assert.deepEqual(retryVerdict(get, { failure: 'connect' }), { retry: true, reason: 'connect' });
    assert.deepEqual(retryVerdict(get, { failure: 'reset' }), { retry: true, reason: 'reset' });
    assert.deepEqual(retryVerdict(get, { failure: 'timeout' }), { retry: true, reason: 'timeout' });
    assert.deepEqual(retryVerdict(get, { status: 503, headersMs: 3 }), { retry: true, reason: 'slow-down' });
  });

  void test('a wait for a free connection that timed out sent nothing: retried, a PUT included', () => {
    assert.deepEqual(retryVerdict(get, { failure: 'queued' }), { retry: true, reason: 'queued' });
    const put = { method: 'PUT', bodyReplayable: false, bodySent: false, responseStarted: false };
    assert.equal(retryVerdict(put, { failure: 'queued' }).retry, true);
  });

  void test('a real answer is never retried, 5xx other than 503 included', () => {
    for (const status of [200, 404, 500, 502]) {
      assert.equal(retryVerdict(get, { status, headersMs: 1 }).retry, false, String(status));
    }
    assert.equal(retryVerdict(get, { failure: 'other' }).retry, false);
  });

  void test('nothing is retried once the client has seen a response byte', () => {
    assert.deepEqual(retryVerdict({ ...get, responseStarted: true }, { failure: 'reset' }), {
      retry: false,
      reason: 'response-started',
    });
  });

  void test('POST is never retried', () => {
    assert.equal(retryVerdict({ ...get, method: 'POST' }, { failure: 'connect' }).reason, 'unsafe-method');
  });

  void test('a PUT is retried after a refused connection if its body was not sent, or can be sent again', () => {
    const put = { method: 'PUT', bodyReplayable: false, bodySent: false, responseStarted: false };
    assert.equal(retryVerdict(put, { failure: 'connect' }).retry, true);
    assert.equal(retryVerdict({ ...put, bodySent: true }, { failure: 'connect' }).reason, 'body-consumed');
    assert.equal(
      retryVerdict({ ...put, bodySent: true, bodyReplayable: true }, { failure: 'connect' }).retry,
      true,
    );
  });

  void test('PUT and DELETE are not repeated once the backend may have processed them', () => {
    // A repeated CreateBucket would answer 409 BucketAlreadyOwnedByYou for a request that worked.
    for (const method of ['PUT', 'DELETE']) {
      const req = { method, bodyReplayable: true, bodySent: false, responseStarted: false };
      for (const outcome of [
        { failure: 'reset' as const },
        { failure: 'timeout' as const },
        { status: 503 },
      ]) {
        assert.deepEqual(retryVerdict(req, outcome), { retry: false, reason: 'maybe-processed' });
      }
    }
  });
});

void describe('retry budget', () => {
  const opts = { percent: 0.2, minPerSecond: 1, windowMs: 10_000 };

  void test('allows the per-second floor with no traffic, then refuses', () => {
    const budget = new RetryBudget(opts, new ManualClock());
    let allowed = 0;
    while (budget.tryWithdraw()) allowed++;
    assert.equal(allowed, 10); // 1/s over a 10 s window
  });

  void test('adds 20% of the requests in the window', () => {
    const budget = new RetryBudget({ ...opts, minPerSecond: 0 }, new ManualClock());
    for (let i = 0; i < 100; i++) budget.deposit();
    let allowed = 0;
    while (budget.tryWithdraw()) allowed++;
    assert.equal(allowed, 20);
  });

  void test('the window slides: old requests and retries expire', () => {
    const clock = new ManualClock();
    const budget = new RetryBudget({ ...opts, minPerSecond: 0 }, clock);
    for (let i = 0; i < 50; i++) budget.deposit();
    while (budget.tryWithdraw());
    assert.equal(budget.tryWithdraw(), false);
    clock.advance(10_000);
    assert.equal(budget.balance(), 0);
    for (let i = 0; i < 10; i++) budget.deposit();
    assert.equal(budget.tryWithdraw(), true);
    assert.equal(budget.tryWithdraw(), true);
    assert.equal(budget.tryWithdraw(), false);
  });

  void test('under sustained failure, retries stay within 20% of requests (plus the floor)', () => {
    const clock = new ManualClock();
    const budget = new RetryBudget(opts, clock);
    let requests = 0;
    let retries = 0;
    for (let ms = 0; ms < 60_000; ms += 10) {
      clock.advance(10);
      budget.deposit();
      requests++;
      if (budget.tryWithdraw()) retries++;
    }
    assert.ok(retries <= requests * 0.2 + 60 + 10, `${retries} retries for ${requests} requests`);
    assert.ok(retries >= requests * 0.2, `${retries}`);
  });

  void test('rejects nonsense options', () => {
    assert.throws(() => new RetryBudget({ ...opts, windowMs: 0 }, new ManualClock()), RangeError);
  });
});

void describe('backoff', () => {
  void test('full jitter within an exponentially growing, capped ceiling', () => {
    const random = seededRandom(11);
    const o = { baseMs: 10, maxMs: 100 };
    for (let retry = 1; retry <= 6; retry++) {
      const ceiling = Math.min(100, 10 * 2 ** (retry - 1));
      for (let i = 0; i < 200; i++) {
        const d = backoffMs(retry, o, random);
        assert.ok(d >= 0 && d <= ceiling, `retry ${retry}: ${d}`);
      }
    }
    assert.equal(backoffMs(3, o, () => 0.999999) > 39, true);
  });
});
