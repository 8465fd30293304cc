// Console sessions as pure decisions over plain data: the cookie (HttpOnly, SameSite=Strict, Secure under TLS),
// its lifetime, the CSRF check every change made with a cookie must pass, and the sign-in limits.
import { timingSafeEqual } from 'node:crypto';
import type { Bucket, Rate } from './rate-limit.js';
import type { SessionRecord } from './store/store.js';

export const SESSION_COOKIE = 'rmagent_session';
/** A session unused this long ends; use moves the end forward, never past SESSION_MAX_MS after sign-in. */
export const SESSION_IDLE_MS = 12 * 3_600_000;
export const SESSION_MAX_MS = 7 * 86_400_000;
/** lastSeenAt is written at most this often (a page polling the overview does not write on every call). */
export const SESSION_TOUCH_MS = 60_000;

export const SIGN_IN_LIMITS = {
  /** Wrong passwords in a row that lock the account's sign-in... */
  lockAfter: 5,
  /** ...for this long (even the right password is refused meanwhile). */
  lockMs: 15 * 60_000,
  /** Sign-in and sign-up attempts per client address: 20 at once, then one every 6 s. */
  perAddress: { perSec: 1 / 6, burst: 20 } satisfies Rate,
};

export function sessionCookie(value: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_MAX_MS / 1000}${secure ? '; Secure' : ''}`;
}

export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
}

/** The session cookie's value from a Cookie header (the first one; values are base64url so no decoding). */
export function readSessionCookie(header: string | undefined): string | null {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) {
      const value = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{16,128}$/.test(value) ? value : null;
    }
  }
  return null;
}

/** The idle expiry after a use at `now`, capped by the absolute lifetime. */
export function nextExpiry(session: Pick<SessionRecord, 'createdAt'>, now: number): number {
  return Math.min(now + SESSION_IDLE_MS, session.createdAt + SESSION_MAX_MS);
}

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

export type CsrfDecision = { ok: true } | { ok: false; reason: string };

/**
 * A change (POST/PUT/PATCH/DELETE) carried by the browser's cookie must name the session's CSRF token in
 * X-CSRF-Token, and any request from a browser must come from this server's own origin (Origin header):
 * another site can make the browser send the cookie, but it can neither read the token nor forge Origin.
 * Calls with an API token (Authorization: Bearer) carry no ambient credential and need neither.
 */
export function decideCsrf(req: { method: string; origin: string | undefined; ownOrigin: string; headerToken: string | undefined; session: Pick<SessionRecord, 'csrfToken'> | null }): CsrfDecision {
  if (SAFE_METHODS.has(req.method)) return { ok: true };
  if (req.origin !== undefined && req.origin !== req.ownOrigin) return { ok: false, reason: `origin ${req.origin} is not this server (${req.ownOrigin})` };
  if (!req.session) return { ok: true };
  if (!req.headerToken) return { ok: false, reason: 'X-CSRF-Token header missing' };
  const a = Buffer.from(req.headerToken);
  const b = Buffer.from(req.session.csrfToken);
  if (a.length !== b.length || !timingSafeEqual(a, b)) return { ok: false, reason: 'X-CSRF-Token does not match the session' };
  return { ok: true };
}

/**
 * One attempt from an address: 0 when allowed (and counted), else the ms to wait. Unlike the device buckets an
 * attempt is refused outright: nothing is lost by asking a person to wait.
 */
export function takeAttempt(bucket: Bucket, rate: Rate, now: number): number {
  bucket.tokens = Math.min(rate.burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * rate.perSec);
  bucket.at = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return 0;
  }
  return Math.ceil(((1 - bucket.tokens) / rate.perSec) * 1000);
}

/** Buckets per client address, at most `max` of them (the least recently used goes first). */
export function createAttemptLimiter(rate: Rate, max = 10_000) {
  const buckets = new Map<string, Bucket>();
  return {
    take(address: string, now: number): number {
      const bucket = buckets.get(address) ?? { tokens: rate.burst, at: now };
      buckets.delete(address);
      buckets.set(address, bucket);
      if (buckets.size > max) buckets.delete(buckets.keys().next().value!);
      return takeAttempt(bucket, rate, now);
    },
  };
}
export type AttemptLimiter = ReturnType<typeof createAttemptLimiter>;
