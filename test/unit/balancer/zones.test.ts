import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { drawZone, zoneShares } from '../../../proxy/balancer/zones.ts';

const z = (zone: string, total: number, eligible: number) => ({ zone, total, eligible });
const asObject = (m: Map<string, number>) =>
  Object.fromEntries([...m].map(([k, v]) => [k, Math.round(v * 1000) / 1000]));

void describe('zone spill-over arithmetic', () => {
  void test('a whole local zone takes all traffic', () => {
    assert.deepEqual(asObject(zoneShares([z('a', 2, 2), z('b', 2, 2), z('c', 2, 2)], 'a')), { a: 1 });
  });

  void test('a dead local zone spills evenly across the others, never doubling one neighbour', () => {
    assert.deepEqual(asObject(zoneShares([z('a', 2, 0), z('b', 2, 2), z('c', 2, 2)], 'a')), {
      b: 0.5,
      c: 0.5,
    });
  });

  void test('a partly healthy local zone keeps its capacity share and spills the rest evenly', () => {
    assert.deepEqual(asObject(zoneShares([z('a', 4, 3), z('b', 2, 2), z('c', 2, 2)], 'a')), {
      a: 0.75,
      b: 0.125,
      c: 0.125,
    });
  });

  void test('spill-over weighs each neighbour by its own healthy fraction', () => {
    assert.deepEqual(asObject(zoneShares([z('a', 2, 0), z('b', 2, 1), z('c', 2, 2)], 'a')), {
      b: 0.333,
      c: 0.667,
    });
  });

  void test('the local zone alone keeps everything even when degraded (deliver whenever possible)', () => {
    assert.deepEqual(asObject(zoneShares([z('a', 4, 1), z('b', 2, 0)], 'a')), { a: 1 });
  });

  void test('a local zone with no backends spreads over the others', () => {
    assert.deepEqual(asObject(zoneShares([z('b', 3, 3), z('c', 1, 1)], 'a')), { b: 0.5, c: 0.5 });
  });

  void test('nothing eligible anywhere yields no shares', () => {
    assert.equal(zoneShares([z('a', 2, 0), z('b', 1, 0)], 'a').size, 0);
  });

  void test('shares always sum to 1', () => {
    for (let ea = 0; ea <= 3; ea++)
      for (let eb = 0; eb <= 2; eb++)
        for (let ec = 0; ec <= 2; ec++) {
          const shares = zoneShares([z('a', 3, ea), z('b', 2, eb), z('c', 2, ec)], 'a');
          if (ea + eb + ec === 0) continue;
          const sum = [...shares.values()].reduce((s, v) => s + v, 0);
          assert.ok(Math.abs(sum - 1) < 1e-9, `${ea}/${eb}/${ec}: ${sum}`);
        }
  });

  void test('drawZone maps a uniform draw onto the shares', () => {
    const shares = new Map([
      ['b', 0.5],
      ['c', 0.5],
    ]);
    assert.equal(drawZone(shares, 0), 'b');
    assert.equal(drawZone(shares, 0.49), 'b');
    assert.equal(drawZone(shares, 0.5), 'c');
    assert.equal(drawZone(shares, 0.9999), 'c');
    assert.equal(drawZone(new Map(), 0.3), undefined);
  });
});
