// The HTTP API's rate limits on a real server: one token over its limit gets 429 API_RATE_LIMITED with Retry-After
// while another token is served; an address over its limit is refused before its token is even looked up.
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { accountWith, apiOf, tempDir } from './helpers.js';

const running: RunningServer[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
});

async function serverWith(limits: { perToken: { perSec: number; burst: number }; perAddress: { perSec: number; burst: number } }): Promise<RunningServer> {
  const server = await startServer({ host: '127.0.0.1', port: 0, dataDir: await tempDir(), logger: silentLogger(), apiRateLimits: limits });
  running.push(server);
  return server;
}

async function raw(server: RunningServer, token: string): Promise<{ status: number; retryAfter: string | null; body: { error?: { code: string; retryAfterMs?: number } } }> {
  const res = await fetch(`${server.httpUrl}/api/v1/devices`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as never };
}

describe('API rate limits', () => {
  it('a token over its limit gets 429 with Retry-After; another token is still served; after the wait it is served again', async () => {
    const server = await serverWith({ perToken: { perSec: 2, burst: 10 }, perAddress: { perSec: 10_000, burst: 10_000 } });
    const other = await accountWith(server, ['view_devices'], 'other');
    const answers = [];
    for (let i = 0; i < 30; i++) answers.push(await raw(server, server.ownerToken));
    const limited = answers.filter((a) => a.status === 429);
    // The owner used 2 of its burst creating the other account; then ~8 more were served, the rest refused.
    expect(answers.filter((a) => a.status === 200).length).toBeLessThanOrEqual(10);
    expect(limited.length).toBeGreaterThanOrEqual(18);
    expect(limited[0]!.body.error).toMatchObject({ code: 'API_RATE_LIMITED', retryAfterMs: expect.any(Number) });
    expect(Number(limited[0]!.retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await apiOf(server, other.token)('GET', '/devices')).status).toBe(200);
    await new Promise((r) => setTimeout(r, limited.at(-1)!.body.error!.retryAfterMs! + 50));
    expect((await raw(server, server.ownerToken)).status).toBe(200);
  });

  it('an address over its limit is refused before authentication: guessing tokens costs the guesser', async () => {
    const server = await serverWith({ perToken: { perSec: 10_000, burst: 10_000 }, perAddress: { perSec: 1, burst: 5 } });
    const statuses = [];
    for (let i = 0; i < 20; i++) statuses.push((await raw(server, `rma_guess${i}`)).status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(14);
    // /healthz is never limited (load balancers poll it).
    expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200);
  });
});
