// Rate limits of the HTTP API: a token bucket per client address (before authentication, so guessing tokens or
// flooding costs the sender, not the database) and one per account token (after it, so one script cannot starve the
// console). Over a limit: 429 API_RATE_LIMITED with Retry-After. Per node: behind a load balancer each node counts
// what reaches it, and every client arrives from the balancer's address (turn the address limit off there with 0).
import { RmError } from '../../protocol/errors.js';
import { fullBucket, take, type Bucket, type Rate } from '../rate-limit.js';

export interface ApiRateLimits {
  /** Requests per second per client address (0 = no limit). */
  perAddress: Rate;
  /** Requests per second per account token (0 = no limit). */
  perToken: Rate;
}

export const DEFAULT_API_RATE_LIMITS: ApiRateLimits = {
  perAddress: { perSec: 100, burst: 1_000 },
  perToken: { perSec: 50, burst: 500 },
};

/** Buckets remembered at most; the least recently used go first (a full bucket is what a new key gets anyway). */
const MAX_KEYS = 20_000;

function limiter(rate: Rate, now: () => number): (key: string) => void {
  const buckets = new Map<string, Bucket>();
  return (key) => {
    if (rate.perSec <= 0) return;
    const at = now();
    let bucket = buckets.get(key);
    if (bucket) buckets.delete(key);
    else bucket = fullBucket(rate, at);
    buckets.set(key, bucket);
    if (buckets.size > MAX_KEYS) buckets.delete(buckets.keys().next().value!);
    // A refused request costs nothing: only what is served is counted (a client waiting Retry-After gets through).
    const waitMs = take(bucket, rate, 1, at);
    if (waitMs > 0) {
      bucket.tokens += 1;
      throw new RmError('API_RATE_LIMITED', `more than ${rate.perSec} requests per second (burst ${rate.burst}); retry in ${waitMs} ms`, { retryAfterMs: waitMs });
    }
  };
}

export interface ApiLimiter {
  /** Throws API_RATE_LIMITED when the address is over its limit. */
  address(address: string): void;
  /** Throws API_RATE_LIMITED when the token (its hash or account id) is over its limit. */
  token(key: string): void;
}

export function createApiLimiter(limits: ApiRateLimits, now: () => number = Date.now): ApiLimiter {
  return { address: limiter(limits.perAddress, now), token: limiter(limits.perToken, now) };
}
