// issue 21: "80 % over 20 s at a 5 s interval" must average exactly the last 20 s, not 25 s.
import { describe, expect, it } from 'vitest';
import { pushCounters, windowAverage, type CpuCounterSample } from '../../../src/services/monitoring/cpu-window.js';

/** Counters of 2 CPUs (2000 ms of CPU time per second) busy `percent[i]` during second i. */
function counters(percentPerSecond: number[]): CpuCounterSample[] {
  const out: CpuCounterSample[] = [{ at: 0, busy: 0, total: 0 }];
  for (const p of percentPerSecond) {
    const last = out.at(-1)!;
    out.push({ at: last.at + 1000, busy: last.busy + 20 * p, total: last.total + 2000 });
  }
  return out;
}

function feed(samples: CpuCounterSample[], everyMs: number, windowMs: number) {
  let kept: CpuCounterSample[] = [];
  for (const s of samples.filter((x) => x.at % everyMs === 0)) kept = pushCounters(kept, s, windowMs);
  return kept;
}

describe('cpu window', () => {
  it('averages exactly the window it names: 20 s of a 5 s interval use 4 intervals, not 5', () => {
    // 5 s at 40 %, then 20 s at 96 %: the last 20 s average 96 %; the old average of 5 samples said 84.8 %.
    const load = [...Array(5).fill(40), ...Array(20).fill(96)];
    const kept = feed(counters(load), 5000, 20_000);
    expect(kept.map((s) => s.at)).toEqual([5000, 10_000, 15_000, 20_000, 25_000]);
    const avg = windowAverage(kept, 20_000)!;
    expect(avg.covered).toBe(true);
    expect(avg.percent).toBeCloseTo(96, 9);
  });

  it('clears on the real average: after 10 s at 100 % and 10 s at 0 %, 20 s average 50 %', () => {
    const load = [...Array(20).fill(100), ...Array(10).fill(0)];
    const kept = feed(counters(load), 5000, 20_000);
    expect(windowAverage(kept, 20_000)!.percent).toBeCloseTo(50, 9);
  });

  it('interpolates the start of a window that is not a whole number of intervals', () => {
    // 7 s window at a 5 s interval: 2 s of the 0 % interval and 5 s of the 100 % one -> 5/7.
    const load = [...Array(5).fill(0), ...Array(5).fill(100)];
    const kept = feed(counters(load), 5000, 7000);
    expect(windowAverage(kept, 7000)!.percent).toBeCloseTo((5 / 7) * 100, 9);
  });

  it('is not covered (may not raise) before the samples reach back to the window start, allowing timer lateness', () => {
    const kept = feed(counters(Array(15).fill(100)), 5000, 20_000);
    expect(windowAverage(kept, 20_000)).toEqual({ percent: 100, covered: false });
    const late = [{ at: 0, busy: 0, total: 0 }, { at: 20_030, busy: 40_060, total: 40_060 }];
    expect(windowAverage(late, 20_000, 0)!.covered).toBe(true);
    const early = [{ at: 30, busy: 0, total: 0 }, { at: 20_000, busy: 39_940, total: 39_940 }];
    expect(windowAverage(early, 20_000, 0)!.covered).toBe(false);
    expect(windowAverage(early, 20_000, 50)!.covered).toBe(true);
  });

  it('a window of 0 s is the last interval; counters going back start over', () => {
    const kept = feed(counters([0, 0, 100]), 1000, 0);
    expect(kept).toHaveLength(2);
    expect(windowAverage(kept, 0)!.percent).toBe(100);
    expect(pushCounters(kept, { at: 5000, busy: 1, total: 10 }, 0)).toEqual([{ at: 5000, busy: 1, total: 10 }]);
    expect(windowAverage([{ at: 0, busy: 0, total: 0 }], 0)).toBe(null);
  });
});
