import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cachedNamespaceLookup } from '../../../operator/webhook/namespaces.ts';

void test('namespace lookups: cached for the TTL, shared while in flight, errors not cached', async () => {
  let now = 0;
  const calls: string[] = [];
  let fail = false;
  const events: string[] = [];
  const lookup = cachedNamespaceLookup(
    (name) => {
      calls.push(name);
      if (fail) return Promise.reject(new Error('boom'));
      return Promise.resolve(name === 'gone' ? undefined : { n: name });
    },
    { ttlMs: 1000, now: () => now, onLookup: (r) => events.push(r) },
  );
  const [a, b] = await Promise.all([lookup('x'), lookup('x')]);
  assert.deepEqual(a, { n: 'x' });
  assert.equal(a, b);
  assert.deepEqual(calls, ['x'], 'concurrent misses share one request');
  assert.equal(await lookup('gone'), undefined);
  assert.equal(await lookup('gone'), undefined);
  assert.deepEqual(calls, ['x', 'gone'], 'a missing namespace is cached too');
  now = 1000;
  fail = true;
  await assert.rejects(lookup('x'), /boom/);
  fail = false;
  assert.deepEqual(await lookup('x'), { n: 'x' });
  assert.deepEqual(calls, ['x', 'gone', 'x', 'x']);
  assert.ok(events.includes('hit') && events.includes('miss') && events.includes('error'));
});
