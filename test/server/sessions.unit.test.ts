// The console's session decisions: the cookie, its lifetime, the CSRF check and the attempt budget.
import { describe, expect, it } from 'vitest';
import { clearedSessionCookie, createAttemptLimiter, decideCsrf, nextExpiry, readSessionCookie, sessionCookie, SESSION_IDLE_MS, SESSION_MAX_MS } from '../../src/server/sessions.js';
import { decideSeats } from '../../src/server/access.js';

const own = 'http://127.0.0.1:8080';
const session = { csrfToken: 'csrf_abc' };

describe('session cookie', () => {
  it('is HttpOnly and SameSite=Strict, Secure under TLS, and is read back only when well-formed', () => {
    expect(sessionCookie('v'.repeat(32), false)).toBe(`rmagent_session=${'v'.repeat(32)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=604800`);
    expect(sessionCookie('v'.repeat(32), true)).toMatch(/; Secure$/);
    expect(clearedSessionCookie(true)).toMatch(/Max-Age=0; Secure$/);
    expect(readSessionCookie(`theme=dark; rmagent_session=${'a'.repeat(40)}`)).toBe('a'.repeat(40));
    expect(readSessionCookie('rmagent_session=short')).toBeNull();
    expect(readSessionCookie('rmagent_session=has spaces and ; more')).toBeNull();
    expect(readSessionCookie(undefined)).toBeNull();
  });

  it('expires when idle, moves forward with use, never past the absolute lifetime', () => {
    expect(nextExpiry({ createdAt: 0 }, 1000)).toBe(1000 + SESSION_IDLE_MS);
    expect(nextExpiry({ createdAt: 0 }, SESSION_MAX_MS - 1000)).toBe(SESSION_MAX_MS);
  });
});

describe('CSRF decision', () => {
  it('lets reads through, and changes with a cookie only with the session token from this origin', () => {
    expect(decideCsrf({ method: 'GET', origin: 'http://evil.example', ownOrigin: own, headerToken: undefined, session })).toEqual({ ok: true });
    expect(decideCsrf({ method: 'POST', origin: own, ownOrigin: own, headerToken: 'csrf_abc', session })).toEqual({ ok: true });
    expect(decideCsrf({ method: 'POST', origin: undefined, ownOrigin: own, headerToken: 'csrf_abc', session })).toEqual({ ok: true });
    expect(decideCsrf({ method: 'DELETE', origin: own, ownOrigin: own, headerToken: undefined, session }).ok).toBe(false);
    expect(decideCsrf({ method: 'PATCH', origin: own, ownOrigin: own, headerToken: 'csrf_abd', session }).ok).toBe(false);
    expect(decideCsrf({ method: 'POST', origin: own, ownOrigin: own, headerToken: 'csrf_ab', session }).ok).toBe(false);
    expect(decideCsrf({ method: 'POST', origin: 'null', ownOrigin: own, headerToken: 'csrf_abc', session }).ok).toBe(false);
  });

  it('asks nothing of an API token call, but still refuses another site\'s origin on a public change (login CSRF)', () => {
    expect(decideCsrf({ method: 'POST', origin: undefined, ownOrigin: own, headerToken: undefined, session: null })).toEqual({ ok: true });
    expect(decideCsrf({ method: 'POST', origin: 'https://evil.example', ownOrigin: own, headerToken: undefined, session: null }).ok).toBe(false);
  });
});

describe('attempt budget per address', () => {
  it('allows the burst, then one per 6 s, per address, and forgets the least recently used beyond its size', () => {
    const limiter = createAttemptLimiter({ perSec: 1 / 6, burst: 3 }, 2);
    expect([0, 0, 0].map(() => limiter.take('a', 0))).toEqual([0, 0, 0]);
    expect(limiter.take('a', 0)).toBe(6000);
    expect(limiter.take('b', 0)).toBe(0);
    expect(limiter.take('a', 6000)).toBe(0);
    limiter.take('c', 6000); // pushes out b (least recently used)
    expect([0, 0, 0].map(() => limiter.take('b', 6000))).toEqual([0, 0, 0]);
  });
});

describe('seats', () => {
  it('fits within the free seats, refuses beyond with the figures, and never counts devices that had the service', () => {
    expect(decideSeats('monitoring', { total: 2, used: 1 }, 1)).toEqual({ ok: true });
    expect(decideSeats('monitoring', { total: 2, used: 2 }, 0)).toEqual({ ok: true });
    expect(decideSeats('monitoring', { total: 2, used: 1 }, 2)).toEqual({ ok: false, reason: 'monitoring: 2 device(s) need a seat, 1 of 2 seat(s) free', seats: { total: 2, used: 1, needed: 2 } });
  });
});
