// Identity over real files in a temporary state folder: registration, enrollment, cloned disk, corruption, modes.
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createIdentityStore, registerDevice } from '../../src/agent/identity.js';
import { generateKeyPair, publicKeyOfPrivate } from '../../src/protocol/sign.js';
import { fixedClock } from '../../src/system/clock.js';
import { silentLogger } from '../../src/log.js';

const clock = fixedClock(1_700_000_000_000);
const stateDir = () => mkdtempSync(path.join(tmpdir(), 'rmagent-identity-'));
const register = (dir: string, over: Partial<Parameters<typeof registerDevice>[0]> = {}) =>
  registerDevice({ stateDir: dir, machineId: 'm1', serverUrl: 'ws://127.0.0.1:9000', token: 'token-abcdefgh', clock, ...over });
const store = (dir: string, machineId = 'm1') => createIdentityStore({ stateDir: dir, machineId, clock, logger: silentLogger() });

describe('identity', () => {
  it('registers offline: 0600 record and Ed25519 key that match; same call again changes nothing', async () => {
    const dir = stateDir();
    const first = await register(dir);
    expect(first.changed).toBe(true);
    for (const f of ['registration.json', 'device.key']) expect(statSync(path.join(dir, f)).mode & 0o777).toBe(0o600);
    const pem = readFileSync(path.join(dir, 'device.key'), 'utf8');
    expect(publicKeyOfPrivate(pem)).toBe(first.registration.publicKey);
    const before = readFileSync(path.join(dir, 'registration.json'), 'utf8');
    expect((await register(dir)).changed).toBe(false);
    expect(readFileSync(path.join(dir, 'registration.json'), 'utf8')).toBe(before);
    const loaded = await store(dir).load();
    expect(loaded).toMatchObject({ serverUrl: 'ws://127.0.0.1:9000/agent', enrollmentToken: 'token-abcdefgh', deviceId: null });
  });

  it('markEnrolled stores the device id, pins the server key on first enrollment and drops the token from disk', async () => {
    const dir = stateDir();
    await register(dir);
    const serverKey = generateKeyPair().publicKey;
    const s = store(dir);
    await s.load();
    const r = await s.markEnrolled('dev-1', serverKey);
    expect(r).toMatchObject({ deviceId: 'dev-1', serverKeys: [serverKey], enrollmentToken: null, enrolledAt: clock.now() });
    expect(readFileSync(path.join(dir, 'registration.json'), 'utf8')).not.toContain('token-abcdefgh');
    // an already pinned key is kept
    const other = generateKeyPair().publicKey;
    expect((await s.markEnrolled('dev-1', other)).serverKeys).toEqual([serverKey]);
    expect((await register(dir)).changed).toBe(false); // the MDM re-running the same command is still a no-op
  });

  it('another server is refused without --force', async () => {
    const dir = stateDir();
    await register(dir);
    await expect(register(dir, { serverUrl: 'wss://rm.example.com' })).rejects.toMatchObject({ code: 'REGISTERED_ELSEWHERE' });
    const forced = await register(dir, { serverUrl: 'wss://rm.example.com', force: true });
    expect(forced.registration.serverUrl).toBe('wss://rm.example.com/agent');
  });

  it('a cloned disk gets a new key and no device id, keeps server and pins, and says so until enrolled', async () => {
    const dir = stateDir();
    await register(dir);
    const serverKey = generateKeyPair().publicKey;
    const original = await store(dir).markEnrolled('dev-1', serverKey);
    const clone = store(dir, 'm2');
    const r = await clone.load();
    expect(r).toMatchObject({ deviceId: null, machineId: 'm2', serverUrl: original.serverUrl, serverKeys: [serverKey] });
    expect(r!.publicKey).not.toBe(original.publicKey);
    expect(publicKeyOfPrivate(await clone.privateKeyPem())).toBe(r!.publicKey);
    expect(clone.problems().map((p) => p.code)).toContain('CLONED_IDENTITY');
    // a restart of the clone still reports it
    const restarted = store(dir, 'm2');
    await restarted.load();
    expect(restarted.problems().map((p) => p.code)).toContain('CLONED_IDENTITY');
    await restarted.markEnrolled('dev-2', serverKey);
    await restarted.load();
    expect(restarted.problems()).toEqual([]);
  });

  it('a corrupt record or a key that does not match gives REGISTRATION_CORRUPT and null, never a throw', async () => {
    const dir = stateDir();
    await register(dir);
    writeFileSync(path.join(dir, 'device.key'), generateKeyPair().privateKeyPem, { mode: 0o600 });
    const s = store(dir);
    expect(await s.load()).toBeNull();
    expect(s.problems().map((p) => p.code)).toEqual(['REGISTRATION_CORRUPT']);
    writeFileSync(path.join(dir, 'registration.json'), '{"v":1,"serverUrl":');
    expect(await s.load()).toBeNull();
    expect(s.problems().map((p) => p.code)).toEqual(['REGISTRATION_CORRUPT']);
    await expect(register(dir)).rejects.toMatchObject({ code: 'REGISTRATION_CORRUPT' });
    expect((await register(dir, { force: true })).changed).toBe(true);
    expect(await s.load()).not.toBeNull();
  });

  it('loose file modes are a STATE_PERMISSIONS problem', async () => {
    const dir = stateDir();
    await register(dir);
    chmodSync(path.join(dir, 'device.key'), 0o644);
    const s = store(dir);
    expect(await s.load()).not.toBeNull();
    expect(s.problems().map((p) => p.code)).toEqual(['STATE_PERMISSIONS']);
  });

  it('setServerKeys replaces the pins (rotation)', async () => {
    const dir = stateDir();
    await register(dir);
    const keys = [generateKeyPair().publicKey, generateKeyPair().publicKey];
    expect((await store(dir).setServerKeys(keys)).serverKeys).toEqual(keys);
    expect((await store(dir).load())!.serverKeys).toEqual(keys);
  });

  it('reads a registration.json written before TLS pins were learned, and setTlsPins records them', async () => {
    const dir = stateDir();
    await register(dir);
    const file = path.join(dir, 'registration.json');
    const old = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    delete old.tlsPins;
    delete old.tlsPinsBase;
    writeFileSync(file, JSON.stringify(old), { mode: 0o600 });
    expect(await store(dir).load()).toMatchObject({ tlsPins: [], tlsPinsBase: null });
    const pins = [Buffer.alloc(32, 1).toString('base64'), Buffer.alloc(32, 2).toString('base64')];
    await store(dir).setTlsPins(pins, pins[0]!);
    expect(await store(dir).load()).toMatchObject({ tlsPins: pins, tlsPinsBase: pins[0] });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ tlsPins: pins });
  });
});
