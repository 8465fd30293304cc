// Key and pin rotation that cannot be turned against the device (issue 20), with the built agent as a real process
// and server stand-ins that hold the keys in play (key-peer.ts): each test performs the attack and shows what the
// device pins afterwards, in `rmagent status` and on disk.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Spawned } from '../../src/cli/processes.js';
import { endorseKey } from '../../src/protocol/key-chain.js';
import { generateKeyPair, keyFingerprint as fp } from '../../src/protocol/sign.js';
import { agentHome, assertBuilt, type AgentHome } from '../e2e/harness.js';
import type { Peer } from './key-peer.js';
import { peersAndAgents, pointTo } from './peer-harness.js';
import { makeCerts, makeServerCert } from './tls-server.js';

const { peer, start, stop } = peersAndAgents();
/** A device enrolled with `p` (pinning p.key at `enroll --server-key`), running. */
async function enrolled(name: string, p: Peer, env: NodeJS.ProcessEnv = {}): Promise<{ home: AgentHome; proc: Spawned }> {
  const home = await agentHome(name, env);
  const r = await home.cli('enroll', '--server', p.url, '--token', 'rotation-token-123456', '--server-key', p.key.publicKey);
  expect(r.code, r.stderr).toBe(0);
  const proc = await start(home);
  await home.waitFor('enrolled', (s) => s.connection.state === 'connected' && s.registration.deviceId === 'dev-1');
  return { home, proc };
}

const pinnedOnDisk = (home: AgentHome) => (JSON.parse(readFileSync(path.join(home.stateDir, 'registration.json'), 'utf8')) as { serverKeys: string[] }).serverKeys;

describe('server key rotation cannot be turned against the device', () => {
  beforeAll(() => assertBuilt());

  it('key.rotate that retires the key it adds, or would leave no pinned key, is refused; the device still takes commands', async () => {
    const k0 = await peer({});
    const { home } = await enrolled('rot-sanity', k0);
    const k1 = generateKeyPair().publicKey;
    // The sequence: {K1, retire K1} then {K0, retire K0} left serverKeys [] (then any hello was trusted).
    expect(await k0.finalAck(k0.command('key.rotate', { newKey: k1, retireKey: k1 }).id)).toMatchObject({ status: 'rejected', reason: { code: 'KEY_ROTATION_INVALID' } });
    expect(await k0.finalAck(k0.command('key.rotate', { newKey: k0.key.publicKey, retireKey: k0.key.publicKey }).id)).toMatchObject({ status: 'rejected', reason: { code: 'KEY_ROTATION_INVALID' } });
    expect(pinnedOnDisk(home)).toEqual([k0.key.publicKey]);
    expect(await k0.finalAck(k0.command('status.request', {}).id)).toMatchObject({ status: 'done' });
  });

  it('after following endorsements only the presented key is pinned: a server holding the retired key is refused afterwards', async () => {
    const k0 = generateKeyPair();
    const k1 = generateKeyPair();
    const old = await peer({ key: k0 });
    const { home, proc } = await enrolled('rot-chain', old);
    await stop(proc);
    // The real server rotated and retired K0 while the device was away (a server that does not list its active
    // keys: the chain alone must retire K0).
    const current = await peer({ key: k1, endorsements: [endorseKey(k1.publicKey, k0.publicKey, k0.privateKeyPem)] });
    await pointTo(home, current.url);
    const again = await start(home);
    await home.waitFor('follows the chain to K1', (s) => s.connection.state === 'connected' && s.registration.serverKeys.join() === fp(k1.publicKey));
    expect(pinnedOnDisk(home)).toEqual([k1.publicKey]);
    await stop(again);
    // Someone kept a copy of K0 and stands up a server with it: refused, nothing sent but the hello.
    const thief = await peer({ key: k0 });
    await pointTo(home, thief.url);
    await start(home);
    await home.waitFor('refuses the retired key', (s) => s.connection.lastError?.code === 'SERVER_KEY_MISMATCH');
    expect(new Set(thief.received.map((f) => f.type))).toEqual(new Set(['agent.hello']));
    expect(pinnedOnDisk(home)).toEqual([k1.publicKey]);
  });

  it('a retire that never arrived does not keep the old key trusted: keys the server no longer lists as active are dropped', async () => {
    const k0 = generateKeyPair();
    const k1 = generateKeyPair();
    const overlap = await peer({ key: k0, activeKeys: [k0.publicKey, k1.publicKey] });
    const { home, proc } = await enrolled('rot-active', overlap);
    expect(await overlap.finalAck(overlap.command('key.rotate', { newKey: k1.publicKey, endorsements: [endorseKey(k1.publicKey, k0.publicKey, k0.privateKeyPem)] }).id)).toMatchObject({ status: 'done' });
    expect(pinnedOnDisk(home)).toEqual([k0.publicKey, k1.publicKey]);
    await stop(proc);
    // K0 retired on the server; its key.rotate {retireKey: K0} was lost. The next handshake says which keys are active.
    const after = await peer({ key: k1, activeKeys: [k1.publicKey] });
    await pointTo(home, after.url);
    await start(home);
    await home.waitFor('drops K0', (s) => s.connection.state === 'connected' && s.registration.serverKeys.join() === fp(k1.publicKey));
    expect(pinnedOnDisk(home)).toEqual([k1.publicKey]);
  });

  it('re-running `rmagent enroll` with the original --server-key keeps the key the device learned; --force changes it', async () => {
    const k0 = generateKeyPair();
    const k1 = generateKeyPair();
    const rotating = await peer({ key: k0, activeKeys: [k0.publicKey, k1.publicKey] });
    const { home, proc } = await enrolled('rot-enroll', rotating);
    await rotating.finalAck(rotating.command('key.rotate', { newKey: k1.publicKey, retireKey: k0.publicKey, endorsements: [endorseKey(k1.publicKey, k0.publicKey, k0.privateKeyPem)] }).id);
    expect(pinnedOnDisk(home)).toEqual([k1.publicKey]);
    await stop(proc);
    // An installer repair or a configuration-management run with the original SERVER_KEY and any token.
    const repair = await home.cli('enroll', '--server', rotating.url, '--token', 'another-token-123456', '--server-key', k0.publicKey);
    expect(repair.code, repair.stderr).toBe(0);
    expect(repair.stdout + repair.stderr).toContain('kept the pinned server key');
    expect(pinnedOnDisk(home)).toEqual([k1.publicKey]);
    const forced = await home.cli('enroll', '--server', rotating.url, '--token', 'another-token-123456', '--server-key', k0.publicKey, '--force');
    expect(forced.code, forced.stderr).toBe(0);
    expect(pinnedOnDisk(home)).toEqual([k0.publicKey]);
  });
});

describe('TLS pin announcements', () => {
  beforeAll(() => assertBuilt());

  it('a pin set without the pin of the certificate it came in over is refused (TLS_PINS_INVALID); one with it is taken', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-pins-'));
    const certs = makeCerts(dir);
    const other = makeServerCert(dir, certs, 'other');
    const p = await peer({ tls: { certFile: certs.certFile, keyFile: certs.keyFile } });
    const { home } = await enrolled('pins-conn', p, { RMAGENT_CA_FILE: certs.caFile, RMAGENT_PIN_SHA256: certs.pin });
    // Behind a TLS-ending proxy the server cannot check the set: it would announce a set for another certificate.
    const locked = await p.finalAck(p.command('key.rotate', { newKey: p.key.publicKey, pins: [other.pin] }).id);
    expect(locked).toMatchObject({ status: 'rejected', reason: { code: 'TLS_PINS_INVALID' } });
    expect(locked.reason!.message).toContain(certs.pin);
    expect((await home.live())!.connection.tlsPins).toEqual({ source: 'config', pins: [certs.pin] });
    expect(await p.finalAck(p.command('key.rotate', { newKey: p.key.publicKey, pins: [certs.pin, other.pin] }).id)).toMatchObject({ status: 'done' });
    expect((await home.live())!.connection.tlsPins).toEqual({ source: 'learned', pins: [certs.pin, other.pin] });
  });
});
