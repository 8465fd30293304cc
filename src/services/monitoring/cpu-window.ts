// The cpu check's average over exactly the window it names. The CPU time counters only grow, so the busy share of
// [now - window, now] is the difference of the counters at both ends: no sample from before the window is averaged
// in (an average of per-interval samples kept one interval too many: 360 s for "300 s"). Pure.

export interface CpuCounterSample {
  /** When the counters were read (ms). */
  at: number;
  /** Busy and total CPU time of all CPUs since boot (ms), as cpu-load.ts sums them. */
  busy: number;
  total: number;
}

export interface WindowAverage {
  percent: number;
  /** The samples reach back to the window's start: only then may the average raise an alert. */
  covered: boolean;
}

/**
 * Adds a sample and keeps what the window needs: the samples inside it and the last one at or before its start.
 * Counters that went backwards (a CPU went offline, a restart of the counters) start the window over.
 */
export function pushCounters(samples: readonly CpuCounterSample[], sample: CpuCounterSample, windowMs: number): CpuCounterSample[] {
  const last = samples.at(-1);
  if (last && (sample.total < last.total || sample.busy < last.busy || sample.at <= last.at)) return [sample];
  const next = [...samples, sample];
  const start = sample.at - windowMs;
  let first = 0;
  while (first < next.length - 2 && next[first + 1]!.at <= start) first++;
  return next.slice(first);
}

/**
 * Busy % over [now - windowMs, now] (now = the last sample), the counters at the window's start interpolated between
 * the two samples around it (exact when the window is a whole number of intervals; otherwise as if the load was even
 * within that one interval). `toleranceMs`: a first sample this much late still counts as covering the start (timers
 * fire a little late). windowMs 0 = the last interval. Null while there is no interval to measure.
 */
export function windowAverage(samples: readonly CpuCounterSample[], windowMs: number, toleranceMs = 0): WindowAverage | null {
  if (samples.length < 2) return null;
  const end = samples.at(-1)!;
  const from = windowMs === 0 ? samples.at(-2)!.at : end.at - windowMs;
  const firstAt = samples[0]!.at;
  const covered = firstAt <= from + toleranceMs;
  const start = firstAt >= from ? samples[0]! : interpolate(samples, from);
  const total = end.total - start.total;
  if (!(total > 0)) return null;
  return { percent: Math.min(100, Math.max(0, ((end.busy - start.busy) / total) * 100)), covered };
}

function interpolate(samples: readonly CpuCounterSample[], at: number): CpuCounterSample {
  let i = 0;
  while (i < samples.length - 2 && samples[i + 1]!.at <= at) i++;
  const a = samples[i]!;
  const b = samples[i + 1]!;
  const f = (at - a.at) / (b.at - a.at);
  return { at, busy: a.busy + (b.busy - a.busy) * f, total: a.total + (b.total - a.total) * f };
}
