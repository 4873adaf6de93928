import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { Balancer } from '../../../proxy/balancer/balancer.ts';
import type { StorePool } from '../../../proxy/balancer/pool.ts';
import { seededRandom } from '../../../proxy/balancer/random.ts';
import type { AttemptOutcome, Backend } from '../../../proxy/balancer/types.ts';
import type { ProxyTimeouts, StoreSpec } from '../../../proxy/config/types.ts';
import type { RequestContext } from '../../../proxy/pipeline/context.ts';
import type { AttemptResult } from '../../../proxy/pipeline/forward.ts';

// The retry loop over a real StorePool; attempts are scripted (no backend is dialled), the
// request context carries only what the runner reads.

const timeouts: ProxyTimeouts = {
  requestHeaderTimeoutMs: 0,
  clientIdleMs: 0,
  keepAliveIdleMs: 0,
  backendConnectMs: 1_000,
  backendFirstByteMs: 0,
  backendIdleMs: 0,
};
const spec: StoreSpec = {
  name: 'minio',
  endpoints: [1, 2, 3, 4].map((i) => ({ url: `http://127.0.0.${i}:9000` })),
  region: 'us-east-1',
  addressing: 'path',
  credentials: { file: 'x' },
};

const registry = new Registry();
const noBackoff = { backoffBaseMs: 0, backoffMaxMs: 0 };
const balancer = new Balancer({
  registry,
  defaults: { retry: { ...noBackoff, budgetMinPerSecond: 1_000 } },
  deps: { prober: false, random: seededRandom(3) },
});
// 50% budget and no per-second floor: 10 requests earn 5 retries.
const stingyRegistry = new Registry();
const stingy = new Balancer({
  registry: stingyRegistry,
  defaults: { retry: { ...noBackoff, budgetMinPerSecond: 0, budgetPercent: 0.5 } },
  deps: { prober: false, random: seededRandom(3) },
});
after(() => Promise.all([...balancer.pools(), ...stingy.pools()].map((p) => p.close())));

function ctxFor(method: string, body?: PassThrough, bytesIn = 0): RequestContext {
  return {
    req: { method },
    res: { headersSent: false, destroyed: false },
    upstream: { method, body },
    bytesIn,
  } as unknown as RequestContext;
}

/** An attempt that fails with `outcome` on backends in `bad`, and responds on the others. */
function scripted(bad: (b: Backend) => boolean, outcome: AttemptOutcome) {
  const tried: Backend[] = [];
  const attempt = (b: Backend): Promise<AttemptResult> => {
    tried.push(b);
    return Promise.resolve(
      bad(b)
        ? { outcome, responded: false, error: new Error('failed') as never }
        : { outcome: { status: 200, headersMs: 1 }, responded: true, error: undefined },
    );
  };
  return { tried, attempt };
}

async function freshPool(): Promise<StorePool> {
  const pool = balancer.poolFactory(spec, timeouts);
  await pool.ready();
  return pool;
}

void describe('retrying runner', () => {
  void test('a GET refused by one node is retried on a different one and succeeds', async () => {
    const pool = await freshPool();
    const dead = pool.pick()!;
    const { tried, attempt } = scripted((b) => b === dead, { failure: 'connect' });
    // Make sure the first attempt lands on the dead node: exclude nothing, but pick until it does.
    let result: AttemptResult | undefined;
    for (let i = 0; i < 20 && !tried.includes(dead); i++) {
      result = await balancer.runner(ctxFor('GET'), pool, attempt);
    }
    assert.ok(tried.includes(dead));
    assert.equal(result!.responded, true);
    const i = tried.indexOf(dead);
    assert.notEqual(tried[i + 1], dead);
  });

  void test('round-robin stays round-robin: asking whether a retry could follow moves no cursor', async () => {
    const pool = balancer.poolFactory({ ...spec, balancing: { algorithm: 'round-robin' } }, timeouts);
    await pool.ready();
    const { tried, attempt } = scripted(() => false, { failure: 'connect' });
    for (let i = 0; i < 8; i++) await balancer.runner(ctxFor('GET'), pool, attempt);
    const perBackend = new Map<Backend, number>();
    for (const b of tried) perBackend.set(b, (perBackend.get(b) ?? 0) + 1);
    assert.deepEqual([...perBackend.values()], [2, 2, 2, 2], 'each of the four backends twice');
  });

  void test('every attempt of one request goes to a different backend, up to maxAttempts', async () => {
    const pool = await freshPool();
    const { tried, attempt } = scripted(() => true, { failure: 'reset' });
    const result = await balancer.runner(ctxFor('HEAD'), pool, attempt);
    assert.equal(tried.length, pool.options.retry.maxAttempts);
    assert.equal(new Set(tried).size, tried.length);
    assert.equal(result!.responded, false);
  });

  void test('a POST is never retried', async () => {
    const pool = await freshPool();
    const { tried, attempt } = scripted(() => true, { failure: 'connect' });
    await balancer.runner(ctxFor('POST'), pool, attempt);
    assert.equal(tried.length, 1);
  });

  void test('a PUT whose body was already read is not retried; one whose body was untouched is', async () => {
    const pool = await freshPool();
    const a = scripted(() => true, { failure: 'reset' });
    await balancer.runner(ctxFor('PUT', new PassThrough(), 10), pool, a.attempt);
    assert.equal(a.tried.length, 1);
    const b = scripted(() => true, { failure: 'connect' });
    await balancer.runner(ctxFor('PUT', new PassThrough(), 0), pool, b.attempt);
    assert.equal(b.tried.length, 3);
  });

  void test('a real answer (500) is not retried', async () => {
    const pool = await freshPool();
    const { tried, attempt } = scripted(() => true, { status: 500, headersMs: 1 });
    await balancer.runner(ctxFor('GET'), pool, attempt);
    assert.equal(tried.length, 1);
  });

  void test('the budget caps retries and counts refusals', async () => {
    const pool = stingy.poolFactory(spec, timeouts);
    await pool.ready();
    const { tried, attempt } = scripted(() => true, { failure: 'connect' });
    for (let i = 0; i < 10; i++) await stingy.runner(ctxFor('GET'), pool, attempt);
    assert.equal(tried.length, 10 + 5);
    const text = await stingyRegistry.metrics();
    assert.match(text, /sluice_balancer_retry_budget_exhausted_total\{store="minio"\} [1-9]/);
    assert.match(text, /sluice_balancer_retries_total\{store="minio",reason="connect"\} \d+/);
  });

  void test('no backend at all → undefined (the proxy answers 503)', async () => {
    const pool = await freshPool();
    await pool.close();
    const { attempt } = scripted(() => false, {});
    assert.equal(await balancer.runner(ctxFor('GET'), pool, attempt), undefined);
  });
});

void describe('metrics and /debug/backends', () => {
  void test('per-backend gauges and the debug document cover every live pool', async () => {
    const pool = await freshPool();
    const b = pool.backends()[0]!;
    pool.start(b);
    const text = await registry.metrics();
    assert.match(
      text,
      new RegExp(`sluice_balancer_backend_in_flight_requests\\{store="minio",backend="${b.id}",zone=""\\} 1`),
    );
    assert.match(text, /sluice_balancer_backend_state\{[^}]*state="healthy"\} 1/);
    assert.match(text, /sluice_balancer_backend_latency_ewma_seconds\{/);
    const doc = balancer.snapshot();
    const mine = doc.stores.find((s) => s.backends.some((x) => x.id === b.id && x.inFlight === 1));
    assert.ok(mine);
    assert.equal(mine.algorithm, 'peak-ewma');
    assert.deepEqual(mine.healthCheck, { path: '/minio/health/live', expectStatus: '200-399' });
    pool.finish(b, { status: 200, headersMs: 2 });
  });
});
