// Test helpers for the web console's API: a cookie-carrying client (what a browser does: the session cookie, the
// CSRF token and Origin), and the mail-drop folder's messages and links.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunningServer } from '../../src/server/server.js';
import type { ApiResult } from './helpers.js';

export interface BrowserCall {
  /** X-CSRF-Token to send: the session's (default), another value, or none. */
  csrf?: string | null;
  /** Origin header: this server's (default), another site's, or none. */
  origin?: string | null;
  /** Cookie header instead of the jar's. */
  cookie?: string | null;
}

export function browserOf(server: RunningServer) {
  const jar = { cookie: null as string | null, csrf: null as string | null };
  async function call(method: string, route: string, body?: unknown, opts: BrowserCall = {}): Promise<ApiResult & { setCookie: string[]; headers: Headers }> {
    const cookie = opts.cookie === undefined ? jar.cookie : opts.cookie;
    const csrf = opts.csrf === undefined ? jar.csrf : opts.csrf;
    const origin = opts.origin === undefined ? server.httpUrl : opts.origin;
    const res = await fetch(`${server.httpUrl}/api/v1${route}`, {
      method,
      headers: {
        ...(cookie ? { cookie } : {}),
        ...(csrf && method !== 'GET' ? { 'x-csrf-token': csrf } : {}),
        ...(origin && method !== 'GET' ? { origin } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const setCookie = res.headers.getSetCookie();
    for (const c of setCookie) {
      const [pair] = c.split(';');
      jar.cookie = pair!.endsWith('=') ? null : pair!;
    }
    const parsed = (await res.json()) as { csrfToken?: string | null };
    if (res.ok && typeof parsed.csrfToken === 'string') jar.csrf = parsed.csrfToken;
    return { status: res.status, body: parsed, setCookie, headers: res.headers };
  }
  return { jar, call, signIn: (email: string, password: string) => call('POST', '/session', { email, password }) };
}

export interface DroppedMail { file: string; to: string; subject: string; text: string; links: string[] }

/** The messages in DATA/mail/, oldest first. */
export async function droppedMail(dataDir: string): Promise<DroppedMail[]> {
  const dir = path.join(dataDir, 'mail');
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.eml')).sort();
  const out: DroppedMail[] = [];
  for (const file of files) {
    const raw = await readFile(path.join(dir, file), 'utf8');
    const [head, ...rest] = raw.split('\r\n\r\n');
    const header = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(head!)?.[1] ?? '';
    const text = rest.join('\r\n\r\n');
    out.push({ file: path.join(dir, file), to: header('To'), subject: header('Subject'), text, links: [...text.matchAll(/https?:\/\/\S+/g)].map((m) => m[0]) });
  }
  return out;
}

/** A fragment parameter of a link (#key=...&verify=...). */
export const fragment = (link: string, name: string): string => new URLSearchParams(new URL(link).hash.slice(1)).get(name) ?? '';
