// The console speaks only the public API (/api/v1, the same routes scripts use): the session cookie rides along by
// itself, and every change carries the session's CSRF token.
export interface ApiErrorBody { code: string; message: string; hint: string; [k: string]: unknown }

export class ApiError extends Error {
  constructor(readonly status: number, readonly body: ApiErrorBody) {
    super(body.message);
  }
  get code(): string {
    return this.body.code;
  }
}

let csrfToken: string | null = null;
export const setCsrf = (token: string | null): void => {
  csrfToken = token;
};

export async function api<T>(method: string, route: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(`/api/v1${route}`, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  const parsed = text ? (JSON.parse(text) as unknown) : {};
  if (!res.ok) {
    const err = (parsed as { error?: ApiErrorBody }).error ?? { code: 'HTTP_' + res.status, message: res.statusText, hint: '' };
    throw new ApiError(res.status, err);
  }
  const token = (parsed as { csrfToken?: unknown }).csrfToken;
  if (typeof token === 'string') csrfToken = token;
  return parsed as T;
}

export interface Role { id: string; name: string; permissions: string[]; builtIn: boolean }
export interface SessionView { account: { id: string; name: string; email: string | null }; roles: Role[]; permissions: string[]; csrfToken: string | null }
export interface Licence { id: string; product: string; title: string; seats: number; email: string; activated: boolean; activatedBy: string | null; issuedAtIso: string; activatedAtIso: string | null }
export interface Seats { total: number; used: number; free: number }
export interface ServiceInfo { name: string; supported: boolean; seats: Seats | null }
export interface TeamViewerFacts { installed: boolean; edition: 'host' | 'full' | null; version: string | null; teamviewerId: string | null; managed: boolean | null; serviceRunning: boolean | null }
export interface ServiceState { name: string; policyId: string | null; policyVersion: number | null; activatedBy: string | null; phase: string | null; applied: boolean; reason: { code: string; message: string } | null }
export interface Device { id: string; alias: string | null; hostname: string; platform: string; osRelease: string; agentVersion: string; tags: string[]; online: boolean; lastSeenIso: string | null; teamviewer: TeamViewerFacts | null; services: ServiceState[] }
export interface Policy { id: string; name: string; service: string; version: number; settings: Record<string, unknown> }
export interface OverviewEntry extends ServiceState { deviceId: string; alias: string | null; hostname: string | null; online: boolean }
export interface Alert { id: string; deviceId: string; alias: string | null; hostname: string | null; service: string; severity: string; message: string; open: boolean; raisedAtIso: string; ackedBy: string | null }
export interface Account { id: string; name: string; roleIds: string[]; disabled: boolean }
