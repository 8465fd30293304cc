import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/system/clock.js';

describe('systemClock', () => {
  it('counts elapsed time in milliseconds on the monotonic clock, alongside the wall clock', async () => {
    const mono = systemClock.monotonic();
    const wall = systemClock.now();
    await new Promise((resolve) => setTimeout(resolve, 120));
    const elapsed = systemClock.monotonic() - mono;
    // setTimeout never fires early; a loaded machine may fire it late, never 10 s late.
    expect(elapsed).toBeGreaterThanOrEqual(115);
    expect(elapsed).toBeLessThan(10_000);
    expect(Math.abs(elapsed - (systemClock.now() - wall))).toBeLessThan(50);
  });
});
