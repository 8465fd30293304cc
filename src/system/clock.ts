// Time is an edge: decisions take a Clock so tests can move time without sleeping.
export interface Clock {
  /** Wall clock, ms since the epoch: may step (NTP, a user setting the date, a VM resumed). */
  now(): number;
  /** Monotonic ms from an arbitrary origin: never steps, so it measures elapsed time across wall-clock steps. */
  monotonic(): number;
}

// process.hrtime, the same monotonic clock as performance.now(): perf_hooks and the ~10 built-in modules it loads cost
// the idle agent ~0.4 MB of RSS (docs/benchmarks.md, issue 19).
export const systemClock: Clock = { now: () => Date.now(), monotonic: () => Number(process.hrtime.bigint()) / 1e6 };

/** A clock that moves only when told: `advance` lets time pass (both readings), `step` moves the wall clock alone. */
export function fixedClock(start: number): Clock & { advance(ms: number): void; step(ms: number): void } {
  let wall = start;
  let mono = 0;
  return {
    now: () => wall,
    monotonic: () => mono,
    advance: (ms) => { wall += ms; mono += ms; },
    step: (ms) => { wall += ms; },
  };
}
