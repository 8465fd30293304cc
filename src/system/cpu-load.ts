// CPU busy share from the tick counters of os.cpus(), diffed between two samples: no child process,
// no waiting, the same counters systeminformation's currentLoad uses, on every OS.

export interface CpuTimes {
  busy: number;
  total: number;
}

interface CpuTick {
  times: { user: number; nice: number; sys: number; idle: number; irq: number };
}

/** All CPUs' counters summed (ms since boot). */
export function cpuTimes(cpus: readonly CpuTick[]): CpuTimes {
  let busy = 0;
  let total = 0;
  for (const { times: t } of cpus) {
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { busy, total };
}

/** Busy % between two samples; null when no tick passed (or a CPU went offline) and there is nothing to tell. */
export function busyPercent(prev: CpuTimes, next: CpuTimes): number | null {
  const total = next.total - prev.total;
  const busy = next.busy - prev.busy;
  if (!(total > 0) || busy < 0) return null;
  return Math.min(100, Math.max(0, (busy / total) * 100));
}
