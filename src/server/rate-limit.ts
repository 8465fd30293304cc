// Token buckets for what one device may send after its handshake: pure over plain data, so the gateway only
// measures, asks, and pauses the socket for the answer.
export interface Rate {
  /** Sustained units per second. */
  perSec: number;
  /** Units available at once after a quiet period. */
  burst: number;
}

export interface Bucket {
  tokens: number;
  at: number;
}

export const fullBucket = (rate: Rate, now: number): Bucket => ({ tokens: rate.burst, at: now });

/**
 * Takes `cost` units (the bucket may go into debt: a frame that arrived is never refused) and returns how long the
 * sender must wait, in ms, until the debt is paid; 0 when it may go on.
 */
export function take(bucket: Bucket, rate: Rate, cost: number, now: number): number {
  bucket.tokens = Math.min(rate.burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * rate.perSec);
  bucket.at = now;
  bucket.tokens -= cost;
  return bucket.tokens >= 0 ? 0 : Math.ceil((-bucket.tokens / rate.perSec) * 1000);
}
