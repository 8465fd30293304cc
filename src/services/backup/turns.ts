// The backup job works with blocking file calls (fsBlocking), so its promises settle at once and, left alone, the
// event loop would not turn until the job ends: its heartbeat timer (job.ts) would stop, and a job silent for 30 s
// is taken for dead. Its loops ask for a turn now and then.
import { systemClock } from '../../system/clock.js';

/** A function that lets the event loop turn (timers, the heartbeat) when `everyMs` have passed since it last did. */
export function eventLoopTurns(everyMs: number): () => Promise<void> {
  let last = systemClock.monotonic();
  return async () => {
    if (systemClock.monotonic() - last < everyMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    last = systemClock.monotonic();
  };
}
