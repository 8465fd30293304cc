// An attacker who kept a copy of a server key the operator has since retired (issue 20), against the built agent
// and the built server on loopback. The server rotates K0 -> K1 (K1 endorsed by K0) and retires K0; the attacker
// holds K0's private half (read from the key file while it existed) and the public endorsements. It plays the
// server (its name leads the device to it) with K0 itself, or with a key of its own endorsed by K0.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil, type Spawned } from '../../src/cli/processes.js';
import { makeFrame, type Frame } from '../../src/protocol/frames.js';
import { newNonce, serverHello, welcomeFrame } from '../../src/protocol/handshake.js';
import { endorseKey } from '../../src/protocol/key-chain.js';
import { generateKeyPair, keyFingerprint, signFrame, type KeyPair } from '../../src/protocol/sign.js';
import { assertBuilt, startServer, tempDir, type AgentHome, type ServerProcess } from '../e2e/harness.js';
import { roguePeer, typeOf, type RoguePeer } from './rogue-peer.js';
import { enrolledHome, newToken, pointTo, registration } from './rogue-agents.js';
import { privateKeysIn } from './server-keys-on-disk.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/**
 * Plays the server with `key` (its private half): server.hello with `endorsements` and `activeKeys`, a welcome for
 * the id the device authenticates as, then commands it signs itself (Monitoring uninstalled, a new key pinned and
 * the real one retired).
 */
function thief(key: KeyPair, opts: { endorsements?: ReturnType<typeof endorseKey>[]; activeKeys?: string[]; realKey: string; rotate?: boolean; rotations?: Array<Record<string, unknown>>; sentIds?: string[] }): Promise<RoguePeer> {
  let nonce = '';
  return roguePeer({
    onAgent: (text, wire) => {
      const f = JSON.parse(text) as Frame;
      if (f.type === 'agent.hello') {
        nonce = f.body.nonce;
        wire.toAgent(serverHello({ hello: f.body, nonce: newNonce(), channel: { kind: 'none' }, serverKey: key, ...(opts.endorsements ? { endorsements: opts.endorsements } : {}), ...(opts.activeKeys ? { activeKeys: opts.activeKeys } : {}), now: Date.now() }));
      }
      if (f.type === 'auth') {
        const deviceId = f.body.deviceId;
        wire.toAgent(welcomeFrame({ agentNonce: nonce, deviceId, enrolled: false, heartbeatSec: 30, lastSeq: 0, serverKey: key, now: Date.now() }));
        wire.toAgent(signFrame(makeFrame('service.uninstall', { deviceId, service: 'monitoring' }), key.privateKeyPem));
        if (opts.rotate ?? true) wire.toAgent(signFrame(makeFrame('key.rotate', { deviceId, newKey: key.publicKey, retireKey: opts.realKey }), key.privateKeyPem));
        for (const r of opts.rotations ?? []) {
          const frame = signFrame(makeFrame('key.rotate', { deviceId, ...r } as never), key.privateKeyPem);
          opts.sentIds?.push(frame.id);
          wire.toAgent(frame);
        }
      }
    },
  });
}

describe('a copy of a retired server key', () => {
  let server: ServerProcess;
  let k0: KeyPair;
  let k1: string;
  const homes: Record<'online' | 'offline', { home: AgentHome; agent: Spawned; deviceId: string }> = {} as never;

  beforeAll(async () => {
    assertBuilt();
    const dataDir = tempDir('retired-server');
    server = await startServer(dataDir);
    for (const name of ['online', 'offline'] as const) {
      const { home, agent } = await enrolledHome(`retired-${name}`, server.agentUrl, server.serverKey, await newToken(server), { cleanups: [] });
      const s = await home.waitFor('enrolled', (x) => x.connection.state === 'connected' && x.registration.enrolled);
      homes[name] = { home, agent, deviceId: s.registration.deviceId! };
    }
    const rotated = await server.api<{ key: { publicKey: string } }>('POST', '/server-keys/rotate', {});
    expect(rotated.status).toBe(201);
    k1 = rotated.body.key.publicKey;
    k0 = { publicKey: server.serverKey, privateKeyPem: privateKeysIn(dataDir).get(server.serverKey)! };
    const both = [keyFingerprint(k0.publicKey), keyFingerprint(k1)].sort().join();
    for (const name of ['online', 'offline'] as const) await homes[name].home.waitFor('overlap: both keys pinned', (s) => [...s.registration.serverKeys].sort().join() === both);
    // The offline device misses the retirement of K0.
    await homes.offline.agent.stop();
    expect((await server.api('POST', '/server-keys/retire', { key: k0.publicKey })).status).toBe(200);
    await homes.online.home.waitFor('K0 dropped', (s) => s.registration.serverKeys.join() === keyFingerprint(k1));
  }, 120_000);
  afterAll(async () => {
    await homes.online?.agent.stop();
    await homes.offline?.agent.stop();
    await server?.stop();
  });

  it('is worth nothing against a device that saw the retirement: K0 itself, or a key endorsed by K0, gets only agent.hello', async () => {
    const attacker = generateKeyPair();
    const { home } = homes.online;
    for (const rogue of [
      await thief(k0, { activeKeys: [k0.publicKey], realKey: k1 }),
      await thief(attacker, { endorsements: [endorseKey(attacker.publicKey, k0.publicKey, k0.privateKeyPem)], activeKeys: [attacker.publicKey], realKey: k1 }),
    ]) {
      cleanups.push(rogue.close);
      await pointTo(home, rogue.url);
      await home.waitFor('SERVER_KEY_MISMATCH', (s) => s.problems.some((p) => p.code === 'SERVER_KEY_MISMATCH'));
      await waitUntil(async () => rogue.connections() >= 2 || undefined, 10_000, 'a second attempt');
      expect([...new Set(rogue.heard.map(typeOf))]).toEqual(['agent.hello']);
      expect(registration(home).serverKeys).toEqual([k1]);
    }
    await pointTo(home, server.agentUrl);
    await home.waitFor('back with the real server', (s) => s.connection.state === 'connected');
  });

  // A device that missed the retirement (offline when K0 was retired: it still pins K0 and K1).
  it('cannot take over a device that missed the retirement (pins K0 and K1): a key endorsed by K0 is a fork of the chain it knows', async () => {
    const attacker = generateKeyPair();
    const { home } = homes.offline;
    const rogue = await thief(attacker, { endorsements: [endorseKey(attacker.publicKey, k0.publicKey, k0.privateKeyPem)], activeKeys: [attacker.publicKey], realKey: k1 });
    cleanups.push(rogue.close);
    await pointTo(home, rogue.url);
    homes.offline.agent = await home.start();
    await waitUntil(async () => rogue.connections() >= 2 || home.live().then((s) => s?.connection.state === 'connected') || undefined, 15_000, 'two attempts or a connection').catch(() => undefined);
    const s = await home.live();
    expect(registration(home).serverKeys, `pinned after meeting the attacker: ${registration(home).serverKeys.map(keyFingerprint).join(', ')}`).toContain(k1);
    expect(registration(home).serverKeys).not.toContain(attacker.publicKey);
    expect(s?.services.filter((x) => x.name === 'monitoring') ?? []).toEqual([]);
    // Its name leads back to the real server: the device is not stranded.
    await pointTo(home, server.agentUrl);
    await home.waitFor('back with the real server', (x) => x.connection.state === 'connected', 20_000);
  });

  it.each([
    ['activeKeys [K0] in its server.hello', { activeKeys: true, rotate: false }],
  ])('cannot make a device that missed the retirement (pins K0 and K1) drop K1 by presenting K0 with %s', async (_how, how) => {
    const { home } = homes.offline;
    await homes.offline.agent.stop();
    // Back to the overlap state it had: it pins K0 and K1 (the previous test may have moved it on).
    const file = path.join(home.stateDir, 'registration.json');
    const { writeJsonAtomic } = await import('../../src/system/files.js');
    await writeJsonAtomic(file, { ...(JSON.parse(readFileSync(file, 'utf8')) as object), serverKeys: [k0.publicKey, k1] });
    const rogue = await thief(k0, { ...(how.activeKeys ? { activeKeys: [k0.publicKey] } : {}), rotate: how.rotate, realKey: k1 });
    cleanups.push(rogue.close);
    await pointTo(home, rogue.url);
    homes.offline.agent = await home.start();
    await waitUntil(async () => rogue.connections() >= 2 || undefined, 15_000, 'two attempts').catch(() => undefined);
    expect(registration(home).serverKeys).toContain(k1);
    await pointTo(home, server.agentUrl);
    await home.waitFor('back with the real server', (x) => x.connection.state === 'connected', 20_000);
  });

  // A command does not say which pinned key signed it: before key.rotate carried endorsements and was bounded by its
  // signer, {newKey: K0, retireKey: K1} signed by K0 left the device pinning K0 alone (the attacker's key for good).
  it('a holder of K0 cannot reorder or replace the pins of a device that missed the retirement (pins K0 and K1) with key.rotate', async () => {
    const { home } = homes.offline;
    await homes.offline.agent.stop();
    const file = path.join(home.stateDir, 'registration.json');
    const { writeJsonAtomic } = await import('../../src/system/files.js');
    await writeJsonAtomic(file, { ...(JSON.parse(readFileSync(file, 'utf8')) as object), serverKeys: [k0.publicKey, k1] });
    const attacker = generateKeyPair();
    const forked = [endorseKey(attacker.publicKey, k0.publicKey, k0.privateKeyPem)];
    const rotations: Array<[string, Record<string, unknown>, { status: string; reason?: { code: string } }]> = [
      ['K0 back on top, K1 retired', { newKey: k0.publicKey, retireKey: k1 }, { status: 'rejected', reason: { code: 'KEY_ROTATION_INVALID' } }],
      ['a key of its own endorsed by K0', { newKey: attacker.publicKey, endorsements: forked }, { status: 'rejected', reason: { code: 'KEY_ROTATION_INVALID' } }],
      ['a key of its own endorsed by K0, K1 retired', { newKey: attacker.publicKey, retireKey: k1, endorsements: forked }, { status: 'rejected', reason: { code: 'KEY_ROTATION_INVALID' } }],
      ['K1 retired in favour of K1 itself', { newKey: k1, retireKey: k1 }, { status: 'rejected', reason: { code: 'KEY_ROTATION_INVALID' } }],
      ['a key of its own, no endorsement', { newKey: attacker.publicKey, retireKey: k1 }, { status: 'done', reason: { code: 'KEY_ROTATION_STALE' } }],
    ];
    const sentIds: string[] = [];
    const rogue = await thief(k0, { rotate: false, realKey: k1, rotations: rotations.map(([, body]) => body), sentIds });
    cleanups.push(rogue.close);
    await pointTo(home, rogue.url);
    homes.offline.agent = await home.start();
    type Ack = { type: string; body: { commandId: string; status: string; reason?: { code: string } } };
    const finalAck = (id: string) => rogue.heard.map((t) => JSON.parse(t) as Ack).find((f) => f.type === 'ack' && f.body.commandId === id && f.body.status !== 'accepted');
    // The first connection's rotations, each answered (a reconnect would send them again with new ids).
    const acks = await waitUntil(async () => {
      const found = sentIds.slice(0, rotations.length).map(finalAck);
      return found.length === rotations.length && found.every(Boolean) ? found : undefined;
    }, 20_000, 'every key.rotate answered');
    rotations.forEach(([what, , expected], i) => expect(acks[i]!.body, what).toMatchObject(expected));
    expect(registration(home).serverKeys.map(keyFingerprint)).toEqual([k0.publicKey, k1].map(keyFingerprint));
    await pointTo(home, server.agentUrl);
    await home.waitFor('back with the real server', (x) => x.connection.state === 'connected', 20_000);
  });
});
