/**
 * A backend's 503 is held back while the balancer may still retry the request elsewhere
 * (ctx.holdForRetry). When no retry follows — one backend only, or none left untried — the
 * client must get the store's own answer (its error code, request id and Retry-After), not the
 * proxy's; and a held 503 too large to hold goes out as it is, not as a 500.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startFake } from './fake-backend.ts';
import type { FakeStack } from './fake-backend.ts';

const stacks: FakeStack[] = [];
after(() => Promise.all(stacks.map((s) => s.stop())));

const SLOW_DOWN = '<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';

/** A backend answering every object GET with 503 SlowDown (health checks get 200). */
async function slowDownStack(body: string, twoEndpoints: boolean): Promise<FakeStack> {
  const f = await startFake({}, undefined, (url) => ({
    endpoints: twoEndpoints ? [url, url.replace('127.0.0.1', 'localhost')] : [url],
  }));
  stacks.push(f);
  f.handle((req, res) => {
    if (!req.url?.startsWith('/fake-bucket/')) return res.end();
    res.writeHead(503, {
      'content-type': 'application/xml',
      'x-amz-request-id': 'STORE-REQ',
      'retry-after': '2',
    });
    res.end(body);
  });
  // Both backends checked healthy: the first request can choose between them.
  await (f.proxy.pools.get('fake') as unknown as { ready(): Promise<void> }).ready();
  return f;
}

const objectGets = (f: FakeStack): number => f.seen.filter((s) => s.url.startsWith('/fake-bucket/')).length;

void test('one backend: its 503 reaches the client untouched, and is not counted as a retry', async () => {
  const f = await slowDownStack(SLOW_DOWN, false);
  const r = await request(`${f.proxy.url}/fake-bucket/k`);
  assert.equal(r.statusCode, 503);
  assert.equal(r.headers['x-amz-request-id'], 'STORE-REQ');
  assert.equal(r.headers['retry-after'], '2');
  assert.equal(await r.body.text(), SLOW_DOWN);
  assert.equal(objectGets(f), 1);
  const metrics = await f.proxy.metrics.registry.metrics();
  assert.doesNotMatch(metrics, /^sluice_balancer_retries_total\{[^}]*\} [1-9]/m);
});

void test('two backends, both 503: retried once, then the second answer goes out as the store wrote it', async () => {
  const f = await slowDownStack(SLOW_DOWN, true);
  const r = await request(`${f.proxy.url}/fake-bucket/k`);
  assert.equal(r.statusCode, 503);
  assert.equal(r.headers['x-amz-request-id'], 'STORE-REQ');
  assert.equal(await r.body.text(), SLOW_DOWN);
  assert.equal(objectGets(f), 2);
});

void test('a held 503 larger than the hold limit is streamed to the client, not turned into a 500', async () => {
  const big = `<Error><Code>SlowDown</Code><Message>${'x'.repeat(200 * 1024)}</Message></Error>`;
  const f = await slowDownStack(big, true);
  const r = await request(`${f.proxy.url}/fake-bucket/k`);
  assert.equal(r.statusCode, 503);
  assert.equal(r.headers['x-amz-request-id'], 'STORE-REQ');
  assert.equal(await r.body.text(), big);
  assert.equal(objectGets(f), 1, 'its head went out: no retry');
});
