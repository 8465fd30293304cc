// Reconnect delays: capped exponential growth with FULL jitter (AWS architecture blog, "Exponential Backoff
// And Jitter"), so a server restart does not bring every device back in the same second. Pure.

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** A number in [0, 1); injected so tests can pin it. */
  random: () => number;
  /** The server asked us to wait at least this long (error frame retryAfterMs). */
  retryAfterMs?: number;
}

/** Delay before reconnect attempt number `attempt` (0 = the first retry): random in [0, min(max, base*2^attempt)]. */
export function reconnectDelay(attempt: number, opts: BackoffOptions): number {
  const n = Math.max(0, Math.floor(Number.isFinite(attempt) ? attempt : 0));
  // 2^n overflows to Infinity past ~1024; Math.min keeps the ceiling finite either way.
  const ceiling = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(n, 60));
  const r = Math.min(Math.max(opts.random(), 0), 1);
  const jittered = Math.round(r * ceiling);
  return Math.max(jittered, opts.retryAfterMs ?? 0);
}

/**
 * After DEVICE_REVOKED (the server deleted this device and its key): no retry can fix that, only a new enrollment,
 * which starts a fresh connection at once. So the agent asks again only every 30-60 minutes (jittered), not at the
 * normal backoff's pace: a fleet of deleted devices must not keep hammering the server.
 */
export const REVOKED_RETRY_MS = { min: 30 * 60_000, max: 60 * 60_000 } as const;

export function revokedDelay(random: () => number): number {
  const r = Math.min(Math.max(random(), 0), 1);
  return REVOKED_RETRY_MS.min + Math.round(r * (REVOKED_RETRY_MS.max - REVOKED_RETRY_MS.min));
}
