import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { judgeBudget, restartDelay, recentRestarts, type ResourceSample } from '../../src/agent/watchdog.js';

const MB = 1024 * 1024;
const budget = { maxRssBytes: 200 * MB, maxCpuPercent: 50, windowMs: 60_000 };
// A process using `percent` of one core, sampled every 10 s from t=0.
const steady = (percent: number, count: number, rssBytes = 50 * MB): ResourceSample[] =>
  Array.from({ length: count }, (_, i) => ({ at: i * 10_000, rssBytes, cpuMicros: i * 10_000 * 1000 * (percent / 100) }));

describe('judgeBudget', () => {
  it('is ok within budget and with no samples', () => {
    expect(judgeBudget([], budget)).toEqual({ ok: true });
    expect(judgeBudget(steady(20, 20), budget)).toEqual({ ok: true });
  });

  it('trips on memory above the budget at the latest sample, naming the figures', () => {
    const samples = [...steady(5, 3), { at: 30_000, rssBytes: 300 * MB, cpuMicros: 0 }];
    const v = judgeBudget(samples, budget);
    expect(v).toMatchObject({ ok: false, kind: 'memory' });
    expect(!v.ok && v.reason).toContain('300 MB');
  });

  it('trips on CPU only once a whole window is above the limit', () => {
    expect(judgeBudget(steady(90, 6), budget)).toEqual({ ok: true }); // 50 s < 60 s window: a burst
    expect(judgeBudget(steady(90, 7), budget)).toMatchObject({ ok: false, kind: 'cpu' });
    expect(judgeBudget(steady(45, 30), budget)).toEqual({ ok: true });
  });

  it('ignores invalid samples and a CPU counter that went backwards', () => {
    const broken = [{ at: 0, rssBytes: 0, cpuMicros: 1e12 }, { at: NaN, rssBytes: 1e15, cpuMicros: 0 }, { at: 70_000, rssBytes: MB, cpuMicros: 0 }];
    expect(judgeBudget(broken, budget)).toEqual({ ok: true });
  });

  it('never throws and always answers ok or a memory/cpu reason (property)', () => {
    const sample = fc.record({ at: fc.double(), rssBytes: fc.double(), cpuMicros: fc.double() });
    fc.assert(
      fc.property(fc.array(sample, { maxLength: 50 }), fc.record({ maxRssBytes: fc.nat(), maxCpuPercent: fc.nat(), windowMs: fc.nat() }), (samples, b) => {
        const v = judgeBudget(samples, b);
        return v.ok || (['memory', 'cpu'].includes(v.kind) && v.reason.length > 0);
      }),
      { numRuns: 500 },
    );
  });
});

describe('restartDelay', () => {
  const opts = { baseMs: 1_000, maxMs: 60_000, windowMs: 3_600_000 };
  const now = 10_000_000;

  it('starts at once after one restart, then doubles, capped', () => {
    const delays = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((n) => restartDelay(Array.from({ length: n }, (_, i) => now - 1000 * (i + 1)), now, opts));
    expect(delays).toEqual([0, 0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000]);
  });

  it('forgets restarts outside the window and from the future', () => {
    const old = [now - 4_000_000, now - 3_700_000, now - 3_600_001];
    expect(restartDelay(old, now, opts)).toBe(0);
    expect(recentRestarts([...old, now + 5, now - 10], now, opts)).toEqual([now - 10]);
  });

  it('is monotonic in the number of recent restarts and never above the cap (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3_600_000 }), { maxLength: 200 }), fc.integer({ min: 0, max: 3_600_000 }), (ages, extra) => {
        const history = ages.map((a) => now - a);
        const d = restartDelay(history, now, opts);
        const more = restartDelay([...history, now - extra], now, opts);
        return d >= 0 && d <= opts.maxMs && more >= d;
      }),
      { numRuns: 500 },
    );
  });
});
