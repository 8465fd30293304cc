// The console's HTTP JSON API under /api/v1 (node:http; a dozen routes do not need a framework):
// bearer-token authentication, bounded JSON bodies, route matching, errors as {error:{code,message,hint}}.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as z from 'zod/mini';
import { RmError, type ErrorCode } from '../protocol/errors.js';
import type { Logger } from '../log.js';
import { permissionsOf, type Decision, type Permission } from './access.js';
import { hashSecret } from './secrets.js';
import type { AccountRecord, Store } from './store.js';

export const API_PREFIX = '/api/v1';
const MAX_BODY_BYTES = 1024 * 1024;

export interface ApiRequest {
  account: AccountRecord;
  perms: Set<Permission>;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
}

export interface ApiAnswer {
  status?: number;
  body: unknown;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** e.g. '/devices/:id/commands' */
  path: string;
  handle(req: ApiRequest): Promise<ApiAnswer> | ApiAnswer;
}

const STATUS_OF: Partial<Record<ErrorCode, number>> = { API_UNAUTHORIZED: 401, API_FORBIDDEN: 403, API_NOT_FOUND: 404, API_INVALID: 400 };

/** Throws the 403 a refused decision stands for; the message names the missing permission. */
export function must(decision: Decision): void {
  if (!decision.ok) throw new RmError('API_FORBIDDEN', decision.reason, decision.permission ? { permission: decision.permission } : undefined);
}

export function parseBody<S extends z.ZodMiniType>(schema: S, body: unknown): z.infer<S> {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new RmError('API_INVALID', `${issue.path.join('.') || '(body)'}: ${issue.message}`);
}

export function notFound(what: string): RmError {
  return new RmError('API_NOT_FOUND', what);
}

function compile(route: Route): { route: Route; re: RegExp; names: string[] } {
  const names: string[] = [];
  const pattern = route.path.replace(/:([a-zA-Z]+)/g, (_, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { route, re: new RegExp(`^${API_PREFIX}${pattern}/?$`), names };
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new RmError('API_INVALID', `the body is larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text.trim()) return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new RmError('API_INVALID', 'the body is not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function authenticate(store: Store, header: string | undefined): AccountRecord {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  if (!match) throw new RmError('API_UNAUTHORIZED', 'no bearer token');
  const hash = hashSecret(match[1]!);
  const account = store.data.accounts.find((a) => a.tokenHash === hash);
  if (!account) throw new RmError('API_UNAUTHORIZED', 'unknown token');
  return account;
}

export function createApiHandler(ctx: { store: Store; logger: Logger; routes: Route[] }): (req: IncomingMessage, res: ServerResponse) => void {
  const table = ctx.routes.map(compile);
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const handle = async (): Promise<ApiAnswer> => {
      const account = authenticate(ctx.store, req.headers.authorization);
      const candidates = table.map((c) => ({ c, m: c.re.exec(url.pathname) })).filter((x) => x.m);
      const hit = candidates.find((x) => x.c.route.method === req.method);
      if (!hit) throw notFound(candidates.length ? `${req.method} is not allowed on ${url.pathname}` : `no route ${url.pathname}`);
      const params = Object.fromEntries(hit.c.names.map((n, i) => [n, decodeURIComponent(hit.m![i + 1]!)]));
      const body = req.method === 'GET' ? undefined : await readBody(req);
      return hit.c.route.handle({ account, perms: permissionsOf(account.roleIds, ctx.store.data.roles), params, query: url.searchParams, body });
    };
    handle().then(
      (answer) => send(res, answer.status ?? 200, answer.body),
      (err: unknown) => {
        const e = err instanceof RmError ? err : new RmError('INTERNAL', err instanceof Error ? err.message : String(err));
        if (e.code === 'INTERNAL') ctx.logger.error('api call failed', { method: req.method, path: url.pathname, error: err });
        else ctx.logger.debug('api call refused', { method: req.method, path: url.pathname, code: e.code, message: e.message });
        send(res, STATUS_OF[e.code] ?? 500, { error: { ...e.toJSON(), ...(e.details ?? {}) } });
      },
    );
  };
}
