/** Policy reload: good documents swap atomically, bad ones are rejected and counted. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { PolicyMetrics } from '../../../proxy/policy/metrics.ts';
import { PolicyState } from '../../../proxy/policy/reload.ts';
import { policy, run } from './helpers.ts';

const STORE = { name: 's1', endpoints: ['http://127.0.0.1:9'], credentials: { file: '/dev/null' } };
const doc = (grants: unknown[], stores: unknown[] = [STORE]) =>
  JSON.stringify({ version: 1, stores, grants });

function setup() {
  const registry = new Registry();
  const metrics = new PolicyMetrics(registry);
  const logged: string[] = [];
  const log = {
    info: (_o: object, m: string) => void logged.push(`info ${m}`),
    warn: (_o: object, m: string) => void logged.push(`warn ${m}`),
    error: (o: { err?: string }, m: string) => void logged.push(`error ${m}: ${o.err}`),
  };
  let now = 1_000_000;
  const start = policy([{ store: 's1', bucket: 'data', access: ['read'], source: 'v1' }]);
  start.stores = [
    {
      name: 's1',
      endpoints: [{ url: 'http://127.0.0.1:9' }],
      region: 'us-east-1',
      addressing: 'path',
      credentials: { file: '/dev/null' },
    },
  ];
  const state = new PolicyState(start, { metrics, log: log as never, now: () => now });
  const value = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value;
  return { state, metrics, logged, value, tick: (ms: number) => (now += ms) };
}

void describe('policy reload', () => {
  void test('a good document replaces the authorizer; requests holding the old one keep it', async () => {
    const { state, value, tick } = setup();
    const before = state.current;
    assert.equal(await value('sluice_policy_last_reload_success_timestamp_seconds'), 1000);
    tick(5000);
    const r = state.apply(
      doc([{ store: 's1', bucket: 'data', access: ['read', 'write'], source: 'v2' }]),
      '/p/policy.json',
    );
    assert.equal(r, 'changed');
    assert.notEqual(state.current, before);
    assert.equal(run(before, 'PUT', '/data/x').allow, false, 'the old object is immutable');
    assert.equal(run(state.current, 'PUT', '/data/x').allow, true);
    assert.equal(await value('sluice_policy_last_reload_success_timestamp_seconds'), 1005);
    assert.equal(
      state.apply(
        doc([{ store: 's1', bucket: 'data', access: ['read', 'write'], source: 'v2' }]),
        '/p/policy.json',
      ),
      'unchanged',
    );
  });

  void test("a balancing setting this sidecar cannot use is left out, and the document's grants still load", () => {
    const { state, logged } = setup();
    assert.equal(run(state.current, 'GET', '/data/x').allow, true);
    // What a newer operator could write: a key this version lacks, a value past its range.
    const balancing = {
      algorithm: 'power-of-two',
      healthCheck: { path: '/health', futureKey: 1 },
      outlier: { consecutive5xx: 0, maxEjectionPercent: 10 },
      futureSection: {},
    };
    const revoked = doc(
      [{ store: 's1', bucket: 'data', access: ['list'], source: 'v2' }],
      [{ ...STORE, balancing }],
    );
    assert.equal(state.apply(revoked, '/p/policy.json'), 'changed');
    assert.equal(run(state.current, 'GET', '/data/x').allow, false, 'the revocation reached the sidecar');
    const left = () => logged.filter((l) => l === 'warn policy setting left out: this sidecar cannot use it');
    assert.equal(left().length, 4, logged.join('\n'));
    // The same text read again (the file is polled): not logged again.
    state.apply(revoked, '/p/policy.json');
    assert.equal(left().length, 4);
    // Outside balancing an unknown field still refuses the document (it could be a restriction).
    const strict = doc([{ store: 's1', bucket: 'data', access: ['read'], futureLimit: 'x' }]);
    assert.equal(state.apply(strict, '/p/policy.json'), 'rejected');
    assert.equal(run(state.current, 'GET', '/data/x').allow, false);
  });

  const BAD: [string, string, RegExp][] = [
    ['not YAML/JSON', '{"grants": [', /not valid YAML/],
    [
      'a bad access mode',
      doc([{ store: 's1', bucket: 'data', access: ['fly'] }]),
      /grants\[0\]\.access\[0\]/,
    ],
    ['an unknown store', doc([{ store: 'nope', bucket: 'data', access: ['read'] }]), /grants\[0\]\.store/],
    [
      'an invalid bucket',
      doc([{ store: 's1', bucket: 'Bad_Bucket', access: ['read'] }]),
      /grants\[0\]\.bucket/,
    ],
    [
      'one bucket on two stores',
      doc(
        [
          { store: 's1', bucket: 'data', access: ['read'] },
          { store: 's2', bucket: 'data', access: ['read'] },
        ],
        [STORE, { ...STORE, name: 's2' }],
      ),
      /grants\[1\]\.store/,
    ],
    ['a reserved bucket', doc([{ store: 's1', bucket: 'minio', access: ['read'] }]), /grants\[0\]\.bucket/],
    ['a typo in a field name', doc([{ store: 's1', bucket: 'data', acess: ['read'] }]), /grants\[0\]\.acess/],
  ];
  for (const [name, text, field] of BAD) {
    void test(`rejected, previous kept: ${name}`, async () => {
      const { state, value, logged } = setup();
      const before = state.current;
      assert.equal(state.apply(text, '/p/policy.json'), 'rejected');
      assert.equal(state.current, before);
      assert.equal(await value('sluice_policy_reload_errors_total'), 1);
      assert.equal(logged.length, 1);
      assert.match(logged[0]!, /^error policy reload rejected/);
      assert.match(logged[0]!, field);
    });
  }

  void test('reloadFile reads the file; a missing file is rejected', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-policy-reload-'));
    try {
      const { state, value } = setup();
      const file = join(dir, 'policy.json');
      assert.equal(state.reloadFile(file), 'rejected');
      writeFileSync(file, doc([{ store: 's1', bucket: 'data', access: ['list'], source: 'v3' }]));
      assert.equal(state.reloadFile(file), 'changed');
      assert.equal(run(state.current, 'GET', '/data?list-type=2').allow, true);
      assert.equal(await value('sluice_policy_reload_errors_total'), 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test('denials are counted by reason, DeleteObjects body verdicts included', async () => {
    const { state, metrics } = setup();
    assert.equal(run(state.current, 'DELETE', '/data/x').allow, false);
    assert.equal(run(state.current, 'GET', '/data/team/%2e%2e/x').allow, false); // parse-side, not counted here
    state.apply(
      doc([{ store: 's1', bucket: 'data', prefixes: ['a/'], access: ['delete'] }]),
      '/p/policy.json',
    );
    const d = run(state.current, 'POST', '/data?delete');
    assert.ok(d.allow && d.bodyCheck);
    assert.equal(
      d.bodyCheck.check(Buffer.from('<Delete><Object><Key>b/x</Key></Object></Delete>')).allow,
      false,
    );
    const values = (await metrics.denials.get()).values;
    const of = (reason: string) => values.find((v) => v.labels.reason === reason)?.value;
    assert.equal(of('no-grant'), 2);
    assert.equal(of('list-prefix'), 0);
  });
});
