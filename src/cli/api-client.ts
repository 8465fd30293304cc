// The console API seen from a script: which server and token (flags, environment, or the data folder of a server
// on this machine), JSON calls, and the server's {error} answers turned into one error type.
import path from 'node:path';
import { RmError } from '../protocol/errors.js';
import { readTextIfExists } from '../system/files.js';

export class ApiCallError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly hint: string) {
    super(message);
    this.name = 'ApiCallError';
  }
}

export interface Connection {
  url: string;
  token: string;
}

/** --url, else RMAGENT_SERVER_URL, else DATA/server.json; --token-file, else RMAGENT_API_TOKEN, else DATA/owner.token. */
export async function resolveConnection(flags: { url?: string | undefined; 'token-file'?: string | undefined; data?: string | undefined }, env: NodeJS.ProcessEnv): Promise<Connection> {
  const data = flags.data ? path.resolve(flags.data) : undefined;
  let url = flags.url ?? env.RMAGENT_SERVER_URL;
  if (!url && data) {
    const text = await readTextIfExists(path.join(data, 'server.json'));
    if (text) url = (JSON.parse(text) as { httpUrl?: string }).httpUrl;
  }
  if (!url) throw new RmError('CLI_USAGE', 'no server: give --url URL (or RMAGENT_SERVER_URL, or --data DIR of a server running on this machine)');
  let token: string | undefined;
  if (flags['token-file']) {
    token = (await readTextIfExists(path.resolve(flags['token-file'])))?.trim();
    if (!token) throw new RmError('CLI_USAGE', `--token-file ${flags['token-file']}: missing or empty`);
  } else token = env.RMAGENT_API_TOKEN?.trim() || (data ? (await readTextIfExists(path.join(data, 'owner.token')))?.trim() : undefined);
  if (!token) throw new RmError('CLI_USAGE', 'no API token: give --token-file FILE (or RMAGENT_API_TOKEN, or --data DIR for the owner token)');
  return { url: url.replace(/\/+$/, ''), token };
}

export type ApiCall = <T>(method: string, route: string, body?: unknown) => Promise<T>;

export function apiClient(connection: Connection, timeoutMs = 30_000): ApiCall {
  return async <T>(method: string, route: string, body?: unknown): Promise<T> => {
    let res: Response;
    try {
      res = await fetch(`${connection.url}/api/v1${route}`, {
        method,
        headers: { authorization: `Bearer ${connection.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new RmError('SERVER_UNREACHABLE', `${connection.url}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ApiCallError(res.status, 'INTERNAL', `${method} ${route}: HTTP ${res.status}, not a JSON answer`, 'Check that --url points at rmagent-server');
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string; hint?: string } }).error ?? {};
      throw new ApiCallError(res.status, e.code ?? 'INTERNAL', e.message ?? `HTTP ${res.status}`, e.hint ?? '');
    }
    return json as T;
  };
}

/** Every page of a cursor-paginated list (bounded). */
export async function allPages<T>(call: ApiCall, route: string, key: string, maxPages = 1_000): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < maxPages; i++) {
    const sep = route.includes('?') ? '&' : '?';
    const page: Record<string, unknown> & { next: string | null } = await call('GET', `${route}${sep}limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...(page[key] as T[]));
    cursor = page.next;
    if (!cursor) break;
  }
  return items;
}
