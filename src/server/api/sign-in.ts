// The web console's sign-in: e-mail and password start a session (cookie + CSRF token), sign-out ends it. Wrong
// passwords lock an account's sign-in for a while (stored, so every node agrees) and each client address may make
// only so many attempts (sessions.ts). API tokens stay for scripts: they never need a session.
import * as z from 'zod/mini';
import { RmError } from '../../protocol/errors.js';
import { ANY_ACCOUNT, PERMISSIONS } from '../access.js';
import { addressGroupOf } from '../client-address.js';
import { verifyNothing, verifyPassword } from '../passwords.js';
import { hashSecret, newSecret } from '../secrets.js';
import { clearedSessionCookie, sessionCookie, SESSION_IDLE_MS, SIGN_IN_LIMITS, type AttemptLimiter } from '../sessions.js';
import type { AccountRecord, Store } from '../store/store.js';
import { roleView, RoleViewSchema } from '../views.js';
import type { ApiDeps } from './deps.js';
import { publicRoute, route, type HttpContext, type Route } from './route.js';

export const Email = z.pipe(
  z.string().check(z.maxLength(254), z.regex(/^[^\s@<>"',;]+@[^\s@<>"',;]+\.[^\s@<>"',;]+$/, 'an e-mail address')),
  z.transform((v: string) => v.toLowerCase()),
);
const Password = z.string().check(z.minLength(1), z.maxLength(256));

export const SessionViewSchema = z.object({
  account: z.object({ id: z.string(), name: z.string(), email: z.nullable(z.string()) }),
  roles: z.array(RoleViewSchema),
  permissions: z.array(z.enum(PERMISSIONS)),
  csrfToken: z.nullable(z.string()).check(z.describe('send it in X-CSRF-Token with every change made with the session cookie; null when the call used an API token')),
  expiresAtIso: z.nullable(z.string()),
});

/** Refuses the attempt when the address (an IPv6 one: its /64) has used its budget (429 with Retry-After). */
export function countAttempt(limiter: AttemptLimiter, http: HttpContext, now: number): void {
  const group = addressGroupOf(http.address);
  const waitMs = limiter.take(group, now);
  if (waitMs > 0) throw new RmError('API_RATE_LIMITED', `from ${group}`, { retryAfterSec: Math.ceil(waitMs / 1000) });
}

/**
 * A new session for the account: always a new secret, and the session the browser presented (if any) ends, so a
 * cookie planted before sign-in (session fixation) never becomes a signed-in session.
 */
export async function startSession(store: Store, account: AccountRecord, http: HttpContext, now: number): Promise<{ cookie: string; csrfToken: string; expiresAt: number }> {
  if (http.presentedSessionHash) await store.sessions.delete(http.presentedSessionHash);
  const secret = newSecret('rms');
  const csrfToken = newSecret('csrf');
  const expiresAt = now + SESSION_IDLE_MS;
  await store.sessions.insert({ idHash: hashSecret(secret), accountId: account.id, csrfToken, createdAt: now, lastSeenAt: now, expiresAt });
  return { cookie: sessionCookie(secret, http.secure), csrfToken, expiresAt };
}

export async function sessionView(store: Store, account: AccountRecord, csrfToken: string | null, expiresAt: number | null): Promise<z.input<typeof SessionViewSchema>> {
  const roles = (await store.roles.list()).filter((r) => account.roleIds.includes(r.id));
  const perms = [...new Set(roles.flatMap((r) => r.permissions))].sort();
  const login = await store.logins.get(account.id);
  return { account: { id: account.id, name: account.name, email: login?.email ?? null }, roles: roles.map(roleView), permissions: perms, csrfToken, expiresAtIso: expiresAt === null ? null : new Date(expiresAt).toISOString() };
}

export function signInRoutes({ store, clock, logger, signInLimiter }: ApiDeps): Route[] {
  return [
    publicRoute({
      method: 'POST', path: '/session', tag: 'console', summary: 'Sign in to the web console with e-mail and password',
      description: `Sets the session cookie (HttpOnly, SameSite=Strict, Secure under TLS) and answers the session's CSRF token. ${SIGN_IN_LIMITS.lockAfter} wrong passwords in a row lock the account's sign-in for ${SIGN_IN_LIMITS.lockMs / 60_000} minutes (429 SIGN_IN_LOCKED, even with the right password); each client address may try ${SIGN_IN_LIMITS.perAddress.burst} times at once, then once every ${1 / SIGN_IN_LIMITS.perAddress.perSec} s (429 API_RATE_LIMITED). Both answers carry Retry-After. An unknown e-mail and a wrong password get the same answer.`,
      body: z.strictObject({ email: Email, password: Password }), response: SessionViewSchema,
      errors: ['SIGN_IN_FAILED', 'SIGN_IN_LOCKED', 'API_RATE_LIMITED', 'EMAIL_NOT_VERIFIED'],
      async handle({ body, http }) {
        const now = clock.now();
        countAttempt(signInLimiter, http, now);
        const login = await store.logins.byEmail(body.email);
        if (!login) {
          await verifyNothing(body.password);
          throw new RmError('SIGN_IN_FAILED');
        }
        if (login.lockedUntil !== null && login.lockedUntil > now) {
          throw new RmError('SIGN_IN_LOCKED', `until ${new Date(login.lockedUntil).toISOString()}`, { retryAfterSec: Math.ceil((login.lockedUntil - now) / 1000) });
        }
        if (!(await verifyPassword(body.password, login.passwordHash))) {
          const after = await store.logins.recordFailure(login.accountId, SIGN_IN_LIMITS.lockAfter, now + SIGN_IN_LIMITS.lockMs);
          logger.warn('console sign-in failed', { accountId: login.accountId, address: http.address, failedAttempts: after?.failedAttempts });
          throw new RmError('SIGN_IN_FAILED');
        }
        if (login.failedAttempts > 0 || login.lockedUntil !== null) await store.logins.update(login.accountId, { failedAttempts: 0, lockedUntil: null });
        const account = await store.accounts.get(login.accountId);
        if (!account) throw new RmError('SIGN_IN_FAILED');
        if (account.disabledAt !== null) throw new RmError('API_ACCOUNT_DISABLED', `account ${account.id} is disabled`);
        if (login.emailVerifiedAt === null) throw new RmError('EMAIL_NOT_VERIFIED', login.email);
        const session = await startSession(store, account, http, now);
        logger.info('console sign-in', { accountId: account.id, address: http.address });
        return { body: await sessionView(store, account, session.csrfToken, session.expiresAt), cookies: [session.cookie] };
      },
    }),
    route({
      method: 'GET', path: '/session', tag: 'console', summary: 'The signed-in account, its permissions and the session\'s CSRF token', access: ANY_ACCOUNT,
      response: SessionViewSchema,
      handle: async ({ account, http }) => ({ body: await sessionView(store, account, http.session?.csrfToken ?? null, http.session?.expiresAt ?? null) }),
    }),
    route({
      method: 'DELETE', path: '/session', tag: 'console', summary: 'Sign out: the session ends on the server and the cookie is cleared', access: ANY_ACCOUNT,
      response: z.object({ signedOut: z.boolean() }),
      async handle({ account, http }) {
        if (http.session) await store.sessions.delete(http.session.idHash);
        if (http.session) logger.info('console sign-out', { accountId: account.id });
        return { body: { signedOut: http.session !== null }, cookies: [clearedSessionCookie(http.secure)] };
      },
    }),
  ];
}
