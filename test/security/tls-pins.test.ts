// TLS pin rotation with overlap, for real: the built server serving certificate A, then B (a new key from the same
// CA), then A again; real agent processes pinned to A by configuration. The admin announces [A, B] while the
// server is still on A; agents ack (one offline comes back before the switch and gets the queued announcement);
// after the switch they reconnect with no config change; [B] then retires A, and a server back on A is refused.
// One agent offline through the whole overlap is stranded, as documented, until its config pin changes.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil, type Spawned } from '../../src/cli/processes.js';
import type { AgentStatus } from '../../src/agent/status.js';
import { agentHome, assertBuilt, tempDir, type AgentHome } from '../e2e/harness.js';
import { api, makeCa, makeServerCert, startServer, type ServerCert, type TlsServer } from './tls-server.js';

type Name = 'on1' | 'on2' | 'sleeper' | 'late' | 'unpinned';
interface Device { home: AgentHome; proc: Spawned | null; id: string }
type Progress = { serving: string | null; announced: { pins: string[] } | null; devices: { done: number; pending: number; failed: number; notAnnounced: number } };
type CommandList = { commands: Array<{ type: string; status: string; reason: { code: string } | null; body: { pins?: string[] } }> };

describe('TLS pin rotation with overlap', () => {
  const dataDir = tempDir('tls-pins-server');
  let certA: ServerCert;
  let certB: ServerCert;
  let caFile: string;
  let ca: Buffer;
  let server: TlsServer;
  let port = 0;
  const devices = {} as Record<Name, Device>;

  const serve = async (cert: ServerCert) => {
    server = await startServer(['--tls-cert', cert.certFile, '--tls-key', cert.keyFile], { dataDir, port });
    port = server.port;
  };
  const call = <T>(method: string, route: string, body?: unknown, token?: string) => api<T>(server, ca, method, route, body, token);
  const start = async (n: Name) => { devices[n].proc = await devices[n].home.start(); };
  const stop = async (n: Name) => { await devices[n].proc?.stop(); devices[n].proc = null; };
  const pinsOf = (s: AgentStatus) => s.connection.tlsPins;
  /** Connected (after `since`, when given) with exactly this pin set in force. */
  const connectedWith = (n: Name, source: 'learned' | 'config' | 'none', pins: string[], since = 0) =>
    devices[n].home.waitFor(`${n} connected with ${source} pins ${pins.join(',')}`, (s) =>
      s.connection.state === 'connected' && (s.connection.connectedAt ?? 0) > since && pinsOf(s)?.source === source && JSON.stringify(pinsOf(s)?.pins) === JSON.stringify(pins), 30_000);
  const pinAnnouncements = async (n: Name) => (await call<CommandList>('GET', `/devices/${devices[n].id}/commands`)).body.commands.filter((c) => c.type === 'key.rotate' && c.body.pins);
  const progress = async () => (await call<Progress>('GET', '/tls-pins')).body;

  beforeAll(async () => {
    assertBuilt();
    const dir = tempDir('tls-pins-certs');
    const authority = makeCa(dir);
    caFile = authority.caFile;
    ca = readFileSync(caFile);
    certA = makeServerCert(dir, authority, 'a');
    certB = makeServerCert(dir, authority, 'b');
    expect(certA.pin).not.toBe(certB.pin);
    await serve(certA);
    const token = await call<{ token: string }>('POST', '/enrollment-tokens', { expiresInSec: 600, maxUses: 10 });
    expect(token.status).toBe(201);
    for (const n of ['on1', 'on2', 'sleeper', 'late', 'unpinned'] as const) {
      const home = await agentHome(`pins-${n}`, { RMAGENT_CA_FILE: caFile, ...(n === 'unpinned' ? {} : { RMAGENT_PIN_SHA256: certA.pin }) });
      const enrolled = await home.cli('enroll', '--server', server.agentUrl, '--token', token.body.token, '--server-key', server.serverKey);
      expect(enrolled.code, enrolled.stderr).toBe(0);
      devices[n] = { home, proc: null, id: '' };
    }
    await Promise.all((Object.keys(devices) as Name[]).map(async (n) => {
      await start(n);
      const s = await connectedWith(n, n === 'unpinned' ? 'none' : 'config', n === 'unpinned' ? [] : [certA.pin]);
      devices[n].id = s.registration.deviceId!;
    }));
  });
  afterAll(async () => {
    for (const n of Object.keys(devices) as Name[]) await stop(n);
    await server?.proc.stop();
  });

  it('refuses pin sets that would cut devices off, invalid ones, and callers without manage_accounts', async () => {
    const withoutServed = await call<{ error: { code: string; message: string } }>('POST', '/tls-pins', { pins: [certB.pin] });
    expect(withoutServed.status).toBe(400);
    expect(withoutServed.body.error.message).toContain(certA.pin);
    expect((await call('POST', '/tls-pins', { pins: [] })).status).toBe(400);
    expect((await call('POST', '/tls-pins', { pins: [certA.pin, 'ab'.repeat(22)] })).status).toBe(400);
    const { body: role } = await call<{ id: string }>('POST', '/roles', { name: 'helpdesk', permissions: ['assign_policies'] });
    const { body: acct } = await call<{ token: string }>('POST', '/accounts', { name: 'helpdesk', roleIds: [role.id] });
    expect((await call('POST', '/tls-pins', { pins: [certA.pin, certB.pin] }, acct.token)).status).toBe(403);
    expect(await progress()).toMatchObject({ serving: certA.pin, announced: null });
  });

  it('announces [A, B] while on A: online pinned agents record it, offline ones get it queued, an unpinned one records nothing', async () => {
    await stop('sleeper');
    await stop('late');
    const announced = await call<{ devices: number }>('POST', '/tls-pins', { pins: [certA.pin, certB.pin] });
    expect(announced.status).toBe(200);
    expect(announced.body.devices).toBe(5);
    for (const n of ['on1', 'on2'] as const) await connectedWith(n, 'learned', [certA.pin, certB.pin]);
    await waitUntil(async () => ((await progress()).devices.done === 3 ? true : undefined), 20_000, 'three acks');
    expect(await progress()).toMatchObject({ announced: { pins: [certA.pin, certB.pin] }, devices: { done: 3, pending: 2, failed: 0, notAnnounced: 0 } });
    // Pinning is opt-in: the unpinned agent says it did not record the pins, and still does not pin.
    expect(await pinAnnouncements('unpinned')).toMatchObject([{ status: 'done', reason: { code: 'TLS_PINS_NOT_USED' } }]);
    expect(pinsOf((await devices.unpinned.home.live())!)).toEqual({ source: 'none', pins: [] });
    expect(await pinAnnouncements('sleeper')).toMatchObject([{ status: 'queued' }]);
  });

  it('an agent offline through the announcement receives it when back while the server is still on A', async () => {
    await start('sleeper');
    await connectedWith('sleeper', 'learned', [certA.pin, certB.pin]);
    await waitUntil(async () => ((await progress()).devices.done === 4 ? true : undefined), 20_000, 'four acks');
  });

  it('after the switch to B, agents that acked reconnect without any config change (one restarted from disk)', async () => {
    await stop('on2');
    await server.proc.stop();
    const switchedAt = Date.now();
    await serve(certB);
    expect((await progress()).serving).toBe(certB.pin);
    await start('on2');
    for (const n of ['on1', 'on2', 'sleeper'] as const) await connectedWith(n, 'learned', [certA.pin, certB.pin], switchedAt);
    await connectedWith('unpinned', 'none', [], switchedAt);
  });

  it('an agent offline through the whole overlap is stranded (TLS_PIN_MISMATCH) until its config pin changes', async () => {
    await start('late');
    const s = await devices.late.home.waitFor('late refuses B', (x) => x.connection.lastError?.code === 'TLS_PIN_MISMATCH', 20_000);
    expect(s.connection.lastError?.message).toContain(certB.pin);
    expect(s.problems.find((p) => p.code === 'TLS_PIN_MISMATCH')?.fix).toContain('pinSha256');
    // The technician's fix: the new pin in the config. It takes over, and the queued announcement is then recorded over it.
    await stop('late');
    devices.late.home.env.RMAGENT_PIN_SHA256 = certB.pin;
    await start('late');
    await connectedWith('late', 'learned', [certA.pin, certB.pin]);
  });

  it('announcing [B] retires A: a server back on certificate A is refused with TLS_PIN_MISMATCH', async () => {
    expect((await call('POST', '/tls-pins', { pins: [certA.pin] })).status).toBe(400);
    expect((await call<{ devices: number }>('POST', '/tls-pins', { pins: [certB.pin] })).body.devices).toBe(5);
    for (const n of ['on1', 'on2', 'sleeper', 'late'] as const) await connectedWith(n, 'learned', [certB.pin]);
    await waitUntil(async () => ((await progress()).devices.done === 5 ? true : undefined), 20_000, 'five acks');
    const text = await devices.on1.home.cli('status');
    expect(text.stdout).toContain(`TLS pins      ${certB.pin} (announced by the server)`);

    await server.proc.stop();
    const backAt = Date.now();
    await serve(certA);
    for (const n of ['on1', 'on2', 'sleeper', 'late'] as const) {
      const s = await devices[n].home.waitFor(`${n} refuses A`, (x) => x.connection.lastError?.code === 'TLS_PIN_MISMATCH' && x.connection.lastError.at > backAt, 20_000);
      expect(s.connection.lastError?.message).toContain(certA.pin);
      expect(s.health).toBe('unhealthy');
    }
    // The agent that never pinned still connects: pinning stayed opt-in.
    await connectedWith('unpinned', 'none', [], backAt);
  });
});
