// CPU busy share between two samples of the os.cpus() counters.
import { describe, expect, it } from 'vitest';
import { busyPercent, cpuTimes } from '../../src/system/cpu-load.js';

// Two CPUs as os.cpus() reports them (ms since boot), then 1 s later: CPU 0 busy 600 of 1000 ms, CPU 1 100 of 1000.
const BEFORE = [
  { model: 'Intel(R) Xeon(R)', speed: 2400, times: { user: 120_000, nice: 500, sys: 40_000, idle: 3_600_000, irq: 1_000 } },
  { model: 'Intel(R) Xeon(R)', speed: 2400, times: { user: 110_000, nice: 0, sys: 38_000, idle: 3_620_000, irq: 900 } },
];
const AFTER = [
  { model: 'Intel(R) Xeon(R)', speed: 2400, times: { user: 120_450, nice: 550, sys: 40_090, idle: 3_600_400, irq: 1_010 } },
  { model: 'Intel(R) Xeon(R)', speed: 2400, times: { user: 110_080, nice: 0, sys: 38_020, idle: 3_620_900, irq: 900 } },
];

describe('cpu busy percent', () => {
  it('is the busy share of all CPUs together between the two samples', () => {
    expect(busyPercent(cpuTimes(BEFORE), cpuTimes(AFTER))).toBeCloseTo(35, 10);
  });

  it('sums user, nice, sys and irq as busy and adds idle to the total', () => {
    expect(cpuTimes(BEFORE)).toEqual({ busy: 120_000 + 500 + 40_000 + 1_000 + 110_000 + 38_000 + 900, total: 120_000 + 500 + 40_000 + 1_000 + 3_600_000 + 110_000 + 38_000 + 900 + 3_620_000 });
  });

  it('has nothing to tell when no tick passed or a CPU went offline between the samples', () => {
    const t = cpuTimes(BEFORE);
    expect(busyPercent(t, t)).toBeNull();
    expect(busyPercent(cpuTimes(AFTER), cpuTimes(AFTER.slice(0, 1)))).toBeNull();
  });

  it('stays within 0..100 for a fully busy and a fully idle interval', () => {
    const busy = { busy: 2_000, total: 2_000 };
    const idle = { busy: 0, total: 2_000 };
    expect(busyPercent({ busy: 0, total: 0 }, busy)).toBe(100);
    expect(busyPercent({ busy: 0, total: 0 }, idle)).toBe(0);
  });
});
