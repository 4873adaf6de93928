// A policy reload that changes stores, applied through the proxy's StoreSync: pools, signers and
// the store table move with the authorizer, in the order that never authorizes a request for a
// store that cannot be routed; bad documents (options, credentials) change nothing. Real
// node:http backend on port 0, real credentials files.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import type { ProxyTimeouts, StoreSpec } from '../../../proxy/config/types.ts';
import { Balancer } from '../../../proxy/balancer/balancer.ts';
import { StorePool } from '../../../proxy/balancer/pool.ts';
import { createStoreSync } from '../../../proxy/balancer/store-sync.ts';
import { Signers, watchFiles } from '../../../proxy/credentials.ts';
import { PolicyMetrics } from '../../../proxy/policy/metrics.ts';
import { PolicyState } from '../../../proxy/policy/reload.ts';
import { run } from '../policy/helpers.ts';

const TIMEOUTS: ProxyTimeouts = {
  requestHeaderTimeoutMs: 0,
  clientIdleMs: 0,
  keepAliveIdleMs: 0,
  backendConnectMs: 1_000,
  backendFirstByteMs: 0,
  backendIdleMs: 0,
};

let dir: string;
let server: Server;
let url: string;
const cleanup: (() => Promise<void> | void)[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-store-sync-'));
  server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  for (const f of cleanup) await f();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function creds(name: string, key = 'AKID'): string {
  const file = join(dir, `${name}.credentials.json`);
  writeFileSync(file, JSON.stringify({ accessKeyId: key, secretAccessKey: 'secret' }));
  return file;
}

function storeJson(name: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    endpoints: [url],
    region: 'us-east-1',
    credentials: { file: join(dir, `${name}.credentials.json`) },
    ...extra,
  };
}

const text = (stores: unknown[], grants: unknown[], zone?: string) =>
  JSON.stringify({ version: 1, ...(zone ? { zone } : {}), stores, grants });
const READ = (store: string, bucket = 'data') => ({ store, bucket, access: ['read', 'list'] });

/** A proxy's reload machinery, started with an empty policy, as the operator first writes it. */
function setup() {
  const registry = new Registry();
  const metrics = new PolicyMetrics(registry);
  const balancer = new Balancer({ defaults: { healthCheck: { rise: 1, intervalMs: 60_000 } } });
  const signers = new Signers([]);
  const stores = new Map<string, StoreSpec>();
  const start = { version: 1 as const, stores: [], grants: [] };
  const pools = balancer.start(start, TIMEOUTS);
  const errors: string[] = [];
  const log = {
    info: () => undefined,
    warn: () => undefined,
    error: (o: { err?: string }) => void errors.push(o.err ?? ''),
  };
  const state = new PolicyState(start, {
    metrics,
    log: log,
    stores: createStoreSync({ balancer, signers, stores, timeouts: TIMEOUTS }),
  });
  cleanup.push(() => balancer.close());
  const reloadErrors = async () =>
    (await registry.getSingleMetric('sluice_policy_reload_errors_total')!.get()).values[0]?.value;
  const apply = (t: string) => state.apply(t, join(dir, 'policy.json'));
  return { state, balancer, signers, stores, pools, errors, reloadErrors, apply };
}

void describe('policy reload with store changes', () => {
  void test('empty start → a store and a grant arrive: pool, signer and spec exist before the grant', () => {
    const { state, signers, stores, pools, apply } = setup();
    creds('s1');
    assert.equal(run(state.current, 'GET', '/data/k').allow, false);
    assert.equal(apply(text([storeJson('s1')], [READ('s1')])), 'changed');
    assert.equal(run(state.current, 'GET', '/data/k').allow, true);
    assert.ok(pools.get('s1') instanceof StorePool);
    assert.equal(stores.get('s1')?.endpoints[0]?.url, url);
    assert.equal(signers.get('s1')?.accessKeyId, 'AKID');
    assert.deepEqual(signers.files(), [join(dir, 's1.credentials.json')]);
  });

  void test('a new store whose credentials file is missing is rejected; once it appears, accepted', async () => {
    const { state, signers, pools, apply, reloadErrors, errors } = setup();
    const t = text([storeJson('s2')], [READ('s2')]);
    rmSync(join(dir, 's2.credentials.json'), { force: true });
    const before = state.current;
    assert.equal(apply(t), 'rejected');
    assert.equal(state.current, before);
    assert.equal(pools.size, 0);
    assert.equal(signers.get('s2'), undefined);
    assert.equal(await reloadErrors(), 1);
    assert.match(errors[0]!, /s2\.credentials\.json/);
    creds('s2');
    assert.equal(apply(t), 'changed', 'the same text is tried again: the file decided, not the text');
    assert.ok(pools.has('s2'));
  });

  void test('a balancing option the sidecar refuses is left out: the document loads, the pool takes the default', async () => {
    const { state, pools, apply, reloadErrors } = setup();
    creds('s1');
    assert.equal(apply(text([storeJson('s1')], [READ('s1')])), 'changed');
    const bad = text(
      [storeJson('s1'), storeJson('s3', { balancing: { healthCheck: { rise: 0, fall: 4 } } })],
      [READ('s1'), READ('s3', 'other')],
    );
    creds('s3');
    assert.equal(apply(bad), 'changed');
    assert.equal(run(state.current, 'GET', '/other/k').allow, true, 'its grant loaded');
    assert.deepEqual([...pools.keys()], ['s1', 's3']);
    // rise as for a store that sets none (the sidecar's default); fall as set.
    const { rise, fall } = (pools.get('s3') as StorePool).options.healthCheck;
    assert.deepEqual([rise, fall], [(pools.get('s1') as StorePool).options.healthCheck.rise, 4]);
    assert.equal(await reloadErrors(), 0);
  });

  void test('a store removed: denied at once, its pool drains, then spec and signer go', async () => {
    const { state, signers, stores, pools, apply } = setup();
    creds('s1');
    creds('s4');
    apply(text([storeJson('s1'), storeJson('s4')], [READ('s1'), READ('s4', 'four')]));
    const pool = pools.get('s4') as StorePool;
    assert.equal(apply(text([storeJson('s1')], [READ('s1')])), 'changed');
    assert.equal(run(state.current, 'GET', '/four/k').allow, false, 'the authorizer swapped first');
    assert.equal(pool.draining, true);
    await pool.drain(); // the same promise the reload started
    for (let i = 0; i < 100 && stores.has('s4'); i++) await new Promise((r) => setImmediate(r));
    assert.equal(stores.has('s4'), false);
    assert.equal(pools.has('s4'), false);
    assert.equal(signers.get('s4'), undefined);
    assert.ok(signers.get('s1'), 'the other store is untouched');
    assert.deepEqual(signers.files(), [join(dir, 's1.credentials.json')]);
  });

  void test('region or credentials file edits rebuild the signer, the pool stays; the zone follows', () => {
    const { signers, pools, apply } = setup();
    creds('s1');
    apply(text([storeJson('s1')], [READ('s1')]));
    const pool = pools.get('s1');
    const signer = signers.get('s1');
    const moved = join(dir, 'moved');
    mkdirSync(moved, { recursive: true });
    writeFileSync(join(moved, 'c.json'), JSON.stringify({ accessKeyId: 'AKID2', secretAccessKey: 's' }));
    const edited = storeJson('s1', { region: 'eu-west-1', credentials: { file: join(moved, 'c.json') } });
    assert.equal(apply(text([edited], [READ('s1')], 'zone-b')), 'changed');
    assert.equal(pools.get('s1'), pool);
    assert.equal((pool as StorePool).localZone, 'zone-b');
    assert.notEqual(signers.get('s1'), signer);
    assert.equal(signers.get('s1')?.accessKeyId, 'AKID2');
  });
});

void describe('watchFiles with a changing file list', () => {
  void test('a directory that joins the list is watched after the next change', async () => {
    const a = mkdtempSync(join(dir, 'a-'));
    const b = mkdtempSync(join(dir, 'b-'));
    let files = [join(a, 'policy.json')];
    let calls = 0;
    const stop = watchFiles(
      () => files,
      () => {
        calls++;
        files = [join(a, 'policy.json'), join(b, 'creds.json')];
      },
      5,
      0,
    );
    cleanup.push(stop);
    writeFileSync(join(a, 'policy.json'), '1');
    for (let i = 0; i < 400 && calls === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(calls, 1, 'a change in the first directory');
    writeFileSync(join(b, 'creds.json'), '2');
    for (let i = 0; i < 400 && calls === 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(calls >= 2, 'a change in the directory added by the list');
  });
});
