// The vertical slice end to end: a real reference server and a real agent process over loopback.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentHome, assertBuilt, startServer, tempDir, type AgentHome, type ServerProcess } from './harness.js';
import { waitUntil, type Spawned } from '../../src/cli/processes.js';

type Device = { id: string; online: boolean; services: Array<{ name: string; policyId: string | null; policyVersion: number | null; phase: string | null }>; teamviewer: { teamviewerId: string | null } | null };

describe('agent and reference server over real sockets', () => {
  let server: ServerProcess;
  let home: AgentHome;
  let agent: Spawned;
  let enrollmentToken: string;
  let deviceId: string;
  let policyId: string;
  const serverData = tempDir('server');

  beforeAll(async () => {
    assertBuilt();
    server = await startServer(serverData);
    home = await agentHome('e2e');
  });

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
  });

  it('before registration, status says not registered and exits 2', async () => {
    const { code, status } = await home.statusJson();
    expect(code).toBe(2);
    expect(status.registration.registered).toBe(false);
    expect(status.problems.map((p) => p.code)).toEqual(expect.arrayContaining(['AGENT_NOT_RUNNING', 'NOT_REGISTERED']));
  });

  it('registers locally with an enrollment token, idempotently', async () => {
    const created = await server.api<{ token: string }>('POST', '/enrollment-tokens', { expiresInSec: 3600, maxUses: 10 });
    expect(created.status).toBe(201);
    enrollmentToken = created.body.token;
    const args = ['enroll', '--server', server.agentUrl, '--token', enrollmentToken, '--server-key', server.serverKey, '--alias', 'e2e-laptop'];
    const first = await home.cli(...args);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout + first.stderr).not.toContain(enrollmentToken);
    const again = await home.cli(...args);
    expect(again.code).toBe(0);
    const { code, status } = await home.statusJson();
    expect(code).toBe(2);
    expect(status.registration).toMatchObject({ registered: true, enrolled: false, alias: 'e2e-laptop' });
  });

  it('starts, enrolls on first contact, drops the token from disk, and is healthy (exit 0)', async () => {
    agent = await home.start();
    // Readiness for service managers: one {"event":"connected"} line on stdout once the handshake is done.
    // (It may come before "started", which follows the services' start, so the output so far is searched.)
    await waitUntil(async () => agent.output().split('\n').some((l) => /^\{"event":"connected","pid":\d+\}$/.test(l.trim())) || undefined, 20_000, 'connected line');
    const s = await home.waitFor('connected', (x) => x.connection.state === 'connected' && x.registration.enrolled);
    deviceId = s.registration.deviceId!;
    expect(s.teamviewer).toMatchObject({ installed: true, edition: 'host', teamviewerId: home.teamviewer.teamviewerId });
    expect(readFileSync(path.join(home.stateDir, 'registration.json'), 'utf8')).not.toContain(enrollmentToken);
    const { code, status } = await home.statusJson();
    expect(status.health).toBe('healthy');
    expect(code).toBe(0);
    const devices = await server.api<{ devices: Device[] }>('GET', '/devices');
    expect(devices.body.devices).toEqual([expect.objectContaining({ id: deviceId, online: true })]);
  });

  it('activates Monitoring with a policy; the device runs it and both sides show the policy version', async () => {
    const policy = await server.api<{ id: string; version: number }>('POST', '/policies', {
      name: 'Workstations', service: 'monitoring',
      settings: { checks: [{ type: 'cpu', threshold: 95, durationSec: 300, intervalSec: 60, severity: 'warning' }, { type: 'disk', threshold: 95, intervalSec: 60, severity: 'critical' }] },
    });
    expect(policy.status).toBe(201);
    policyId = policy.body.id;
    const activated = await server.api('POST', '/services/monitoring/activate', { deviceIds: [deviceId], policyId });
    expect(activated.status).toBe(200);
    const s = await home.waitFor('monitoring running', (x) => x.services.some((svc) => svc.name === 'monitoring' && svc.phase === 'running' && svc.policy?.applied === true));
    expect(s.services.find((x) => x.name === 'monitoring')!.policy).toMatchObject({ id: policyId, version: 1 });
    const device = await waitForServer(server, deviceId, (d) => d.services.some((x) => x.name === 'monitoring' && x.phase === 'running'));
    expect(device.services.find((x) => x.name === 'monitoring')).toMatchObject({ policyId, policyVersion: 1 });
  });

  it('a new policy version converges without reinstalling', async () => {
    const updated = await server.api<{ policy: { version: number } }>('PUT', `/policies/${policyId}`, {
      settings: { checks: [{ type: 'memory', threshold: 97, intervalSec: 60, severity: 'warning' }] },
    });
    expect(updated.status).toBe(200);
    const s = await home.waitFor('policy v2', (x) => x.services.some((svc) => svc.name === 'monitoring' && svc.policy?.version === 2 && svc.policy.applied));
    expect(s.services.find((x) => x.name === 'monitoring')!.phase).toBe('running');
  });

  it('survives a server restart: reconnects and loses or duplicates no report', async () => {
    const port = server.port;
    await server.stop();
    const down = await home.waitFor('disconnected', (x) => x.connection.state !== 'connected');
    expect(down.connection.state).not.toBe('connected');
    // Reports produced while the server is away wait in the outbox.
    await home.waitFor('a report queued while offline', (x) => x.outbox.pending > 0, 15_000);
    const degraded = await home.statusJson();
    expect(degraded.code).toBe(1);
    server = await startServer(serverData, port);
    await home.waitFor('reconnected and drained', (x) => x.connection.state === 'connected' && x.outbox.pending === 0, 20_000);
    const { body } = await server.api<{ reports: Array<{ seq: number }>; lastSeq: number }>('GET', `/devices/${deviceId}/reports?limit=500`);
    const seqs = body.reports.map((r) => r.seq);
    expect(seqs.length).toBeGreaterThan(3);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(body.lastSeq).toBe(seqs.length);
  });

  it('notices TeamViewer being removed without a restart and reports it', async () => {
    await home.teamviewer.remove();
    const s = await home.waitFor('TeamViewer gone', (x) => x.teamviewer?.installed === false, 20_000);
    expect(s.problems.map((p) => p.code)).toContain('TEAMVIEWER_MISSING');
    const device = await waitForServer(server, deviceId, (d) => d.teamviewer?.teamviewerId === null);
    expect(device.teamviewer).toMatchObject({ teamviewerId: null });
  });

  it('stops cleanly; status then reads the state files and exits 2', async () => {
    expect(await agent.stop('SIGTERM')).toBe(0);
    const { code, status } = await home.statusJson();
    expect(code).toBe(2);
    expect(status.agent).toMatchObject({ running: false, source: 'state-files' });
    expect(status.registration.deviceId).toBe(deviceId);
    expect(status.services.map((x) => x.name)).toContain('monitoring');
  });

  it('wrote no secret to any log or status output', async () => {
    const key = readFileSync(path.join(home.stateDir, 'device.key'), 'utf8');
    const secrets = [enrollmentToken, server.ownerToken, key.split('\n')[1]!];
    const texts = readdirSync(home.logDir).map((f) => readFileSync(path.join(home.logDir, f), 'utf8'));
    texts.push(agent.output(), server.proc.output(), (await home.cli('status', '--json')).stdout);
    for (const text of texts) for (const secret of secrets) expect(text.includes(secret)).toBe(false);
    expect(texts.join('').length).toBeGreaterThan(1000);
  });
});

async function waitForServer(server: ServerProcess, deviceId: string, predicate: (d: Device) => boolean): Promise<Device> {
  const deadline = Date.now() + 20_000;
  let last: Device | undefined;
  while (Date.now() < deadline) {
    const { body } = await server.api<Device>('GET', `/devices/${deviceId}`);
    last = body;
    if (predicate(body)) return body;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`server never showed the expected device state: ${JSON.stringify(last)}`);
}
