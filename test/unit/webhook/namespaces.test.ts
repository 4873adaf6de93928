import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import {
  API_CALL_DEADLINE_MS,
  cachedNamespaceLookup,
  kubeNamespaceLookup,
} from '../../../operator/webhook/namespaces.ts';

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

// The API client's own limit is 300 s: a webhook call stuck that long refused every pod of
// the namespace. The deadline rejects in time; the cache does not keep the failure.
void test('an API server that never answers: the lookup is rejected at its deadline', async () => {
  const sockets: Socket[] = [];
  const silent = createServer((c) => void sockets.push(c)); // accepts, reads, never answers
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  try {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: 'c',
          skipTLSVerify: true,
          server: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
        },
      ],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const lookup = cachedNamespaceLookup(kubeNamespaceLookup(kc));
    const started = performance.now();
    await assert.rejects(lookup('apps'), /namespace apps: no answer from the API server in 4000 ms/);
    assert.ok(performance.now() - started < API_CALL_DEADLINE_MS + 3_000);
  } finally {
    for (const c of sockets) c.destroy();
    silent.close();
  }
});
