// The connection against the real reference server (in process, loopback port 0): enroll, reports, restart, auth.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createConnection } from '../../src/agent/connection.js';
import { createIdentityStore, registerDevice } from '../../src/agent/identity.js';
import { createOutbox } from '../../src/agent/outbox.js';
import { createReplayGuard } from '../../src/agent/replay.js';
import type { AgentContext, Connection } from '../../src/agent/contracts.js';
import { configSchema } from '../../src/config/schema.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { createCommandRunner } from '../../src/system/exec.js';
import { systemClock } from '../../src/system/clock.js';
import { silentLogger } from '../../src/log.js';
import WebSocket from 'ws';

const FACTS = { hostname: 'pc', platform: 'linux', arch: 'x64', osRelease: '6', agentVersion: '0.1.0', alias: null, teamviewer: null };
const stops: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A registered device's connection parts (not started) for `server`, stopped after the test. */
async function agentOf(server: RunningServer, token: string, backoffMaxMs: number, onCommand: Parameters<typeof createConnection>[0]['onCommand']) {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'rmagent-conn-srv-'));
  await registerDevice({ stateDir, machineId: 'm1', serverUrl: server.agentUrl, token, serverKey: server.serverPublicKey, clock: systemClock });
  const config = configSchema().parse({ stateDir, logDir: stateDir, connection: { backoffBaseMs: 50, backoffMaxMs } });
  const context: AgentContext = { config, logger: silentLogger(), runner: createCommandRunner(), clock: systemClock };
  const identity = createIdentityStore({ stateDir, machineId: 'm1', clock: systemClock, logger: context.logger });
  const outbox = createOutbox({ dir: path.join(stateDir, 'outbox'), maxBytes: 1 << 20, clock: systemClock, logger: context.logger });
  const replay = createReplayGuard({ file: path.join(stateDir, 'replay.json'), windowMs: 300_000, clock: systemClock });
  await outbox.open();
  await replay.open();
  const connection: Connection = createConnection({ context, identity, outbox, replay, deviceFacts: async () => FACTS, onCommand });
  stops.push(() => connection.stop());
  return { connection, identity, outbox };
}

describe('connection against the reference server', () => {
  it('enrolls, delivers reports in order across a server restart, and authenticates afterwards', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'rmagent-srv-'));
    const start = (port = 0) => startServer({ host: '127.0.0.1', port, dataDir, logger: silentLogger(), heartbeatSec: 1 });
    let server: RunningServer = await start();
    stops.push(() => server.stop());
    const api = async (method: string, route: string, body?: unknown) => {
      const res = await fetch(`${server.httpUrl}/api/v1${route}`, { method, headers: { authorization: `Bearer ${server.ownerToken}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
      return (await res.json()) as Record<string, unknown>;
    };
    const { token } = (await api('POST', '/enrollment-tokens', { expiresInSec: 600, maxUses: 1 })) as { token: string };

    const handled: string[] = [];
    const { connection, identity, outbox } = await agentOf(server, token, 300, async (f) => {
      handled.push(f.type);
      return { status: 'done' };
    });
    for (let i = 0; i < 3; i++) await outbox.append('watchdog', { i });
    connection.start();
    await until('connected and drained', () => connection.status().phase === 'connected' && outbox.stats().pending === 0);
    const deviceId = (await identity.load())!.deviceId!;
    expect(deviceId).toBeTruthy();
    await until('desired state handled', () => handled.includes('desired'));

    const port = server.port;
    await server.stop();
    await until('offline', () => connection.status().phase !== 'connected');
    for (let i = 3; i < 5; i++) await outbox.append('watchdog', { i });
    server = await start(port);
    await until('reconnected and drained', () => connection.status().phase === 'connected' && outbox.stats().pending === 0, 15_000);
    const { reports } = (await api('GET', `/devices/${deviceId}/reports?limit=100`)) as { reports: Array<{ seq: number; data: { i: number } }> };
    expect(reports.map((r) => [r.seq, r.data.i])).toEqual([[1, 0], [2, 1], [3, 2], [4, 3], [5, 4]]);
    expect((await identity.load())!.enrollmentToken).toBeNull();
  });

  it('at the server\'s per-address cap: backoff for the Retry-After asked (capped by backoffMaxMs), status says HTTP 429; connects once a slot frees', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'rmagent-srv-'));
    const server = await startServer({ host: '127.0.0.1', port: 0, dataDir, logger: silentLogger(), handshakeTimeoutMs: 60_000, connectionCaps: { total: 0, perAddress: 1 } });
    stops.push(() => server.stop());
    // Another client on this address holds the one slot.
    const holder = new WebSocket(server.agentUrl, ['rmagent.v2']);
    await new Promise((resolve, reject) => holder.once('open', resolve).once('error', reject));
    const res = await fetch(`${server.httpUrl}/api/v1/enrollment-tokens`, { method: 'POST', headers: { authorization: `Bearer ${server.ownerToken}`, 'content-type': 'application/json' }, body: '{}' });
    const { token } = (await res.json()) as { token: string };

    const agentWith = async (backoffMaxMs: number) => {
      const { connection } = await agentOf(server, token, backoffMaxMs, async () => ({ status: 'done' }));
      connection.start();
      return connection;
    };

    // Patient: waits as long as the server asked (30-90 s).
    const patient = await agentWith(600_000);
    const refused = await until('refused', () => { const s = patient.status(); return s.phase === 'backoff' ? s : undefined; });
    expect(refused.lastError).toMatchObject({ code: 'SERVER_UNREACHABLE', message: expect.stringContaining('this address holds or opens too many connections (HTTP 429)') });
    expect(refused.nextRetryAt! - refused.lastError!.at).toBeGreaterThanOrEqual(30_000);
    expect(refused.nextRetryAt! - refused.lastError!.at).toBeLessThanOrEqual(90_000);
    await patient.stop();

    // backoffMaxMs 300: retries within 300 ms, and connects as soon as the slot is free.
    const eager = await agentWith(300);
    await until('refused', () => eager.status().lastError?.message.includes('HTTP 429'));
    expect(eager.status().nextRetryAt! - eager.status().lastError!.at).toBeLessThanOrEqual(300);
    holder.close();
    await until('connected', () => eager.status().phase === 'connected');
  });

  it('over the server\'s per-address rate of new connections: backoff for the Retry-After asked (10-60 s, capped by backoffMaxMs), status says HTTP 429; connects once the rate allows', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'rmagent-srv-'));
    // 20 a minute: one more every 3 s once the 20 are used (time enough for the agent's first attempt to be refused).
    const server = await startServer({ host: '127.0.0.1', port: 0, dataDir, logger: silentLogger(), connectionCaps: { total: 0, perAddress: 1_000, upgradesPerMinute: 20 } });
    stops.push(() => server.stop());
    const res = await fetch(`${server.httpUrl}/api/v1/enrollment-tokens`, { method: 'POST', headers: { authorization: `Bearer ${server.ownerToken}`, 'content-type': 'application/json' }, body: '{}' });
    const { token } = (await res.json()) as { token: string };
    // Another client on this address uses up the rate: it opens and closes connections until one is refused.
    const openAndClose = () => new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(server.agentUrl, ['rmagent.v2']);
      ws.once('open', () => { ws.terminate(); resolve(101); });
      ws.once('unexpected-response', (_req, r) => { ws.terminate(); resolve(r.statusCode ?? 0); });
      ws.once('error', reject);
    });
    const drain = async () => { for (let i = 0; i < 200 && (await openAndClose()) === 101; i++); };

    const patient = (await agentOf(server, token, 600_000, async () => ({ status: 'done' }))).connection;
    await drain();
    patient.start();
    const refused = await until('refused', () => { const s = patient.status(); return s.phase === 'backoff' ? s : undefined; });
    expect(refused.lastError).toMatchObject({ code: 'SERVER_UNREACHABLE', message: expect.stringContaining('this address holds or opens too many connections (HTTP 429)') });
    expect(refused.nextRetryAt! - refused.lastError!.at).toBeGreaterThanOrEqual(10_000);
    expect(refused.nextRetryAt! - refused.lastError!.at).toBeLessThanOrEqual(60_000);
    await patient.stop();

    // backoffMaxMs 300: refused again while the rate is used up, retries within 300 ms, and connects once it allows.
    const eager = (await agentOf(server, token, 300, async () => ({ status: 'done' }))).connection;
    await drain();
    eager.start();
    await until('refused', () => eager.status().lastError?.message.includes('HTTP 429'));
    expect(eager.status().nextRetryAt! - eager.status().lastError!.at).toBeLessThanOrEqual(300);
    await until('connected', () => eager.status().phase === 'connected');
  });
});
