import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PeakEwma } from '../../../proxy/balancer/ewma.ts';
import { ManualClock, seededRandom, type Clock, type Random } from '../../../proxy/balancer/random.ts';
import { LeastInFlightPicker } from '../../../proxy/balancer/selection/least-in-flight.ts';
import { pickTwo } from '../../../proxy/balancer/selection/p2c.ts';
import { PeakEwmaPicker } from '../../../proxy/balancer/selection/peak-ewma.ts';
import type { Picker } from '../../../proxy/balancer/selection/picker.ts';
import { RoundRobinPicker } from '../../../proxy/balancer/selection/round-robin.ts';

interface Fake {
  id: string;
  inFlight: number;
  ewma: PeakEwma;
}

function backends(n: number, clock: Clock, initialMs = 10): Fake[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `b${i}`,
    inFlight: 0,
    ewma: new PeakEwma(clock, { decayMs: 10_000, initialMs, peakSensitivity: 1, minSampleWeight: 0.05 }),
  }));
}

function tally(picker: Picker, list: Fake[], picks: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const b = picker.pick(list)!;
    counts.set(b.id, (counts.get(b.id) ?? 0) + 1);
  }
  return counts;
}

void describe('round-robin', () => {
  void test('spreads picks exactly evenly', () => {
    const list = backends(4, new ManualClock());
    const counts = tally(new RoundRobinPicker(), list, 400);
    assert.deepEqual([...counts.values()], [100, 100, 100, 100]);
  });

  void test('returns undefined only for an empty list', () => {
    assert.equal(new RoundRobinPicker().pick([]), undefined);
    const one = backends(1, new ManualClock());
    assert.equal(new RoundRobinPicker().pick(one), one[0]);
  });
});

void describe('power of two choices', () => {
  void test('returns the lower-scored of the two candidates it drew, never the worse', () => {
    // A scripted draw: index 2 first, then index 0 of the remaining three (→ candidate 0).
    const draws = [0.6, 0.1];
    const random: Random = () => draws.shift()!;
    const list = [{ s: 5 }, { s: 1 }, { s: 3 }, { s: 9 }];
    assert.deepEqual(
      pickTwo(list, random, (c) => c.s),
      { s: 3 },
    );
  });

  void test('always draws two distinct candidates', () => {
    const random = seededRandom(7);
    const list = [{ s: 1 }, { s: 2 }];
    // With two candidates P2C compares both, so the better one wins every time.
    for (let i = 0; i < 1000; i++)
      assert.equal(
        pickTwo(list, random, (c) => c.s),
        list[0],
      );
  });

  void test('least-in-flight never picks the busiest backend and favours the idlest', () => {
    const list = backends(4, new ManualClock());
    list.forEach((b, i) => (b.inFlight = i));
    const counts = tally(new LeastInFlightPicker(seededRandom(42)), list, 12_000);
    assert.equal(counts.get('b3') ?? 0, 0);
    // Rank k (0 = idlest) wins the pairs it is in against worse ones: 3/6, 2/6, 1/6.
    assert.ok(Math.abs(counts.get('b0')! / 12_000 - 0.5) < 0.03);
    assert.ok(Math.abs(counts.get('b1')! / 12_000 - 1 / 3) < 0.03);
    assert.ok(Math.abs(counts.get('b2')! / 12_000 - 1 / 6) < 0.03);
  });

  void test('is deterministic for a seed', () => {
    const a = tally(new LeastInFlightPicker(seededRandom(3)), backends(5, new ManualClock()), 100);
    const b = tally(new LeastInFlightPicker(seededRandom(3)), backends(5, new ManualClock()), 100);
    assert.deepEqual(a, b);
  });
});

void describe('peak-EWMA picker', () => {
  /**
   * A discrete-event simulation: `concurrency` requests always outstanding, each backend answers
   * after its own latency; every completion feeds the estimate and starts the next request.
   */
  function simulate(picker: Picker, latencies: number[], requests: number, concurrency: number): number[] {
    const clock = new ManualClock();
    const list = backends(latencies.length, clock);
    const served = latencies.map(() => 0);
    const pending: { at: number; b: number }[] = [];
    const dispatch = (): void => {
      const b = picker.pick(list)!;
      const i = list.indexOf(b);
      b.inFlight += 1;
      pending.push({ at: clock.now() + latencies[i]!, b: i });
    };
    for (let i = 0; i < concurrency; i++) dispatch();
    for (let done = 0; done < requests; done++) {
      pending.sort((x, y) => x.at - y.at);
      const next = pending.shift()!;
      clock.advance(next.at - clock.now());
      const b = list[next.b]!;
      b.inFlight -= 1;
      b.ewma.observe(latencies[next.b]!);
      served[next.b]! += 1;
      dispatch();
    }
    return served.map((s) => s / requests);
  }

  void test('sends under 5% to a backend with 10x the latency', () => {
    const shares = simulate(new PeakEwmaPicker(seededRandom(1)), [5, 5, 5, 50], 20_000, 8);
    assert.ok(shares[3]! < 0.05, `slow share ${shares[3]}`);
  });

  void test('round-robin, for contrast, sends the slow backend its full quarter', () => {
    const shares = simulate(new RoundRobinPicker(), [5, 5, 5, 50], 20_000, 8);
    assert.ok(Math.abs(shares[3]! - 0.25) < 0.01);
  });

  void test('spreads evenly over equal backends', () => {
    const shares = simulate(new PeakEwmaPicker(seededRandom(9)), [5, 5, 5, 5], 20_000, 8);
    for (const s of shares) assert.ok(Math.abs(s - 0.25) < 0.05, `share ${s}`);
  });

  void test('cost counts in-flight requests: an equally fast but busier backend loses', () => {
    const clock = new ManualClock();
    const [a, b] = backends(2, clock);
    a!.inFlight = 3;
    const picker = new PeakEwmaPicker(seededRandom(5));
    for (let i = 0; i < 100; i++) assert.equal(picker.pick([a!, b!]), b);
  });
});

void describe('peak EWMA estimate', () => {
  const opts = { decayMs: 1_000, initialMs: 10, peakSensitivity: 1, minSampleWeight: 0 };

  void test('takes a spike at once', () => {
    const clock = new ManualClock();
    const e = new PeakEwma(clock, opts);
    e.observe(500);
    assert.equal(e.value(), 500);
  });

  void test('a peak sensitivity below 1 takes that fraction of the spike', () => {
    const e = new PeakEwma(new ManualClock(), { ...opts, peakSensitivity: 0.5 });
    e.observe(110);
    assert.equal(e.value(), 60);
  });

  void test('lower samples blend in by elapsed time (weight 1 - e^(-dt/tau))', () => {
    const clock = new ManualClock();
    const e = new PeakEwma(clock, opts);
    e.observe(100);
    clock.advance(1_000);
    e.observe(10);
    const w = Math.exp(-1);
    assert.ok(Math.abs(e.value() - (100 * w + 10 * (1 - w))) < 1e-9);
  });

  void test('a sample right after a peak barely moves it', () => {
    const clock = new ManualClock();
    const e = new PeakEwma(clock, opts);
    e.observe(100);
    e.observe(1);
    assert.equal(e.value(), 100);
  });

  void test('a busy backend forgets a spike within tens of samples (minSampleWeight)', () => {
    const clock = new ManualClock();
    const e = new PeakEwma(clock, { ...opts, decayMs: 10_000, minSampleWeight: 0.05 });
    e.observe(10);
    e.observe(200); // one spike
    for (let i = 0; i < 60; i++) {
      clock.advance(1); // samples 1 ms apart: the time-based weight alone would be ~1e-4
      e.observe(10);
    }
    assert.ok(e.value() < 20, `estimate ${e.value()}`);
  });

  void test('reset starts over', () => {
    const e = new PeakEwma(new ManualClock(), opts);
    e.observe(900);
    e.reset(10);
    assert.equal(e.value(), 10);
  });

  void test('decays towards zero while idle, so a once-slow node is probed again', () => {
    const clock = new ManualClock();
    const e = new PeakEwma(clock, opts);
    e.observe(100);
    clock.advance(3_000);
    assert.ok(e.value() < 100 * Math.exp(-3) + 1e-9 && e.value() > 0);
  });
});
