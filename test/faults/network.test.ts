// Network faults between a real agent and the real server: a TCP proxy the test steers sits in between
// (127.0.0.1 only). Each fault must show in `status` (state and lastError) while it lasts, never stop the
// agent, and end with the agent connected again with no report lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Spawned } from '../../src/cli/processes.js';
import { agentHome, startServer, tempDir, type AgentHome, type ServerProcess } from '../e2e/harness.js';
import { freePort, startTcpProxy, type TcpProxy } from './lib/tcp-proxy.js';
import { reportsAfter, serverAndAgent, sleep } from './lib/enrolled.js';

const HEARTBEAT_SEC = 1;
const FAST_RETRY = { RMAGENT_HEARTBEAT_SEC: String(HEARTBEAT_SEC), RMAGENT_BACKOFF_BASE_MS: '100', RMAGENT_BACKOFF_MAX_MS: '500' };

describe('network faults through a proxy', () => {
  let server: ServerProcess;
  let serverData: string;
  let proxy: TcpProxy;
  let home: AgentHome;
  let agent: Spawned;
  let deviceId: string;
  const others: Spawned[] = [];
  const offline = (s: { connection: { state: string } }) => s.connection.state !== 'connected';
  const unreachable = (s: { connection: { lastError: { code: string } | null } }) => s.connection.lastError?.code === 'SERVER_UNREACHABLE';

  beforeAll(async () => {
    ({ server, home, serverData } = await serverAndAgent('net', FAST_RETRY, async (s) => {
      proxy = await startTcpProxy(s.port);
      return s.agentUrl.replace(`:${s.port}/`, `:${proxy.port}/`);
    }));
    agent = await home.start();
    deviceId = (await home.waitFor('enrolled through the proxy', (s) => s.connection.state === 'connected' && s.registration.enrolled)).registration.deviceId!;
  });

  afterAll(async () => {
    for (const p of [agent, ...others]) await p?.stop('SIGKILL');
    await proxy?.close();
    await server?.stop();
  });

  it('half-open: a peer that stops answering is dropped within two heartbeats, then the agent reconnects', async () => {
    const before = await home.waitFor('connected', (s) => s.connection.state === 'connected');
    const stalledAt = Date.now();
    proxy.stall();
    const after = await home.waitFor('a new connection', (s) => s.connection.state === 'connected' && s.connection.connectedAt !== before.connection.connectedAt, 15_000);
    // The drop is in the agent's log with its time: "... no answer for 2 s (half-open connection)".
    const line = agent.output().split('\n').find((l) => l.includes('half-open') && Date.parse(l.slice(0, 24)) >= stalledAt - 50);
    expect(line, agent.output().slice(-2000)).toBeDefined();
    const detectedMs = Date.parse(line!.slice(0, 24)) - stalledAt;
    console.log(`[network] stalled peer detected after ${detectedMs} ms (heartbeat ${HEARTBEAT_SEC} s), reconnected after ${after.connection.connectedAt! - stalledAt} ms`);
    expect(detectedMs).toBeLessThanOrEqual(2 * HEARTBEAT_SEC * 1000 + 600);
    expect(after.connection.lastError).toBeNull();
  });

  it('cut and refused by the proxy: status says SERVER_UNREACHABLE, degraded; back when traffic passes again', async () => {
    proxy.set('refuse');
    proxy.cut();
    const down = await home.waitFor('unreachable', (s) => offline(s) && unreachable(s), 10_000);
    expect(down.problems.map((p) => p.code)).toContain('SERVER_UNREACHABLE');
    expect((await home.statusJson()).code).toBe(1);
    await sleep(1_500);
    expect(agent.child.exitCode).toBeNull();
    proxy.set('pass');
    const back = await home.waitFor('reconnected', (s) => s.connection.state === 'connected', 10_000);
    expect(back.problems.map((p) => p.code)).not.toContain('SERVER_UNREACHABLE');
  });

  it('slow server (300 ms each way): stays connected and commands still complete', async () => {
    const before = await home.waitFor('connected', (s) => s.connection.state === 'connected');
    proxy.set('pass', 300);
    const issued = await server.api<{ id: string }>('POST', `/devices/${deviceId}/commands`, { type: 'status.request' });
    let status = '';
    for (let i = 0; i < 100 && status !== 'done'; i++) {
      await sleep(100);
      status = (await server.api<{ commands: Array<{ id: string; status: string }> }>('GET', `/devices/${deviceId}/commands`)).body.commands.find((c) => c.id === issued.body.id)?.status ?? '';
    }
    expect(status).toBe('done');
    await sleep(4 * HEARTBEAT_SEC * 1000);
    const still = await home.live();
    expect(still?.connection).toMatchObject({ state: 'connected', connectedAt: before.connection.connectedAt });
    proxy.set('pass', 0);
  });

  it('server restart: reports wait in the outbox and arrive once each after it is back', async () => {
    const port = server.port;
    await server.stop();
    await home.waitFor('unreachable', (s) => offline(s) && unreachable(s), 10_000);
    await home.waitFor('a report queued while offline', (s) => s.outbox.pending > 0, 15_000);
    server = await startServer(serverData, port);
    await home.waitFor('reconnected and drained', (s) => s.connection.state === 'connected' && s.outbox.pending === 0, 20_000);
    const seqs = (await reportsAfter(server, deviceId, 0)).map((r) => r.seq);
    expect(seqs.length).toBeGreaterThan(2);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  });

  it('connection refused (nothing listening): SERVER_UNREACHABLE with ECONNREFUSED; enrolls once a server listens there', async () => {
    const port = await freePort();
    const data = tempDir('net-refused-server');
    const later = await startServer(data, port);
    const token = (await later.api<{ token: string }>('POST', '/enrollment-tokens', { expiresInSec: 3600, maxUses: 1 })).body.token;
    const serverKey = later.serverKey;
    await later.stop();
    const lonely = await agentHome('net-refused', FAST_RETRY);
    expect((await lonely.cli('enroll', '--server', `ws://127.0.0.1:${port}/agent`, '--token', token, '--server-key', serverKey)).code).toBe(0);
    others.push(await lonely.start());
    const s = await lonely.waitFor('refused', (x) => unreachable(x), 10_000);
    expect(s.connection.lastError!.message).toContain('ECONNREFUSED');
    const back = await startServer(data, port);
    try {
      await lonely.waitFor('enrolled', (x) => x.connection.state === 'connected' && x.registration.enrolled, 15_000);
    } finally {
      await back.stop();
    }
  });

  it('DNS failure (a .invalid host): SERVER_UNREACHABLE naming the lookup error; the agent keeps retrying', async () => {
    const lost = await agentHome('net-dns', { ...FAST_RETRY, RMAGENT_ALLOW_INSECURE: 'true' });
    const enrolled = await lost.cli('enroll', '--server', 'ws://rmagent-fault-test.invalid:9/agent', '--token', 'x'.repeat(32), '--server-key', server.serverKey);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    others.push(await lost.start());
    const s = await lost.waitFor('lookup failed', (x) => unreachable(x), 15_000);
    expect(s.connection.lastError!.message).toMatch(/ENOTFOUND|EAI_AGAIN/);
    await sleep(1_500);
    const again = await lost.live();
    expect(again?.connection.attempts ?? 0).toBeGreaterThan(1);
    expect(again?.agent.running).toBe(true);
  });
});
