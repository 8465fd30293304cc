// How fast one client address (an IPv6 client per /64: addressGroupOf) may open agent WebSocket connections: a token
// bucket per address holding a minute's worth of upgrades, checked at the HTTP upgrade before anything of WebSocket
// is built; beyond it the upgrade is answered 429 with Retry-After. The connection caps bound what an address holds
// at once; this bounds how often it may come back, since every upgrade costs the server (HTTP parsing, the 101
// answer, WebSocket state) even when the peer closes at once: a peer opening and closing connections made 23,000
// to 48,000 upgrades in 12 s (+166 MB of server RSS, most of a core).
import type { Bucket } from './rate-limit.js';

/** Seconds a peer refused for its upgrade rate is asked to wait: a crowd refused together comes back spread out. */
export const RETRY_AFTER_RATE_SEC = { min: 10, spread: 50 } as const;

/** The default rate never goes below this many upgrades a minute (one a second), however low the per-address cap. */
export const MIN_DEFAULT_UPGRADES_PER_MINUTE = 60;

/**
 * Upgrades a minute one address may make by default, with a burst of as many: the per-address connection cap
 * (at least MIN_DEFAULT_UPGRADES_PER_MINUTE), so every connection an address may hold can be opened again at once
 * (devices behind one NAT address coming back together after a server restart or a network cut) and once more
 * every minute; 0 (off) with no per-address cap, which is how a node behind a balancer that does not forward the
 * client address runs (every client would share the balancer's bucket).
 */
export function defaultUpgradesPerMinute(perAddress: number): number {
  return perAddress > 0 ? Math.max(perAddress, MIN_DEFAULT_UPGRADES_PER_MINUTE) : 0;
}

export type UpgradeVerdict = { ok: true } | { ok: false; retryAfterSec: number; reason: string };

/**
 * Pure: refills `bucket` (burst perMinute, perMinute tokens a minute) to `now` and takes one token if there is one.
 * A refused upgrade takes nothing, so a peer that waits as asked gets through. `random` in [0, 1) spreads the wait.
 */
export function takeUpgrade(bucket: Bucket, perMinute: number, now: number, random: number): UpgradeVerdict {
  bucket.tokens = Math.min(perMinute, bucket.tokens + (Math.max(0, now - bucket.at) / 60_000) * perMinute);
  bucket.at = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return { ok: true };
  }
  const untilToken = Math.ceil(((1 - bucket.tokens) / perMinute) * 60);
  const spread = RETRY_AFTER_RATE_SEC.min + Math.floor(Math.min(Math.max(random, 0), 0.999) * RETRY_AFTER_RATE_SEC.spread);
  return { ok: false, retryAfterSec: Math.max(untilToken, spread), reason: `this address opened more than ${perMinute} agent connections in a minute` };
}

/** Pure: the bucket is full again at `now`, so forgetting it changes nothing (a new address starts full). */
export const isRefilled = (bucket: Bucket, perMinute: number, now: number): boolean =>
  bucket.tokens + (Math.max(0, now - bucket.at) / 60_000) * perMinute >= perMinute;

/** Addresses remembered at most; beyond it the least recently seen is forgotten (it starts full if it comes back). */
export const MAX_RATE_ADDRESSES = 50_000;
/** How often refilled buckets are forgotten (checked on the next upgrade, no timer). */
export const RATE_SWEEP_MS = 10_000;

export interface UpgradeLimiter {
  take(address: string): UpgradeVerdict;
  /** Addresses remembered now. */
  size(): number;
}

/**
 * The buckets behind takeUpgrade, one per address, bounded: refilled ones are forgotten every RATE_SWEEP_MS, and
 * never more than maxAddresses are kept (an attacker with many addresses cannot grow the map). 0 = no limit.
 */
export function createUpgradeLimiter(perMinute: number, now: () => number, random: () => number = Math.random, maxAddresses = MAX_RATE_ADDRESSES): UpgradeLimiter {
  const buckets = new Map<string, Bucket>();
  let sweptAt = now();
  const sweep = (at: number) => {
    sweptAt = at;
    for (const [address, bucket] of buckets) if (isRefilled(bucket, perMinute, at)) buckets.delete(address);
  };
  return {
    take(address) {
      if (perMinute <= 0) return { ok: true };
      const at = now();
      if (at - sweptAt >= RATE_SWEEP_MS) sweep(at);
      const bucket = buckets.get(address) ?? { tokens: perMinute, at };
      buckets.delete(address); // re-inserted last: the map's order is least recently seen first
      buckets.set(address, bucket);
      if (buckets.size > maxAddresses) buckets.delete(buckets.keys().next().value!);
      return takeUpgrade(bucket, perMinute, at, random());
    },
    size: () => buckets.size,
  };
}
