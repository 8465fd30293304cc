// Server command key rotation end to end: the built server and real agent processes on loopback. Two rotations
// (rotate = overlap, retire = end of overlap) while agents stay connected; one agent offline across the first
// rotation, one across both; keys survive a server restart; a command signed with a retired key is refused.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { privateKeysIn } from './server-keys-on-disk.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { waitUntil, type Spawned } from '../../src/cli/processes.js';
import { makeFrame, parseFrame } from '../../src/protocol/frames.js';
import { keyFingerprint, signFrame } from '../../src/protocol/sign.js';
import { newNonce, serverHello, welcomeFrame } from '../../src/protocol/handshake.js';
import { agentHome, assertBuilt, startServer, tempDir, type AgentHome, type ServerProcess } from '../e2e/harness.js';

type KeyView = { publicKey: string; fingerprint: string; state: 'signing' | 'active' | 'retired' };
interface Device { name: string; home: AgentHome; proc: Spawned | null; id: string }

describe('server command key rotation with overlap', () => {
  const dataDir = tempDir('rotation-server');
  let server: ServerProcess;
  const devices: Record<'a' | 'b' | 'sleeper1' | 'sleeper2', Device> = {} as never;
  const keyHistory: string[] = [];
  /** Private halves read from the key file while they still existed (the test plays a thief of a retired key). */
  const privateOf = new Map<string, string>();

  const fp = keyFingerprint;
  const serverKeys = async () => (await server.api<{ keys: KeyView[] }>('GET', '/server-keys')).body.keys;
  const rememberPrivates = () => {
    for (const [publicKey, pem] of privateKeysIn(dataDir)) privateOf.set(publicKey, pem);
  };
  const startAgent = async (d: Device) => { d.proc = await d.home.start(); };
  const stopAgent = async (d: Device) => { await d.proc?.stop(); d.proc = null; };
  /** Waits until the agent is connected and trusts exactly `keys` (fingerprints in its status). */
  const trusts = (d: Device, keys: string[], what: string) =>
    d.home.waitFor(`${d.name} trusts ${keys.map(fp).join(',')} (${what})`, (s) => s.connection.state === 'connected' && [...s.registration.serverKeys].sort().join() === keys.map(fp).sort().join(), 30_000);
  /** A command sent through the API now is signed with the server's signing key; `done` = the agent accepted and ran it. */
  const commandRuns = async (d: Device) => {
    const issued = await server.api<{ id: string }>('POST', `/devices/${d.id}/commands`, { type: 'status.request' });
    expect(issued.status).toBe(202);
    return waitUntil(async () => {
      const { body } = await server.api<{ commands: Array<{ id: string; status: string; reason: { code: string } | null }> }>('GET', `/devices/${d.id}/commands`);
      const c = body.commands.find((x) => x.id === issued.body.id);
      return c && !['queued', 'sent', 'accepted'].includes(c.status) ? c : undefined;
    }, 20_000, `${d.name} runs a command`);
  };
  const keyRotateOutcomes = async (d: Device) => {
    const { body } = await server.api<{ commands: Array<{ type: string; status: string }> }>('GET', `/devices/${d.id}/commands`);
    return body.commands.filter((c) => c.type === 'key.rotate').map((c) => c.status);
  };

  beforeAll(async () => {
    assertBuilt();
    server = await startServer(dataDir);
    keyHistory.push(server.serverKey);
    const { body } = await server.api<{ token: string }>('POST', '/enrollment-tokens', { expiresInSec: 600, maxUses: 10 });
    for (const name of ['a', 'b', 'sleeper1', 'sleeper2'] as const) {
      const home = await agentHome(`rot-${name}`);
      const enrolled = await home.cli('enroll', '--server', server.agentUrl, '--token', body.token, '--server-key', server.serverKey);
      expect(enrolled.code, enrolled.stderr).toBe(0);
      devices[name] = { name, home, proc: null, id: '' };
    }
    await Promise.all(Object.values(devices).map(async (d) => {
      await startAgent(d);
      await trusts(d, [server.serverKey], 'connected');
      d.id = (await d.home.waitFor(`${d.name} enrolled`, (s) => s.registration.enrolled && s.registration.deviceId !== null)).registration.deviceId!;
    }));
  });
  afterAll(async () => {
    for (const d of Object.values(devices)) await stopAgent(d);
    await server?.stop();
  });

  it('rotation 1: the new key is announced under the old one; connected agents trust both, commands still run', async () => {
    await stopAgent(devices.sleeper1);
    await stopAgent(devices.sleeper2);
    const rotated = await server.api<{ key: KeyView; devices: number }>('POST', '/server-keys/rotate', {});
    expect(rotated.status).toBe(201);
    expect(rotated.body.devices).toBe(4);
    const [k0] = keyHistory as [string];
    const k1 = rotated.body.key.publicKey;
    keyHistory.push(k1);
    rememberPrivates();
    expect((await serverKeys()).map((k) => [k.publicKey, k.state])).toEqual([[k0, 'signing'], [k1, 'active']]);
    for (const d of [devices.a, devices.b]) {
      await trusts(d, [k0, k1], 'overlap');
      expect((await commandRuns(d)).status).toBe('done');
    }
  });

  it('refuses to retire a key that is not the signing one, and callers without manage_accounts', async () => {
    const [, k1] = keyHistory as [string, string];
    const wrong = await server.api<{ error: { code: string } }>('POST', '/server-keys/retire', { key: k1 });
    expect(wrong.status).toBe(400);
    const { body: role } = await server.api<{ id: string }>('POST', '/roles', { name: 'helpdesk', permissions: ['assign_policies'] });
    const { body: acct } = await server.api<{ token: string }>('POST', '/accounts', { name: 'helpdesk', roleIds: [role.id] });
    const denied = await server.api<{ error: { code: string; permission?: string } }>('POST', '/server-keys/rotate', {}, acct.token);
    expect(denied.status).toBe(403);
    expect(denied.body.error.permission).toBe('manage_accounts');
    expect((await serverKeys()).length).toBe(2);
  });

  it('retire 1: agents drop the old key, the new key signs, and hello presents it', async () => {
    const [k0, k1] = keyHistory as [string, string];
    const retired = await server.api<{ signing: string }>('POST', '/server-keys/retire', { key: k0 });
    expect(retired.status).toBe(200);
    expect(retired.body.signing).toBe(k1);
    expect(readFileSync(path.join(dataDir, 'server-key.pub'), 'utf8').trim()).toBe(k1);
    for (const d of [devices.a, devices.b]) {
      await trusts(d, [k1], 'after retire');
      expect((await commandRuns(d)).status).toBe('done');
    }
  });

  it('an agent offline across rotation 1 follows the endorsement and is not stranded', async () => {
    const [, k1] = keyHistory as [string, string];
    await startAgent(devices.sleeper1);
    const s = await trusts(devices.sleeper1, [k1], 'back after rotation 1');
    expect(s.problems.map((p) => p.code)).not.toContain('SERVER_KEY_MISMATCH');
    expect((await commandRuns(devices.sleeper1)).status).toBe('done');
    expect(await keyRotateOutcomes(devices.sleeper1)).toEqual(['done', 'done']);
  });

  it('rotation 2 and retire 2 while agents stay connected', async () => {
    const [, k1] = keyHistory as [string, string];
    const rotated = await server.api<{ key: KeyView }>('POST', '/server-keys/rotate', {});
    const k2 = rotated.body.key.publicKey;
    keyHistory.push(k2);
    rememberPrivates();
    for (const d of [devices.a, devices.b, devices.sleeper1]) await trusts(d, [k1, k2], 'overlap 2');
    expect((await server.api('POST', '/server-keys/retire', { key: k1 })).status).toBe(200);
    for (const d of [devices.a, devices.b, devices.sleeper1]) {
      await trusts(d, [k2], 'after retire 2');
      expect((await commandRuns(d)).status).toBe('done');
    }
  });

  it('keys persist across a server restart; an agent offline across both rotations comes back', async () => {
    const [k0, k1, k2] = keyHistory as [string, string, string];
    const port = server.port;
    await server.stop();
    server = await startServer(dataDir, port);
    expect(server.serverKey).toBe(k2);
    expect((await serverKeys()).map((k) => [k.publicKey, k.state])).toEqual([[k0, 'retired'], [k1, 'retired'], [k2, 'signing']]);
    // Retired keys are gone from the database: nothing can sign with them any more.
    expect([...privateKeysIn(dataDir).keys()]).toEqual([k2]);
    for (const d of [devices.a, devices.b]) {
      await trusts(d, [k2], 'after restart');
      expect((await commandRuns(d)).status).toBe('done');
    }
    await startAgent(devices.sleeper2);
    await trusts(devices.sleeper2, [k2], 'back after two rotations');
    expect((await commandRuns(devices.sleeper2)).status).toBe('done');
    expect(await keyRotateOutcomes(devices.sleeper2)).toEqual(['done', 'done', 'done', 'done']);
  });

  it('a command signed with a retired key is rejected as COMMAND_FORGED; one signed with the current key runs', async () => {
    const [k0, , k2] = keyHistory as [string, string, string];
    const port = server.port;
    await server.stop();
    // A stand-in server on the same port that holds the current key and a stolen retired one.
    const wss = new WebSocketServer({ host: '127.0.0.1', port });
    await new Promise((r) => wss.once('listening', r));
    const acks: Array<{ commandId: string; status: string; reason?: { code: string } }> = [];
    const sent: Record<string, string> = {};
    const current = { publicKey: k2, privateKeyPem: privateOf.get(k2)! };
    wss.on('connection', (ws) => {
      let agentNonce = '';
      ws.on('message', (raw) => {
        const parsed = parseFrame(raw.toString());
        if (!parsed.ok) return;
        const f = parsed.frame;
        if (f.type === 'agent.hello') {
          agentNonce = f.body.nonce;
          ws.send(JSON.stringify(serverHello({ hello: f.body, nonce: newNonce(), channel: { kind: 'none' }, serverKey: current, now: Date.now() })));
        }
        if (f.type === 'auth') {
          if (f.body.deviceId !== devices.a.id) return void ws.close();
          ws.send(JSON.stringify(welcomeFrame({ agentNonce, deviceId: f.body.deviceId, enrolled: false, heartbeatSec: 2, lastSeq: 0, serverKey: current, now: Date.now() })));
          for (const [name, key] of [['retired', k0], ['current', k2]] as const) {
            const frame = signFrame(makeFrame('status.request', { deviceId: f.body.deviceId }), privateOf.get(key)!);
            sent[frame.id] = name;
            ws.send(JSON.stringify(frame));
          }
        }
        if (f.type === 'ack' && sent[f.body.commandId] && f.body.status !== 'accepted') acks.push(f.body);
      });
    });
    try {
      await waitUntil(async () => acks.length >= 2 || undefined, 30_000, 'two final acks from agent a');
      const byName = Object.fromEntries(acks.map((a) => [sent[a.commandId], a]));
      expect(byName.retired).toMatchObject({ status: 'rejected', reason: { code: 'COMMAND_FORGED' } });
      expect(byName.current).toMatchObject({ status: 'done' });
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
    }
  });
});
