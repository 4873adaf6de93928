import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { StoreSpec } from '../../../proxy/config/types.ts';
import type { BackendNode } from '../../../proxy/balancer/backend.ts';
import { resolveBalancerOptions } from '../../../proxy/balancer/config.ts';
import type { HostResolver, ResolvedAddress } from '../../../proxy/balancer/discovery.ts';
import { createPools } from '../../../proxy/balancer/index.ts';
import {
  latencySample,
  MAX_RETAINED_ADDRESSES,
  StorePool,
  type PoolDeps,
} from '../../../proxy/balancer/pool.ts';
import { ManualClock, seededRandom } from '../../../proxy/balancer/random.ts';

// Pool logic without I/O: probes come from a table the test controls, and no attempt is ever
// dispatched (undici Pools connect lazily), so no server is needed.

const pools: StorePool[] = [];
after(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

function store(
  name: string,
  endpoints: StoreSpec['endpoints'],
  balancing: StoreSpec['balancing'] = {},
): StoreSpec {
  return { name, endpoints, region: 'us-east-1', addressing: 'path', credentials: { file: 'x' }, balancing };
}

function ips(n: number, zones?: string[]): StoreSpec['endpoints'] {
  return Array.from({ length: n }, (_, i) => ({ url: `http://127.0.0.${i + 1}:9000`, zone: zones?.[i] }));
}

/** A pool whose health probes answer from `up` (origin → healthy?). */
function makePool(spec: StoreSpec, up: Map<string, boolean>, deps: PoolDeps = {}) {
  const clock = new ManualClock(1_000);
  const opts = resolveBalancerOptions(spec, {
    healthCheck: { rise: 2, fall: 2 },
    outlier: {
      consecutiveConnectFailures: 2,
      consecutive5xx: 3,
      baseEjectionMs: 1_000,
      maxEjectionMs: 5_000,
    },
  });
  const pool = StorePool.create(spec, opts, {
    clock,
    random: seededRandom(1),
    prober: (b) => Promise.resolve({ ok: up.get(b.origin) ?? true, at: clock.now() }),
    ...deps,
  });
  pools.push(pool);
  return { pool, clock };
}

/** The store keeping an address 30 s after its last DNS answer (dnsAddressRetentionMs). */
function retaining(spec: StoreSpec): StoreSpec {
  return { ...spec, balancing: { ...spec.balancing, dnsAddressRetentionMs: 30_000 } };
}

/** The store with dnsAddressRetentionMs 0: a backend leaves with its address's last answer. */
function onlyLatestAnswer(spec: StoreSpec): StoreSpec {
  return { ...spec, balancing: { ...spec.balancing, dnsAddressRetentionMs: 0 } };
}

function picks(pool: StorePool, n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const b = pool.pick();
    const k = b?.origin ?? 'none';
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

void describe('eligibility, health and panic', () => {
  void test('while every backend is pending (startup), all of them take traffic (panic mode)', async () => {
    const { pool } = makePool(store('s', ips(3)), new Map());
    await pool.ready(); // one probe each: still pending with rise 2
    assert.ok(pool.backends().every((b) => b.state === 'pending'));
    assert.equal(picks(pool, 300).size, 3);
    assert.equal(pool.panic, true);
  });

  void test('a pending or unhealthy backend takes no traffic once others are healthy', async () => {
    const up = new Map([['http://127.0.0.3:9000', false]]);
    const { pool } = makePool(store('s', ips(3)), up);
    await pool.ready();
    await pool.checkNow();
    assert.deepEqual(
      pool.backends().map((b) => b.state),
      ['healthy', 'healthy', 'unhealthy'],
    );
    const counts = picks(pool, 300);
    assert.equal(counts.get('http://127.0.0.3:9000'), undefined);
    assert.equal(pool.panic, false);
  });

  void test('health flips back only after `rise` consecutive good checks', async () => {
    const up = new Map([['http://127.0.0.3:9000', false]]);
    const { pool } = makePool(store('s', ips(3)), up);
    await pool.ready();
    await pool.checkNow();
    up.set('http://127.0.0.3:9000', true);
    await pool.checkNow();
    assert.equal(pool.backends()[2]!.state, 'unhealthy');
    await pool.checkNow();
    assert.equal(pool.backends()[2]!.state, 'healthy');
  });

  void test('a backend health-checked back in starts from a neutral latency estimate', async () => {
    const up = new Map([['http://127.0.0.3:9000', false]]);
    const { pool } = makePool(store('s', ips(3)), up);
    await pool.ready();
    await pool.checkNow();
    const b = pool.backends()[2]!;
    pool.start(b);
    pool.finish(b, { failure: 'connect' });
    assert.equal(b.ewma.value(), pool.options.ewma.failurePenaltyMs);
    up.set('http://127.0.0.3:9000', true);
    await pool.checkNow();
    await pool.checkNow();
    assert.equal(b.state, 'healthy');
    assert.equal(b.ewma.value(), pool.options.ewma.initialMs);
  });

  void test('backends not yet checked (scaled up) neither throw a running pool into panic nor take traffic', async () => {
    const up = new Map([['http://127.0.0.4:9000', false]]);
    const known = new Set(ips(4).map((e) => e.url));
    // The new ones' checks never answer: they stay pending.
    const { pool, clock } = makePool(store('s', ips(4)), up, {
      prober: (b) =>
        known.has(b.origin)
          ? Promise.resolve({ ok: up.get(b.origin) ?? true, at: clock.now() })
          : new Promise(() => undefined),
    });
    await pool.ready();
    await pool.checkNow();
    pool.updateEndpoints([...ips(4), ...ips(7).slice(4)]);
    assert.deepEqual(
      pool.backends().map((b) => b.refreshState(0)),
      ['healthy', 'healthy', 'healthy', 'unhealthy', 'pending', 'pending', 'pending'],
    );
    const counts = picks(pool, 700);
    assert.equal(pool.panic, false);
    assert.deepEqual([...counts.keys()].sort(), [
      'http://127.0.0.1:9000',
      'http://127.0.0.2:9000',
      'http://127.0.0.3:9000',
    ]);
  });

  void test('an ejected node that the health checks saw go down and come back is not kept out', async () => {
    const up = new Map<string, boolean>();
    const { pool } = makePool(store('s', ips(2)), up);
    await pool.ready();
    await pool.checkNow();
    const b = pool.backends()[1]!;
    for (let i = 0; i < 3; i++) {
      pool.start(b);
      pool.finish(b, { status: 503, headersMs: 1 });
    }
    assert.equal(b.state, 'ejected');
    up.set(b.origin, false);
    await pool.checkNow();
    await pool.checkNow();
    up.set(b.origin, true);
    await pool.checkNow();
    await pool.checkNow();
    assert.equal(b.state, 'healthy', 'recovered: back in service before its ejection time ran out');
  });

  void test('below the panic threshold every backend is used', async () => {
    const up = new Map([
      ['http://127.0.0.2:9000', false],
      ['http://127.0.0.3:9000', false],
      ['http://127.0.0.4:9000', false],
    ]);
    const { pool } = makePool(store('s', ips(4)), up);
    await pool.ready();
    await pool.checkNow();
    assert.equal(picks(pool, 400).size, 4); // 1 of 4 healthy < 50%
    assert.equal(pool.panic, true);
  });

  void test('exclude keeps retries off backends already tried; none left → undefined', async () => {
    const { pool } = makePool(store('s', ips(2)), new Map());
    await pool.ready();
    await pool.checkNow();
    const [a, b] = pool.backends();
    for (let i = 0; i < 50; i++) assert.equal(pool.pick(new Set([a!])), b);
    assert.equal(pool.pick(new Set([a!, b!])), undefined);
  });
});

void describe('passive outlier ejection in the pool', () => {
  async function healthyPool(n: number, outlier = {}) {
    // Round-robin, so a returning backend's share is not hidden by its raised latency estimate.
    const spec = store('s', ips(n), { outlier, algorithm: 'round-robin' });
    const r = makePool(spec, new Map());
    await r.pool.ready();
    await r.pool.checkNow();
    return r;
  }
  const fail = (pool: StorePool, b: BackendNode, times: number) => {
    for (let i = 0; i < times; i++) {
      pool.start(b);
      pool.finish(b, { failure: 'connect' });
    }
  };

  void test('consecutive connect failures eject a backend; it returns after the ejection time', async () => {
    const { pool, clock } = await healthyPool(3);
    const bad = pool.backends()[0]!;
    fail(pool, bad, 2);
    assert.equal(bad.state, 'ejected');
    assert.equal(picks(pool, 200).get(bad.origin), undefined);
    clock.advance(999);
    assert.equal(picks(pool, 200).get(bad.origin), undefined);
    clock.advance(1);
    assert.ok((picks(pool, 300).get(bad.origin) ?? 0) > 0);
    assert.equal(bad.state, 'healthy');
    assert.equal(pool.snapshot().backends[0]!.ejections, 1);
  });

  void test('max ejected percent: with 50%, at most 2 of 4 are ejected', async () => {
    const { pool } = await healthyPool(4);
    for (const b of pool.backends()) fail(pool, b, 2);
    assert.equal(pool.backends().filter((b) => b.state === 'ejected').length, 2);
  });

  void test('one ejection is always allowed, even when the cap rounds to zero', async () => {
    const { pool } = await healthyPool(3, { maxEjectionPercent: 10 });
    for (const b of pool.backends()) fail(pool, b, 2);
    assert.equal(pool.backends().filter((b) => b.state === 'ejected').length, 1);
  });

  void test('in-flight accounting: start/finish pair up and never go negative', async () => {
    const { pool } = await healthyPool(2);
    const b = pool.backends()[0]!;
    pool.start(b);
    pool.start(b);
    assert.equal(b.inFlight, 2);
    pool.finish(b, { status: 200, headersMs: 5 });
    pool.finish(b, { status: 200, headersMs: 5 });
    pool.finish(b, { status: 200, headersMs: 5 });
    assert.equal(b.inFlight, 0);
  });

  void test('a failed attempt raises the latency estimate to the failure penalty', async () => {
    const { pool } = await healthyPool(2);
    const b = pool.backends()[0]!;
    pool.start(b);
    pool.finish(b, { failure: 'reset' });
    assert.equal(b.ewma.value(), pool.options.ewma.failurePenaltyMs);
  });

  void test('an attempt the client ended (hung up, stalled, bad body) counts nothing against the backend', async () => {
    const { pool } = await healthyPool(2);
    const b = pool.backends()[0]!;
    const before = b.ewma.value();
    for (let i = 0; i < 10; i++) {
      pool.start(b);
      pool.finish(b, { failure: 'client', headersMs: 5_000 });
    }
    assert.equal(b.failures, 0);
    assert.equal(b.ewma.value(), before, 'no latency sample, no failure penalty');
    assert.equal(b.state, 'healthy');
    assert.equal(b.inFlight, 0);
  });
});

void describe('zones', () => {
  const zoned = store('s', ips(6, ['a', 'a', 'b', 'b', 'c', 'c']));

  void test('the local zone takes all traffic while whole', async () => {
    const { pool } = makePool(zoned, new Map(), { localZone: 'a' });
    await pool.ready();
    await pool.checkNow();
    const counts = picks(pool, 600);
    assert.deepEqual([...counts.keys()].sort(), ['http://127.0.0.1:9000', 'http://127.0.0.2:9000']);
  });

  void test('with the local zone down, traffic splits evenly over the two other zones', async () => {
    const up = new Map([
      ['http://127.0.0.1:9000', false],
      ['http://127.0.0.2:9000', false],
    ]);
    const { pool } = makePool(zoned, up, { localZone: 'a' });
    await pool.ready();
    await pool.checkNow();
    const counts = picks(pool, 4_000);
    const zoneB = (counts.get('http://127.0.0.3:9000') ?? 0) + (counts.get('http://127.0.0.4:9000') ?? 0);
    const zoneC = (counts.get('http://127.0.0.5:9000') ?? 0) + (counts.get('http://127.0.0.6:9000') ?? 0);
    assert.equal(zoneB + zoneC, 4_000);
    assert.ok(Math.abs(zoneB / 4_000 - 0.5) < 0.05, `zone b ${zoneB}`);
  });

  // Panic mode (healthy below the threshold) makes every non-draining backend a candidate, dead
  // ones included; a zone's capacity must still be its healthy candidates (8fcfcd7).
  const twoZones = store('s', ips(4, ['a', 'a', 'b', 'b']));
  /** Picks that went to the backends 127.0.0.<i> for each i in `hosts`. */
  const picksOn = (counts: Map<string, number>, hosts: number[]) =>
    hosts.reduce((sum, i) => sum + (counts.get(`http://127.0.0.${i}:9000`) ?? 0), 0);

  /** Zone a (nodes 1, 2) and node 3 of zone b down, health-checked: panic, node 4 alone healthy. */
  const onlyNode4Healthy = async () => {
    const up = new Map([
      ['http://127.0.0.1:9000', false],
      ['http://127.0.0.2:9000', false],
      ['http://127.0.0.3:9000', false],
    ]);
    const { pool } = makePool(twoZones, up, { localZone: 'a' });
    await pool.ready();
    await pool.checkNow();
    return pool;
  };

  void test('in panic, a local zone entirely down takes no first attempt', async () => {
    const pool = await onlyNode4Healthy();
    assert.deepEqual(
      pool.backends().map((b) => b.state),
      ['unhealthy', 'unhealthy', 'unhealthy', 'healthy'],
    );
    const counts = picks(pool, 2_000);
    assert.equal(pool.panic, true); // 1 of 4 healthy < 50%
    assert.equal(picksOn(counts, [1, 2]), 0, 'zone a takes no first attempt');
    assert.equal(picksOn(counts, [3, 4]), 2_000);
    assert.ok(picksOn(counts, [4]) > 0, 'the healthy zone-b backend takes picks');
  });

  void test('in panic, a retry away from the one healthy backend stays out of the dead local zone', async () => {
    const pool = await onlyNode4Healthy();
    const healthyB = pool.backends()[3]!;
    assert.equal(healthyB.state, 'healthy');
    const retried = new Map<string, number>();
    for (let i = 0; i < 1_000; i++) {
      const b = pool.pick(new Set([healthyB]));
      retried.set(b?.origin ?? 'none', (retried.get(b?.origin ?? 'none') ?? 0) + 1);
    }
    assert.equal(pool.panic, true);
    assert.deepEqual(
      [...retried.entries()],
      [['http://127.0.0.3:9000', 1_000]],
      'zone b, not the dead zone a',
    );
  });

  void test('a retry that excludes the whole drawn zone still gets a backend', async () => {
    const { pool } = makePool(twoZones, new Map(), { localZone: 'a' });
    await pool.ready();
    await pool.checkNow();
    const [a1, a2] = pool.backends();
    for (let i = 0; i < 200; i++) {
      const b = pool.pick(new Set([a1!, a2!]));
      assert.ok(b && ['http://127.0.0.3:9000', 'http://127.0.0.4:9000'].includes(b.origin));
    }
  });

  void test('in panic, a partly down local zone keeps only its healthy share', async () => {
    const spec = store('s', ips(8, ['a', 'a', 'a', 'a', 'b', 'b', 'b', 'b']));
    // One healthy backend per zone: 2 of 8 < 50%, so panic; each zone has 1/4 of its capacity.
    const up = new Map([1, 2, 3, 5, 6, 7].map((i): [string, boolean] => [`http://127.0.0.${i}:9000`, false]));
    const { pool } = makePool(spec, up, { localZone: 'a' });
    await pool.ready();
    await pool.checkNow();
    const counts = picks(pool, 4_000);
    assert.equal(pool.panic, true);
    assert.equal(counts.get('none'), undefined);
    const zoneA = picksOn(counts, [1, 2, 3, 4]);
    assert.ok(Math.abs(zoneA / 4_000 - 0.25) < 0.05, `zone a ${zoneA} of 4000`);
  });

  void test('with no backend healthy (start-up), every candidate counts: the whole local zone keeps traffic', async () => {
    const { pool } = makePool(twoZones, new Map(), { localZone: 'a' });
    await pool.ready(); // one probe each: still pending with rise 2
    assert.ok(pool.backends().every((b) => b.state === 'pending'));
    const counts = picks(pool, 600);
    assert.equal(pool.panic, true);
    assert.deepEqual([...counts.keys()].sort(), ['http://127.0.0.1:9000', 'http://127.0.0.2:9000']);
  });

  void test('with no backend healthy and no backend in the pod’s zone, picks spread over all', async () => {
    const { pool } = makePool(twoZones, new Map(), { localZone: 'c' });
    await pool.ready();
    assert.ok(pool.backends().every((b) => b.state === 'pending'));
    const counts = picks(pool, 2_000);
    assert.equal(pool.panic, true);
    assert.equal(counts.get('none'), undefined);
    assert.equal(counts.size, 4);
    const zoneA = picksOn(counts, [1, 2]);
    assert.ok(Math.abs(zoneA / 2_000 - 0.5) < 0.05, `zone a ${zoneA} of 2000`);
  });

  void test('without a local zone, zones are ignored', async () => {
    const { pool } = makePool(zoned, new Map());
    await pool.ready();
    await pool.checkNow();
    assert.equal(picks(pool, 600).size, 6);
  });
});

void describe('discovery', () => {
  class TableResolver implements HostResolver {
    answers = new Map<string, ResolvedAddress[]>();
    /** The answers' TTL; none, the pool refreshes every 30 s. */
    ttlMs: number | undefined = undefined;
    resolve(host: string) {
      const a = this.answers.get(host);
      if (!a) return Promise.reject(new Error('ENOTFOUND'));
      return Promise.resolve(
        this.ttlMs === undefined ? { addresses: a } : { addresses: a, ttlMs: this.ttlMs },
      );
    }
  }

  void test('a hostname becomes one backend per address, keeping the name for Host', async () => {
    const resolver = new TableResolver();
    resolver.answers.set('minio.example', [
      { address: '10.0.0.1', family: 4 },
      { address: 'fd00::2', family: 6 },
    ]);
    const { pool } = makePool(store('s', [{ url: 'http://minio.example:9000' }]), new Map(), { resolver });
    await pool.ready();
    const bs = pool.backends();
    assert.deepEqual(
      bs.map((b) => [b.origin, b.hostHeader, b.id]),
      [
        ['http://10.0.0.1:9000', 'minio.example:9000', 's/minio.example:9000@10.0.0.1'],
        ['http://[fd00::2]:9000', 'minio.example:9000', 's/minio.example:9000@fd00::2'],
      ],
    );
  });

  void test('https keeps the name as TLS SNI; an IP endpoint has none', async () => {
    const resolver = new TableResolver();
    resolver.answers.set('s3.example', [{ address: '10.0.0.9', family: 4 }]);
    const spec = store('s', [{ url: 'https://s3.example' }, { url: 'https://10.1.1.1:8443' }]);
    const { pool } = makePool(spec, new Map(), { resolver });
    await pool.ready();
    const named = pool.backends().find((b) => b.address === '10.0.0.9');
    const literal = pool.backends().find((b) => b.address === '10.1.1.1');
    assert.equal(named!.servername, 's3.example');
    assert.equal(named!.origin, 'https://10.0.0.9:443');
    assert.equal(literal!.servername, undefined);
    assert.equal(literal!.hostHeader, '10.1.1.1:8443');
  });

  void test('new addresses join pending; removed ones drain and close once idle', async () => {
    const resolver = new TableResolver();
    resolver.answers.set('m', [
      { address: '10.0.0.1', family: 4 },
      { address: '10.0.0.2', family: 4 },
    ]);
    const { pool } = makePool(onlyLatestAnswer(store('s', [{ url: 'http://m:9000' }])), new Map(), {
      resolver,
    });
    await pool.ready();
    await pool.checkNow();
    const old = pool.backends()[0]!;
    pool.start(old); // a request in flight on the node about to disappear
    resolver.answers.set('m', [
      { address: '10.0.0.2', family: 4 },
      { address: '10.0.0.3', family: 4 },
    ]);
    await pool.resolveNow();
    assert.deepEqual(
      pool.backends().map((b) => b.address),
      ['10.0.0.2', '10.0.0.3'],
    );
    const fresh = pool.backends()[1]!;
    assert.equal(fresh.state, 'pending');
    for (let i = 0; i < 50; i++) assert.equal(pool.pick()?.address, '10.0.0.2');
    const snap = pool.snapshot().backends.find((b) => b.draining)!;
    assert.equal(snap.id, old.id);
    assert.equal(old.dispatcher.closed, false);
    pool.finish(old, { status: 200, headersMs: 1 });
    assert.equal(old.dispatcher.closed, true);
    assert.equal(pool.snapshot().backends.length, 2);
  });

  void test('a backend that left DNS keeps its long transfer: no drain deadline cuts it', async (t) => {
    const resolver = new TableResolver();
    resolver.answers.set('m', [{ address: '10.0.0.1', family: 4 }]);
    const { pool } = makePool(onlyLatestAnswer(store('s', [{ url: 'http://m:9000' }])), new Map(), {
      resolver,
    });
    await pool.ready();
    await pool.checkNow();
    const old = pool.backends()[0]!;
    pool.start(old); // a download of many minutes
    t.mock.timers.enable({ apis: ['setTimeout'] });
    resolver.answers.set('m', [{ address: '10.0.0.2', family: 4 }]);
    await pool.resolveNow();
    t.mock.timers.tick(10 * 60_000);
    assert.equal(old.dispatcher.closed, false, 'the transfer was cut');
    pool.finish(old, { status: 200, headersMs: 1 });
    assert.equal(old.dispatcher.closed, true);
  });

  void test('by default each answer replaces the last', async () => {
    const resolver = new TableResolver();
    resolver.answers.set('m', [{ address: '10.0.0.1', family: 4 }]);
    const { pool } = makePool(store('s', [{ url: 'http://m:9000' }]), new Map(), { resolver });
    await pool.ready();
    resolver.answers.set('m', [{ address: '10.0.0.2', family: 4 }]);
    await pool.resolveNow();
    assert.deepEqual(
      pool.backends().map((b) => b.address),
      ['10.0.0.2'],
    );
  });

  void test('a DNS that rotates its answers: every address seen within the retention is a backend', async () => {
    const resolver = new TableResolver();
    resolver.ttlMs = 5_000; // refreshed every 5 s: the retention (30 s) is the window
    const answer = (n: number): void => {
      resolver.answers.set('m', [{ address: `10.0.0.${n}`, family: 4 }]);
    };
    answer(1);
    const { pool, clock } = makePool(retaining(store('s', [{ url: 'http://m:9000' }])), new Map(), {
      resolver,
    });
    await pool.ready();
    const first = pool.backends()[0]!;
    for (const n of [2, 3, 1]) {
      clock.advance(10_000);
      answer(n);
      await pool.resolveNow();
    }
    assert.deepEqual(
      pool.backends().map((b) => b.address),
      ['10.0.0.1', '10.0.0.2', '10.0.0.3'],
    );
    assert.equal(pool.backends()[0], first, 'an address seen again keeps its backend (latency, connections)');
    // 10.0.0.2 was last seen 20 s ago, 10.0.0.3 10 s ago: 15 s on, only 10.0.0.2 is past 30 s.
    clock.advance(15_000);
    answer(1);
    await pool.resolveNow();
    assert.deepEqual(
      pool.backends().map((b) => b.address),
      ['10.0.0.1', '10.0.0.3'],
    );
  });

  /** A pool keeping addresses 30 s: answered 10.0.0.1, then 30 s on 10.0.0.2. */
  async function answeredTwice(resolver: TableResolver) {
    resolver.answers.set('m', [{ address: '10.0.0.1', family: 4 }]);
    const made = makePool(retaining(store('s', [{ url: 'http://m:9000' }])), new Map(), { resolver });
    await made.pool.ready();
    made.clock.advance(30_000);
    resolver.answers.set('m', [{ address: '10.0.0.2', family: 4 }]);
    await made.pool.resolveNow();
    return made;
  }

  void test('the retention spans at least 2.5 refreshes; a rebuilt pool is seeded with the latest answer only', async () => {
    const resolver = new TableResolver(); // no TTL: refreshed every 30 s, as long as the retention
    const { pool, clock } = await answeredTwice(resolver);
    clock.advance(30_000); // 10.0.0.1 unseen for 60 s: within 2.5 × 30 s
    await pool.resolveNow();
    assert.deepEqual(
      pool.backends().map((b) => b.address),
      ['10.0.0.1', '10.0.0.2'],
    );
    assert.deepEqual(
      [...pool.knownAddresses().values()].flat().map((a) => a.address),
      ['10.0.0.2'],
    );
  });

  void test('a failed lookup does not shorten the retention to its quick retry', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const resolver = new TableResolver(); // no TTL: refreshed every 30 s
    const { pool, clock } = await answeredTwice(resolver);
    resolver.answers.delete('m');
    t.mock.timers.tick(30_000); // the scheduled refresh fails: retried in 5 s
    await new Promise((r) => setImmediate(r));
    clock.advance(35_000); // 10.0.0.1 unseen for 65 s, 10.0.0.2 for 35 s: both within 75 s
    resolver.answers.set('m', [{ address: '10.0.0.3', family: 4 }]);
    await pool.resolveNow();
    assert.deepEqual(
      pool.backends().map((b) => b.address),
      ['10.0.0.1', '10.0.0.2', '10.0.0.3'],
    );
  });

  void test('addresses kept after they left the answers are bounded; the answer itself is not', async () => {
    const resolver = new TableResolver();
    const answer = (from: number, n: number): void => {
      resolver.answers.set(
        'm',
        Array.from({ length: n }, (_, i) => ({
          address: `10.1.${(from + i) >> 8}.${(from + i) & 255}`,
          family: 4 as const,
        })),
      );
    };
    answer(0, 8);
    const { pool, clock } = makePool(retaining(store('s', [{ url: 'http://m:9000' }])), new Map(), {
      resolver,
    });
    await pool.ready();
    for (let round = 1; round < 20; round++) {
      clock.advance(100);
      answer(round * 8, 8);
      await pool.resolveNow();
    }
    assert.equal(pool.backends().length, 8 + MAX_RETAINED_ADDRESSES);
    // The oldest went: the latest answer's 8 and the 64 seen last before them stay.
    assert.ok(!pool.backends().some((b) => b.address === '10.1.0.0'));
    assert.ok(pool.backends().some((b) => b.address === `10.1.0.${19 * 8 - 64}`));
    answer(1000, 200);
    await pool.resolveNow();
    assert.equal(pool.backends().length, 200 + MAX_RETAINED_ADDRESSES);
  });

  void test('a failed resolution keeps the addresses already known', async () => {
    const resolver = new TableResolver();
    resolver.answers.set('m', [{ address: '10.0.0.1', family: 4 }]);
    const { pool } = makePool(store('s', [{ url: 'http://m:9000' }]), new Map(), { resolver });
    await pool.ready();
    resolver.answers.delete('m');
    await pool.resolveNow();
    assert.equal(pool.backends().length, 1);
  });
});

void describe('stores are separate pools', () => {
  void test('one store never yields another store’s backend', async () => {
    const set = createPools(
      {
        version: 1,
        stores: [store('dc1', ips(2)), store('dc2', [{ url: 'http://127.0.1.1:9000' }])],
        grants: [],
      },
      {},
      { prober: false },
    );
    after(() => set.close());
    await set.ready();
    const dc2 = set.get('dc2')!;
    for (let i = 0; i < 100; i++) assert.equal(dc2.pick()!.origin, 'http://127.0.1.1:9000');
    for (let i = 0; i < 100; i++) assert.notEqual(set.get('dc1')!.pick()!.origin, 'http://127.0.1.1:9000');
    assert.equal(set.get('nope'), undefined);
    assert.deepEqual(
      set.snapshot().stores.map((s) => [s.store, s.backends.length]),
      [
        ['dc1', 2],
        ['dc2', 1],
      ],
    );
  });
});

void describe('latency normalisation', () => {
  void test('time to headers is the sample; upload time is subtracted; a big upload of unknown time is skipped', () => {
    assert.equal(latencySample({ status: 200, headersMs: 12 }), 12);
    assert.equal(latencySample({ status: 200, headersMs: 900, uploadMs: 880 }), 20);
    assert.equal(latencySample({ status: 200, headersMs: 900, requestBodyBytes: 1 << 30 }), undefined);
    assert.equal(latencySample({ failure: 'connect' }), undefined);
  });
});
