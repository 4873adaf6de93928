// Reconciling the live pools with a new policy document (Balancer.plan), against real node:http
// backends on port 0: stores added and removed, endpoints added and removed in place, the zone
// followed, settings rebuilt — and never a request in flight dropped. No timed assertions: every
// wait is on an event (a response, a drain promise) or a bounded poll.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import type { PodPolicyDocument, ProxyTimeouts, StoreSpec } from '../../../proxy/config/types.ts';
import { Balancer } from '../../../proxy/balancer/balancer.ts';
import type { BackendNode } from '../../../proxy/balancer/backend.ts';
import { StorePool } from '../../../proxy/balancer/pool.ts';
import { seededRandom } from '../../../proxy/balancer/random.ts';
import { upstreamRequest } from '../../testbed/upstream.ts';

const TIMEOUTS: ProxyTimeouts = {
  requestHeaderTimeoutMs: 0,
  clientIdleMs: 0,
  keepAliveIdleMs: 0,
  backendConnectMs: 1_000,
  backendFirstByteMs: 0,
  backendIdleMs: 0,
};

/** A backend: answers health checks, counts S3 requests, can hold them until released. */
interface TestBackend {
  url: string;
  hits: number;
  /** Holds the next requests until release() (resolves when one arrived). */
  hold(): Promise<void>;
  release(): void;
  server: Server;
}

const servers: Server[] = [];
const balancers: Balancer[] = [];
after(async () => {
  await Promise.all(balancers.map((b) => b.close()));
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function backend(): Promise<TestBackend> {
  let holding = false;
  let arrived: (() => void) | undefined;
  const held: (() => void)[] = [];
  const server = createServer((req, res) => {
    if (req.url === '/minio/health/live') return void res.end();
    b.hits += 1;
    const answer = () => res.end(`hello from ${b.url}`);
    if (!holding) return answer();
    held.push(answer);
    arrived?.();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  const b: TestBackend = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits: 0,
    server,
    hold: () => {
      holding = true;
      return new Promise<void>((r) => (arrived = r));
    },
    release: () => {
      holding = false;
      for (const f of held.splice(0)) f();
    },
  };
  return b;
}

function spec(name: string, urls: string[], extra: Partial<StoreSpec> = {}, zones?: string[]): StoreSpec {
  return {
    name,
    endpoints: urls.map((url, i) => (zones?.[i] ? { url, zone: zones[i] } : { url })),
    region: 'us-east-1',
    addressing: 'path',
    credentials: { file: `/creds/${name}.json` },
    // Round-robin: which backend a sequential request lands on does not depend on latency.
    balancing: { algorithm: 'round-robin' },
    ...extra,
  };
}

function doc(stores: StoreSpec[], zone?: string): PodPolicyDocument {
  return { version: 1, stores, grants: [], ...(zone ? { zone } : {}) };
}

function makeBalancer(): Balancer {
  const b = new Balancer({
    // Checks run when the test says (checkNow); the interval only keeps them going meanwhile.
    defaults: { healthCheck: { rise: 1, fall: 1, intervalMs: 60_000 } },
    deps: { random: seededRandom(7) },
  });
  balancers.push(b);
  return b;
}

function poolOf(balancer: Balancer, store: string): StorePool {
  const p = balancer.live.get(store);
  assert.ok(p instanceof StorePool, `a pool for ${store}`);
  return p;
}

/** One real request through the pool, as the request path makes it. */
async function send(pool: StorePool, backend?: BackendNode): Promise<{ origin: string; body: string }> {
  const b = backend ?? pool.pick();
  assert.ok(b, 'a backend to send to');
  pool.start(b);
  const res = await upstreamRequest(b.dispatcher, { path: '/bucket/key' });
  pool.finish(b, { status: res.statusCode, headersMs: 1 });
  return { origin: b.origin, body: res.body.toString() };
}

void describe('Balancer.plan: stores', () => {
  void test('an empty start, then a store added: its pool serves at once and is health-checked', async () => {
    const a = await backend();
    const balancer = makeBalancer();
    const live = balancer.start(doc([]), TIMEOUTS);
    assert.equal(live.size, 0);
    const plan = balancer.plan(doc([spec('s1', [a.url])]), TIMEOUTS);
    assert.deepEqual([plan.added, plan.updated, plan.rebuilt, plan.removed], [['s1'], [], [], []]);
    assert.equal(live.size, 0, 'planning changes nothing');
    plan.open();
    assert.equal(live, balancer.live, 'the request path keeps the same map object');
    const pool = poolOf(balancer, 's1');
    // Before its first check the backend is pending and the pool in panic mode: it takes traffic.
    assert.equal((await send(pool)).body, `hello from ${a.url}`);
    await pool.ready();
    assert.deepEqual(
      pool.backends().map((b) => b.state),
      ['healthy'],
    );
    assert.equal(pool.pick()?.origin, a.url);
    assert.equal(pool.panic, false, 'healthy after its first check');
    await plan.retire();
  });

  void test('a store removed drains: its in-flight request completes, then the pool closes and leaves', async () => {
    const a = await backend();
    const balancer = makeBalancer();
    balancer.start(doc([spec('s1', [a.url]), spec('s2', [a.url])]), TIMEOUTS);
    const pool = poolOf(balancer, 's1');
    await pool.ready();
    const arrived = a.hold();
    const inflight = send(pool);
    await arrived;
    const plan = balancer.plan(doc([spec('s2', [a.url])]), TIMEOUTS);
    assert.deepEqual(plan.removed, ['s1']);
    plan.open();
    let drained = false;
    const retired = plan.retire().then(() => (drained = true));
    assert.equal(pool.draining, true);
    assert.equal(pool.pick(), undefined, 'no new attempt on a retiring pool');
    assert.equal(balancer.live.get('s1'), pool, 'still routable (503, not 500) until drained');
    await new Promise((r) => setImmediate(r));
    assert.equal(drained, false, 'a request in flight holds the drain');
    a.release();
    assert.equal((await inflight).body, `hello from ${a.url}`);
    await retired;
    assert.equal(pool.closed, true);
    assert.equal(balancer.live.has('s1'), false);
    assert.ok(balancer.live.has('s2'));
    assert.deepEqual(
      balancer.snapshot().stores.map((s) => s.store),
      ['s2'],
    );
  });

  void test('a store removed and added back before its drain ends gets a fresh pool', async () => {
    const a = await backend();
    const balancer = makeBalancer();
    balancer.start(doc([spec('s1', [a.url])]), TIMEOUTS);
    const old = poolOf(balancer, 's1');
    const arrived = a.hold();
    const inflight = send(old);
    await arrived;
    const removal = balancer.plan(doc([]), TIMEOUTS);
    removal.open();
    const retired = removal.retire();
    const back = balancer.plan(doc([spec('s1', [a.url])]), TIMEOUTS);
    assert.deepEqual(back.added, ['s1']);
    back.open();
    const fresh = poolOf(balancer, 's1');
    assert.notEqual(fresh, old);
    a.release();
    await inflight;
    await retired;
    assert.equal(balancer.live.get('s1'), fresh, 'the old drain does not remove the new pool');
    assert.equal((await send(fresh)).origin, a.url);
  });

  void test('bad options reject the whole plan and change nothing', async () => {
    const a = await backend();
    const balancer = makeBalancer();
    balancer.start(doc([spec('s1', [a.url])]), TIMEOUTS);
    const before = balancer.live.get('s1');
    const bad = spec('s2', [a.url], { balancing: { algorithm: 'fastest' as never } });
    assert.throws(
      () => balancer.plan(doc([spec('s1', [a.url]), bad]), TIMEOUTS),
      /store s2: unknown algorithm/,
    );
    assert.throws(
      () => balancer.plan(doc([spec('s1', ['ftp://127.0.0.1:1'])]), TIMEOUTS),
      /store s1: endpoints\[0\]/,
    );
    assert.deepEqual([...balancer.live.keys()], ['s1']);
    assert.equal(balancer.live.get('s1'), before);
  });

  void test('a settings change rebuilds the pool; the old one drains', async () => {
    const a = await backend();
    const balancer = makeBalancer();
    balancer.start(doc([spec('s1', [a.url])]), TIMEOUTS);
    const old = poolOf(balancer, 's1');
    const plan = balancer.plan(
      doc([spec('s1', [a.url], { balancing: { algorithm: 'least-in-flight' } })]),
      TIMEOUTS,
    );
    assert.deepEqual(plan.rebuilt, ['s1']);
    plan.open();
    const fresh = poolOf(balancer, 's1');
    assert.notEqual(fresh, old);
    assert.equal(fresh.options.algorithm, 'least-in-flight');
    await plan.retire();
    assert.equal(old.closed, true);
    assert.equal(fresh.closed, false);
    // Region or credentials edits are not the pool's business.
    const noop = balancer.plan(
      doc([spec('s1', [a.url], { region: 'eu-west-1', balancing: { algorithm: 'least-in-flight' } })]),
      TIMEOUTS,
    );
    assert.deepEqual([noop.added, noop.updated, noop.rebuilt, noop.removed], [[], [], [], []]);
  });
});

void describe('Balancer.plan: a rebuilt hostname store', () => {
  void test('the new pool starts with the addresses of the old one: it serves while its lookups fail', async () => {
    const a = await backend();
    const port = new URL(a.url).port;
    const answers = new Map([['store.test', [{ address: '127.0.0.1', family: 4 as const }]]]);
    const resolver = {
      resolve: (host: string) => {
        const addresses = answers.get(host);
        return addresses ? Promise.resolve({ addresses }) : Promise.reject(new Error('ENOTFOUND'));
      },
    };
    const balancer = new Balancer({
      defaults: { healthCheck: { rise: 1, fall: 1, intervalMs: 60_000 } },
      deps: { random: seededRandom(7), resolver },
    });
    balancers.push(balancer);
    balancer.start(doc([spec('s1', [`http://store.test:${port}`])]), TIMEOUTS);
    const old = poolOf(balancer, 's1');
    await old.ready();
    answers.delete('store.test'); // the DNS server is down
    const settings = { balancing: { algorithm: 'least-in-flight' as const } };
    const plan = balancer.plan(doc([spec('s1', [`http://store.test:${port}`], settings)]), TIMEOUTS);
    assert.deepEqual(plan.rebuilt, ['s1']);
    plan.open();
    const fresh = poolOf(balancer, 's1');
    assert.notEqual(fresh, old);
    assert.deepEqual(
      fresh.backends().map((b) => b.address),
      ['127.0.0.1'],
      'backends at once, before any lookup',
    );
    assert.equal((await send(fresh)).origin, `http://127.0.0.1:${port}`);
    await fresh.ready(); // its lookup failed: the addresses stay
    assert.equal(fresh.backends().length, 1);
    await plan.retire();
    assert.equal(old.closed, true);
    // A second reload in a row rebuilds from the fresh pool, as from any live one.
    const again = balancer.plan(doc([spec('s1', [`http://store.test:${port}`])]), TIMEOUTS);
    assert.deepEqual(again.rebuilt, ['s1']);
    again.open();
    assert.equal(poolOf(balancer, 's1').backends().length, 1);
    await again.retire();
  });
});

void describe('Balancer.plan: endpoints and zone, in place', () => {
  void test('endpoints added and removed: kept backends keep their state, the removed one drains', async () => {
    const [a, b, c] = await Promise.all([backend(), backend(), backend()]);
    const balancer = makeBalancer();
    balancer.start(doc([spec('s1', [a.url, b.url])]), TIMEOUTS);
    const pool = poolOf(balancer, 's1');
    await pool.ready();
    const [nodeA, nodeB] = pool.backends();
    assert.ok(nodeA && nodeB);

    // Add c: same pool object, a and b untouched (still healthy), c pending until checked.
    const grow = balancer.plan(doc([spec('s1', [a.url, b.url, c.url])]), TIMEOUTS);
    assert.deepEqual(grow.updated, ['s1']);
    grow.open();
    assert.equal(balancer.live.get('s1'), pool);
    assert.deepEqual(
      pool.backends().map((x) => [x.origin, x.state]),
      [
        [a.url, 'healthy'],
        [b.url, 'healthy'],
        [c.url, 'pending'],
      ],
    );
    for (let i = 0; i < 100 && pool.backends()[2]!.state !== 'healthy'; i++) await pool.checkNow();
    assert.equal(pool.backends()[2]!.state, 'healthy', 'a new endpoint is probed into service');

    // Remove a while a request is in flight on it.
    const arrived = a.hold();
    const inflight = send(pool, nodeA);
    await arrived;
    const shrink = balancer.plan(doc([spec('s1', [b.url, c.url])]), TIMEOUTS);
    assert.deepEqual(shrink.updated, ['s1']);
    shrink.open();
    assert.equal(nodeA.state, 'draining');
    assert.deepEqual(
      pool.backends().map((x) => x.origin),
      [b.url, c.url],
    );
    assert.equal(pool.backends()[0], nodeB, 'b is the same backend, state and connections kept');
    const hitsA = a.hits;
    for (let i = 0; i < 60; i++) await send(pool);
    assert.equal(a.hits, hitsA, 'no new request reaches a removed endpoint');
    assert.ok(b.hits > 0 && c.hits > 0);
    assert.ok(
      pool.snapshot().backends.some((x) => x.origin === a.url && x.draining),
      'the draining backend is visible in /debug/backends',
    );
    a.release();
    assert.equal((await inflight).body, `hello from ${a.url}`, 'the in-flight request completed');
    assert.ok(!pool.snapshot().backends.some((x) => x.origin === a.url), 'retired once idle');
  });

  void test('an endpoint whose zone changed is replaced (a backend’s zone is fixed)', async () => {
    const a = await backend();
    const balancer = makeBalancer();
    balancer.start(doc([spec('s1', [a.url], {}, ['zone-a'])]), TIMEOUTS);
    const pool = poolOf(balancer, 's1');
    const plan = balancer.plan(doc([spec('s1', [a.url], {}, ['zone-b'])]), TIMEOUTS);
    assert.deepEqual(plan.updated, ['s1']);
    plan.open();
    assert.deepEqual(
      pool.backends().map((x) => x.zone),
      ['zone-b'],
    );
  });

  void test('the pod zone set after scheduling steers traffic to the local zone', async () => {
    const [a, b] = await Promise.all([backend(), backend()]);
    const balancer = makeBalancer();
    const stores = [spec('s1', [a.url, b.url], {}, ['zone-a', 'zone-b'])];
    balancer.start(doc(stores), TIMEOUTS);
    const pool = poolOf(balancer, 's1');
    await pool.ready();
    assert.equal(pool.localZone, undefined);
    const before = { a: a.hits, b: b.hits };
    for (let i = 0; i < 40; i++) await send(pool);
    assert.ok(a.hits > before.a && b.hits > before.b, 'no zone: both zones take traffic');

    const plan = balancer.plan(doc(stores, 'zone-b'), TIMEOUTS);
    assert.deepEqual([plan.added, plan.updated, plan.rebuilt, plan.removed], [[], [], [], []]);
    plan.open();
    assert.equal(pool.localZone, 'zone-b');
    assert.equal(balancer.live.get('s1'), pool, 'a zone change keeps the pool');
    const hitsA = a.hits;
    for (let i = 0; i < 40; i++) await send(pool);
    assert.equal(a.hits, hitsA, 'every request stays in the local zone while it is healthy');
    // A store added later is built with the current zone.
    const add = balancer.plan(doc([...stores, spec('s2', [a.url])], 'zone-b'), TIMEOUTS);
    add.open();
    assert.equal(poolOf(balancer, 's2').localZone, 'zone-b');
  });
});
