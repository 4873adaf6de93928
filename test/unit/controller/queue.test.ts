import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue, backoffDelay, type Timers } from '../../../operator/kube/queue.ts';

/** Manually driven timers: tests advance time, nothing sleeps. */
function fakeTimers(): Timers & { advance(ms: number): void; pending(): number } {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    setTimeout(fn, ms) {
      const id = ++seq;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout(h) {
      timers.delete(h as number);
    },
    advance(ms) {
      now += ms;
      for (const [id, t] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at <= now) {
          timers.delete(id);
          t.fn();
        }
      }
    },
    pending: () => timers.size,
  };
}

void describe('WorkQueue', () => {
  void test('a key waiting in the queue is queued once', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    assert.equal(q.length, 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
    assert.equal(q.length, 0);
  });

  void test('a key added while processing is not handed out twice, and is re-queued on done()', async () => {
    const q = new WorkQueue();
    q.add('a');
    const k = await q.get();
    q.add('a');
    assert.equal(q.length, 0, 'not handed to a second worker while processing');
    q.done(k as string);
    assert.equal(q.length, 1);
    assert.equal(await q.get(), 'a');
  });

  void test('a waiting get() receives the next add()', async () => {
    const q = new WorkQueue();
    const p = q.get();
    q.add('x');
    assert.equal(await p, 'x');
  });

  void test('per-key exponential backoff, reset by forget(); other keys unaffected', () => {
    const t = fakeTimers();
    const q = new WorkQueue({ baseBackoffMs: 100, maxBackoffMs: 1000, timers: t });
    assert.deepEqual(
      [1, 2, 3, 4, 5].map(() => q.addRateLimited('k')),
      [100, 200, 400, 800, 1000],
    );
    assert.equal(q.addRateLimited('other'), 100);
    q.forget('k');
    assert.equal(q.addRateLimited('k'), 100);
    assert.deepEqual(
      [0, 1, 2, 10, 60].map((n) => backoffDelay(n, 5, 1000)),
      [0, 5, 10, 1000, 1000],
    );
  });

  void test('addAfter: the earliest schedule wins and the key arrives once', () => {
    const t = fakeTimers();
    const q = new WorkQueue({ timers: t });
    q.addAfter('k', 500, 0);
    q.addAfter('k', 100, 0);
    q.addAfter('k', 900, 0);
    assert.equal(t.pending(), 1);
    t.advance(99);
    assert.equal(q.length, 0);
    t.advance(1);
    assert.equal(q.length, 1);
    t.advance(1000);
    assert.equal(q.length, 1);
  });

  void test('shutDown releases waiting workers and drops timers', async () => {
    const t = fakeTimers();
    const q = new WorkQueue({ timers: t });
    const p = q.get();
    q.addAfter('k', 10);
    q.shutDown();
    assert.equal(await p, undefined);
    assert.equal(t.pending(), 0);
    q.add('late');
    assert.equal(await q.get(), undefined);
  });

  void test('options are validated', () => {
    assert.throws(() => new WorkQueue({ baseBackoffMs: 0 }), RangeError);
    assert.throws(() => new WorkQueue({ baseBackoffMs: 10, maxBackoffMs: 5 }), RangeError);
  });
});
