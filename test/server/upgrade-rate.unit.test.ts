// The per-address rate of agent WebSocket upgrades (upgrade-rate.ts): the bucket's verdicts, the default that
// follows the per-address cap, and the bound on how many addresses are remembered.
import { describe, expect, it } from 'vitest';
import { upgradesPerMinuteOf } from '../../src/server/connection-caps.js';
import { createUpgradeLimiter, defaultUpgradesPerMinute, isRefilled, RATE_SWEEP_MS, RETRY_AFTER_RATE_SEC, takeUpgrade } from '../../src/server/upgrade-rate.js';

describe('takeUpgrade', () => {
  it('lets a full bucket\'s worth through at once, then refuses with a Retry-After of 10-60 s; a refusal takes nothing', () => {
    const bucket = { tokens: 5, at: 0 };
    const verdicts = Array.from({ length: 8 }, () => takeUpgrade(bucket, 5, 0, 0.5));
    expect(verdicts.filter((v) => v.ok)).toHaveLength(5);
    expect(verdicts.slice(5)).toEqual(Array(3).fill({ ok: false, retryAfterSec: 35, reason: 'this address opened more than 5 agent connections in a minute' }));
    expect(bucket.tokens).toBe(0);
    expect(takeUpgrade({ tokens: 0, at: 0 }, 60, 0, 0)).toMatchObject({ retryAfterSec: RETRY_AFTER_RATE_SEC.min });
    expect(takeUpgrade({ tokens: 0, at: 0 }, 60, 0, 0.9999)).toMatchObject({ retryAfterSec: RETRY_AFTER_RATE_SEC.min + RETRY_AFTER_RATE_SEC.spread - 1 });
  });

  it('refills perMinute a minute, never beyond the burst; a slow rate asks to wait at least until the next token', () => {
    const bucket = { tokens: 0, at: 0 };
    expect(takeUpgrade(bucket, 60, 999, 0).ok).toBe(false); // 0.999 of a token
    expect(takeUpgrade(bucket, 60, 1_000, 0).ok).toBe(true);
    expect(takeUpgrade(bucket, 60, 10 * 60_000, 0).ok).toBe(true);
    expect(bucket.tokens).toBe(59); // capped at the burst (60), then one taken
    expect(takeUpgrade({ tokens: 0, at: 0 }, 1, 0, 0)).toMatchObject({ ok: false, retryAfterSec: 60 });
  });

  it('a bucket is refilled (and may be forgotten) once it holds its whole burst again', () => {
    expect(isRefilled({ tokens: 0, at: 0 }, 60, 59_999)).toBe(false);
    expect(isRefilled({ tokens: 0, at: 0 }, 60, 60_000)).toBe(true);
    expect(isRefilled({ tokens: 30, at: 0 }, 60, 30_000)).toBe(true);
  });
});

describe('the default rate', () => {
  it('is the per-address cap a minute (so every connection an address may hold can reconnect at once), at least 60, and off with no per-address cap', () => {
    expect(defaultUpgradesPerMinute(1_000)).toBe(1_000);
    expect(defaultUpgradesPerMinute(5_000)).toBe(5_000);
    expect(defaultUpgradesPerMinute(2)).toBe(60);
    expect(defaultUpgradesPerMinute(0)).toBe(0);
    expect(upgradesPerMinuteOf({ total: 0, perAddress: 1_000 })).toBe(1_000);
    expect(upgradesPerMinuteOf({ total: 0, perAddress: 1_000, upgradesPerMinute: 0 })).toBe(0);
    expect(upgradesPerMinuteOf({ total: 0, perAddress: 0, upgradesPerMinute: 30 })).toBe(30);
  });
});

describe('createUpgradeLimiter', () => {
  it('keeps one bucket per address; 0 = no limit', () => {
    let now = 0;
    const limiter = createUpgradeLimiter(2, () => now, () => 0);
    expect(['a', 'a', 'a', 'b'].map((address) => limiter.take(address).ok)).toEqual([true, true, false, true]);
    now += 30_000;
    expect(limiter.take('a').ok).toBe(true);
    const off = createUpgradeLimiter(0, () => now);
    expect(Array.from({ length: 1_000 }, () => off.take('a').ok).every(Boolean)).toBe(true);
    expect(off.size()).toBe(0);
  });

  it('forgets refilled buckets, and never remembers more than its bound however many addresses come (the least recently seen go first)', () => {
    let now = 0;
    const limiter = createUpgradeLimiter(10, () => now, () => 0, 100);
    for (let i = 0; i < 10_000; i++) limiter.take(`10.0.${i >> 8}.${i & 0xff}`);
    expect(limiter.size()).toBe(100);
    for (let i = 0; i < 10; i++) limiter.take('203.0.113.9');
    expect(limiter.take('203.0.113.9').ok).toBe(false); // the busy address is the most recently seen: kept
    expect(limiter.size()).toBe(100);
    // A minute later every bucket is full again: the next sweep forgets them all.
    now += 60_000 + RATE_SWEEP_MS;
    limiter.take('198.51.100.1');
    expect(limiter.size()).toBe(1);
  });
});
