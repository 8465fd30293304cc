import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { reconnectDelay, revokedDelay } from '../../src/agent/backoff.js';

const base = { baseMs: 1000, maxMs: 60_000 };

describe('reconnectDelay', () => {
  it('stays within [0, min(max, base*2^n)] for any attempt and random value', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const d = reconnectDelay(attempt, { ...base, random: () => r });
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(Math.min(base.maxMs, base.baseMs * 2 ** attempt));
      }),
    );
  });

  it('grows exponentially until the cap', () => {
    const top = (n: number) => reconnectDelay(n, { ...base, random: () => 0.999999 });
    expect([0, 1, 2, 3, 4, 5, 6, 7, 50].map(top)).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  });

  it('uses full jitter: delays for one attempt spread over the whole range', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const delays = Array.from({ length: 2000 }, () => reconnectDelay(10, { ...base, random }));
    const buckets = [0, 0, 0, 0];
    for (const d of delays) buckets[Math.min(3, Math.floor(d / 15_000))]! += 1;
    for (const b of buckets) expect(b).toBeGreaterThan(350); // ~500 each when uniform
    expect(new Set(delays).size).toBeGreaterThan(1500);
  });

  it('never waits less than the server-given retryAfterMs', () => {
    expect(reconnectDelay(0, { ...base, random: () => 0, retryAfterMs: 7000 })).toBe(7000);
    expect(reconnectDelay(20, { ...base, random: () => 0.999999, retryAfterMs: 500 })).toBe(60_000);
    expect(reconnectDelay(0, { ...base, random: () => 0.5, retryAfterMs: 120_000 })).toBe(120_000);
  });

  it('after DEVICE_REVOKED waits 30-60 minutes, far beyond the normal ceiling', () => {
    expect(revokedDelay(() => 0)).toBe(30 * 60_000);
    expect(revokedDelay(() => 0.999999)).toBeLessThanOrEqual(60 * 60_000);
    expect(revokedDelay(() => 0.5)).toBeGreaterThan(reconnectDelay(50, { ...base, random: () => 0.999999 }));
  });
});
