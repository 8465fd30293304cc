// How an API route is declared: method, path, who may call it (access.ts), and zod schemas of its path
// parameters, query, body and answer. The router validates requests with these schemas and the OpenAPI document is
// generated from the same ones, so the description cannot drift from the code.
import * as z from 'zod/mini';
import { RmError, type ErrorCode } from '../../protocol/errors.js';
import type { Access, Decision, Permission, RouteAccess } from '../access.js';
import type { AccountRecord, SessionRecord } from '../store/store.js';

export const API_PREFIX = '/api/v1';
/** Largest request body the API reads (413 beyond). */
export const MAX_BODY_BYTES = 1024 * 1024;

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type Schema = z.ZodMiniType;
const NoInput = z.strictObject({});
type NoInput = typeof NoInput;

/** What a handler may know of the HTTP exchange beyond its parsed input (the console's sign-in needs it). */
export interface HttpContext {
  /** The client's address: the peer's, or what a trusted proxy (--trusted-proxies) put in X-Forwarded-For. */
  address: string;
  /** Served over TLS: cookies get Secure. */
  secure: boolean;
  /** Hash of the session cookie the request presented, valid or not (sign-in ends it: no session fixation). */
  presentedSessionHash: string | null;
  /** The session that authenticated the request (null with an API token or on a public route). */
  session: SessionRecord | null;
}

export interface PublicRequest<P extends Schema, Q extends Schema, B extends Schema> {
  params: z.output<P>;
  query: z.output<Q>;
  body: z.output<B>;
  http: HttpContext;
}

export interface ApiRequest<P extends Schema, Q extends Schema, B extends Schema> extends PublicRequest<P, Q, B> {
  account: AccountRecord;
  perms: ReadonlySet<Permission>;
}

export interface ApiAnswer<R extends Schema> {
  status?: number;
  body: z.input<R>;
  /** Set-Cookie values (the session cookie). */
  cookies?: string[];
}

export interface RouteSpec<P extends Schema, Q extends Schema, B extends Schema, R extends Schema> {
  method: Method;
  /** Under /api/v1, with :name parameters, e.g. '/devices/:id/commands'. */
  path: string;
  /** OpenAPI tag: the resource the route belongs to. */
  tag: string;
  summary: string;
  description?: string;
  /** Checked (decideAccess) before the body is read; health and the API description are the only public paths. */
  access: RouteAccess;
  params?: P;
  query?: Q;
  body?: B;
  /** Status of a successful answer (default 200). */
  status?: number;
  response: R;
  /** Error codes this route answers besides the common ones (401, 403, 400). */
  errors?: ErrorCode[];
  handle(req: ApiRequest<P, Q, B>): Promise<ApiAnswer<R>> | ApiAnswer<R>;
}

/** A declared route with its types erased, as the router and the OpenAPI generator see it. */
export interface Route {
  method: Method;
  path: string;
  tag: string;
  summary: string;
  description?: string;
  access: Access;
  params: Schema;
  query: Schema;
  body: Schema | null;
  status: number;
  response: Schema;
  errors: ErrorCode[];
  /** Public routes get account null. */
  handle(req: ApiRequest<Schema, Schema, Schema>): Promise<ApiAnswer<Schema>> | ApiAnswer<Schema>;
}

export interface PublicRouteSpec<P extends Schema, Q extends Schema, B extends Schema, R extends Schema> extends Omit<RouteSpec<P, Q, B, R>, 'access' | 'handle'> {
  handle(req: PublicRequest<P, Q, B>): Promise<ApiAnswer<R>> | ApiAnswer<R>;
}

/** A route anyone may call (the console's sign-in, sign-up and licence lookup): no token, no session. */
export function publicRoute<P extends Schema = NoInput, Q extends Schema = NoInput, B extends Schema = NoInput, R extends Schema = Schema>(spec: PublicRouteSpec<P, Q, B, R>): Route {
  return { ...route({ ...spec, access: { kind: 'account' } } as RouteSpec<P, Q, B, R>), access: { kind: 'public' } };
}

export function route<P extends Schema = NoInput, Q extends Schema = NoInput, B extends Schema = NoInput, R extends Schema = Schema>(spec: RouteSpec<P, Q, B, R>): Route {
  return {
    method: spec.method,
    path: spec.path,
    tag: spec.tag,
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    access: spec.access,
    params: spec.params ?? NoInput,
    query: spec.query ?? z.object({}),
    body: spec.body ?? null,
    status: spec.status ?? 200,
    response: spec.response,
    errors: spec.errors ?? [],
    handle: spec.handle as Route['handle'],
  };
}

/** HTTP status of each error code the API answers with. */
export const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  API_INVALID: 400,
  SERVICE_NOT_SUPPORTED: 400,
  API_UNAUTHORIZED: 401,
  API_ACCOUNT_DISABLED: 401,
  API_FORBIDDEN: 403,
  API_CSRF: 403,
  EMAIL_NOT_VERIFIED: 403,
  SIGN_IN_FAILED: 401,
  SIGN_IN_LOCKED: 429,
  API_RATE_LIMITED: 429,
  EMAIL_TAKEN: 409,
  LICENCE_ACTIVATED: 409,
  LICENCE_SEATS_EXCEEDED: 409,
  LINK_INVALID: 404,
  API_NOT_FOUND: 404,
  API_METHOD_NOT_ALLOWED: 405,
  API_CONFLICT: 409,
  API_BODY_TOO_LARGE: 413,
  COMMAND_QUEUE_FULL: 429,
  SERVER_NOT_READY: 503,
  INTERNAL: 500,
};

/** Throws the 403 a refused decision stands for; the message names the missing permission. */
export function must(decision: Decision): void {
  if (!decision.ok && decision.seats) throw new RmError('LICENCE_SEATS_EXCEEDED', decision.reason, { seats: decision.seats });
  if (!decision.ok) throw new RmError('API_FORBIDDEN', decision.reason, decision.permission ? { permission: decision.permission } : undefined);
}

export function notFound(what: string): RmError {
  return new RmError('API_NOT_FOUND', what);
}

export function conflict(what: string): RmError {
  return new RmError('API_CONFLICT', what);
}

/** Parses with a schema; the first issue becomes a 400 naming its field (prefixed with where, e.g. query.limit). */
export function parseInput<S extends Schema>(schema: S, value: unknown, where: 'body' | 'query' | 'params'): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.join('.');
  throw new RmError('API_INVALID', `${where === 'body' ? field || '(body)' : `${where}${field ? `.${field}` : ''}`}: ${issue.message}`);
}

// Shared pieces of route schemas.
export const IdParam = z.strictObject({ id: z.string().check(z.minLength(1), z.maxLength(128)) });
export const PageQuery = {
  limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(500)), 100).check(z.describe('items per page (1-500)')),
  cursor: z.optional(z.string().check(z.maxLength(512))).check(z.describe('`next` of the previous page')),
};
export const pageRequest = (q: { limit: number; cursor?: string | undefined }) => ({ limit: q.limit, cursor: q.cursor ?? null });
export const NextCursor = z.nullable(z.string()).check(z.describe('cursor of the next page (pass it as ?cursor=); null on the last page'));
/** One value or the same query parameter repeated. */
export const listParam = (item: z.ZodMiniString) => z.optional(z.pipe(z.union([item, z.array(item).check(z.maxLength(16))]), z.transform((v: string | string[]) => (Array.isArray(v) ? v : [v]))));
