// The HTTP API on Hono (docs/server-api.md says why Hono): every declared route gets authentication, its access
// check (access.ts), request validation with its zod schemas and JSON answers; errors are always
// {error: {code, message, hint}} — 404 for unknown paths, 405 (with Allow) for a wrong method, 413 for a body
// over the limit. A caller is an API token (Authorization: Bearer, for scripts) or the web console's session
// cookie, whose changes must pass the CSRF check (sessions.ts). /healthz, /readyz, the OpenAPI document and the
// routes declared public (sign-in, sign-up, licence lookup) are the only answers without either.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { RmError } from '../../protocol/errors.js';
import type { Logger } from '../../log.js';
import { decideAccess, permissionsOf, type Permission } from '../access.js';
import { hashSecret } from '../secrets.js';
import { decideCsrf, nextExpiry, readSessionCookie, SESSION_TOUCH_MS } from '../sessions.js';
import type { AccountRecord, SessionRecord, Store } from '../store/store.js';
import { createApiLimiter, DEFAULT_API_RATE_LIMITS, type ApiRateLimits } from './rate-limits.js';
import { API_PREFIX, HTTP_STATUS, MAX_BODY_BYTES, must, parseInput, type HttpContext, type Route } from './route.js';
import { addressGroupOf, clientAddressOf, type TrustedProxies } from '../client-address.js';

export interface ApiOptions {
  store: Store;
  logger: Logger;
  routes: readonly Route[];
  /** The OpenAPI document (built once from the routes). */
  openapi: object;
  /** Why the server is not ready (starting, stopping, store unreachable), or null when it is. */
  notReady(): Promise<string | null>;
  /** Check every answer against its declared schema (tests; a mismatch is a 500 and a log line). */
  validateResponses?: boolean;
  now(): number;
  /** Served over TLS (session cookies get Secure). */
  secure: boolean;
  /** Extra answers on the same app (the console's pages), added before the not-found handler runs. */
  extend?(app: Hono): void;
  /** Requests per second per client address and per token (default DEFAULT_API_RATE_LIMITS). */
  rateLimits?: ApiRateLimits;
  /** Peers whose X-Forwarded-For names the client (--trusted-proxies); none = the peer address is the client's. */
  trustedProxies?: TrustedProxies;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } });
}

function errorAnswer(e: RmError, headers: Record<string, string> = {}): Response {
  // After a 413 the rest of the body is not read: the connection ends with the answer.
  const close: Record<string, string> = e.code === 'API_BODY_TOO_LARGE' ? { connection: 'close' } : {};
  const retryAfterSec = typeof e.details?.retryAfterSec === 'number' ? e.details.retryAfterSec : typeof e.details?.retryAfterMs === 'number' ? Math.max(1, Math.ceil(e.details.retryAfterMs / 1000)) : null;
  const retry: Record<string, string> = retryAfterSec !== null ? { 'retry-after': String(retryAfterSec) } : {};
  return json(HTTP_STATUS[e.code] ?? 500, { error: { ...e.toJSON(), ...(e.details ?? {}) } }, { ...close, ...retry, ...headers });
}

interface Caller {
  account: AccountRecord;
  perms: Set<Permission>;
  session: SessionRecord | null;
}

/** The API token when there is an Authorization header, else the session cookie. */
async function authenticate(store: Store, c: Context, now: number): Promise<Caller> {
  const header = c.req.header('authorization');
  let account: AccountRecord | null;
  let session: SessionRecord | null = null;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S{1,512})$/i.exec(header);
    if (!match) throw new RmError('API_UNAUTHORIZED', 'no bearer token');
    account = await store.accounts.byTokenHash(hashSecret(match[1]!));
    if (!account) throw new RmError('API_UNAUTHORIZED', 'unknown token');
  } else {
    const cookie = readSessionCookie(c.req.header('cookie'));
    if (!cookie) throw new RmError('API_UNAUTHORIZED', 'no bearer token and no console session');
    session = await store.sessions.byHash(hashSecret(cookie), now);
    if (!session) throw new RmError('API_UNAUTHORIZED', 'the console session ended (signed out or expired): sign in again');
    account = await store.accounts.get(session.accountId);
    if (!account) throw new RmError('API_UNAUTHORIZED', 'the session\'s account is gone');
    if (now - session.lastSeenAt >= SESSION_TOUCH_MS) await store.sessions.touch(session.idHash, now, nextExpiry(session, now));
  }
  if (account.disabledAt !== null) throw new RmError('API_ACCOUNT_DISABLED', `account ${account.id} is disabled`);
  return { account, perms: permissionsOf(account.roleIds, await store.roles.list()), session };
}

function addressOf(c: Context, proxies: TrustedProxies): string {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming ? clientAddressOf(incoming, proxies) : 'unknown';
}

function httpContext(c: Context, secure: boolean, session: SessionRecord | null, proxies: TrustedProxies): HttpContext {
  const cookie = readSessionCookie(c.req.header('cookie'));
  return { address: addressOf(c, proxies), secure, presentedSessionHash: cookie ? hashSecret(cookie) : null, session };
}

/** The origin a browser names when a page of this server makes the request. */
function ownOrigin(c: Context, secure: boolean): string {
  return `${secure ? 'https' : 'http'}://${c.req.header('host') ?? ''}`;
}

/** Query parameters as the schemas take them: a string, or an array when the parameter is repeated. */
function queryOf(c: Context): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, values] of Object.entries(c.req.queries())) out[key] = values.length === 1 ? values[0]! : values;
  return out;
}

const tooLarge = () => new RmError('API_BODY_TOO_LARGE', `the body is larger than ${MAX_BODY_BYTES} bytes`);

/**
 * Reads the body from the Node request, counting bytes as they arrive: past the limit it stops reading and the
 * 413 goes out with `connection: close`, so a client streaming forever is cut off rather than drained.
 */
async function bodyOf(c: Context): Promise<unknown> {
  if (Number(c.req.header('content-length') ?? 0) > MAX_BODY_BYTES) throw tooLarge();
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const text = incoming ? await readLimited(incoming) : await c.req.text();
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new RmError('API_INVALID', 'the body is not valid JSON');
  }
}

function readLimited(incoming: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: unknown, text?: string) => {
      incoming.off('data', onData).off('end', onEnd).off('error', onError);
      if (err) reject(err);
      else resolve(text!);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) return void chunks.push(chunk);
      incoming.pause();
      done(tooLarge());
    };
    const onEnd = () => done(null, Buffer.concat(chunks).toString('utf8'));
    const onError = (err: Error) => done(err);
    incoming.on('data', onData).on('end', onEnd).on('error', onError);
  });
}

/** Which methods a path answers (for 405 and its Allow header). */
function methodsMatcher(routes: readonly Route[]): (pathname: string) => string[] {
  const table = routes.map((r) => ({ method: r.method, re: new RegExp(`^${API_PREFIX}${r.path.replace(/:[A-Za-z]+/g, '[^/]+')}/?$`) }));
  return (pathname) => [...new Set(table.filter((t) => t.re.test(pathname)).map((t) => t.method))];
}

export function createApiApp(opts: ApiOptions): Hono {
  const { store, logger } = opts;
  const app = new Hono();
  const allowed = methodsMatcher(opts.routes);
  const limits = createApiLimiter(opts.rateLimits ?? DEFAULT_API_RATE_LIMITS);

  app.onError((err, c) => {
    const e = err instanceof RmError ? err : new RmError('INTERNAL', err instanceof Error ? err.message : String(err));
    if (e.code === 'INTERNAL') logger.error('api call failed', { method: c.req.method, path: c.req.path, error: err });
    else logger.debug('api call refused', { method: c.req.method, path: c.req.path, code: e.code, message: e.message });
    return errorAnswer(e);
  });
  app.notFound((c) => {
    const methods = allowed(c.req.path);
    if (methods.length) return errorAnswer(new RmError('API_METHOD_NOT_ALLOWED', `${c.req.method} ${c.req.path}; allowed: ${methods.join(', ')}`), { allow: methods.join(', ') });
    return errorAnswer(new RmError('API_NOT_FOUND', `no route ${c.req.method} ${c.req.path}`));
  });

  app.get('/healthz', () => json(200, { status: 'ok' }));
  app.get('/readyz', async () => {
    const reason = await opts.notReady().catch((err: unknown) => `store: ${(err as Error).message}`);
    return reason ? errorAnswer(new RmError('SERVER_NOT_READY', reason)) : json(200, { status: 'ready' });
  });
  app.get(`${API_PREFIX}/openapi.json`, () => json(200, opts.openapi, { 'cache-control': 'public, max-age=300' }));
  opts.extend?.(app);

  for (const r of opts.routes) {
    app.on(r.method, `${API_PREFIX}${r.path}`, async (c) => {
      limits.address(addressGroupOf(addressOf(c, opts.trustedProxies ?? null)));
      const caller = r.access.kind === 'public' ? null : await authenticate(store, c, opts.now());
      const csrf = decideCsrf({ method: r.method, origin: c.req.header('origin'), ownOrigin: ownOrigin(c, opts.secure), headerToken: c.req.header('x-csrf-token'), session: caller?.session ?? null });
      if (!csrf.ok) throw new RmError('API_CSRF', csrf.reason);
      if (caller) limits.token(caller.account.id);
      if (caller) must(decideAccess(r.access, caller.perms));
      const params = parseInput(r.params, c.req.param(), 'params');
      const query = parseInput(r.query, queryOf(c), 'query');
      const body = r.body ? parseInput(r.body, (await bodyOf(c)) ?? {}, 'body') : undefined;
      const http = httpContext(c, opts.secure, caller?.session ?? null, opts.trustedProxies ?? null);
      const answer = await r.handle({ account: caller?.account as AccountRecord, perms: caller?.perms ?? new Set(), params, query, body, http });
      if (opts.validateResponses) {
        const checked = r.response.safeParse(answer.body);
        if (!checked.success) throw new RmError('INTERNAL', `answer of ${r.method} ${r.path} does not match its schema: ${JSON.stringify(checked.error.issues.slice(0, 3))}`);
      }
      const res = json(answer.status ?? r.status, answer.body);
      for (const cookie of answer.cookies ?? []) res.headers.append('set-cookie', cookie);
      return res;
    });
  }
  return app;
}

export function apiRequestListener(app: Hono): (req: IncomingMessage, res: ServerResponse) => void {
  return getRequestListener(app.fetch);
}
