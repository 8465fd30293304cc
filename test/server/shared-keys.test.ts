// Two server nodes on one PostgreSQL database (in process, loopback): the command keys live in the database, so a
// rotation and a retirement through node A are used by node B at once — a device connected to B gets server.hello
// and commands signed along the new chain — without copying any key file. Node B was given only A's
// key-encryption secret (and owner token), once. Skipped where PostgreSQL is not installed (.ci/run installs it).
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCommand, generateKeyPair, signedBytes, verifyBytes } from '../../src/protocol/sign.js';
import { followKeyChain } from '../../src/protocol/key-chain.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { silentLogger } from '../../src/log.js';
import { findPostgres, startPgCluster, type PgCluster } from './pg-cluster.js';
import { apiOf, connectAgent, enroll, newEnrollmentToken, tempDir, type EnrolledAgent } from './helpers.js';

const postgres = await findPostgres();
const missing = 'missing' in postgres ? postgres.missing : null;
if (missing) console.warn(`shared-keys test skipped: ${missing}`);

async function until<T>(what: string, check: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.skipIf(missing)('server command keys shared through PostgreSQL', () => {
  let cluster: PgCluster;
  let url: string;
  let a: RunningServer;
  let b: RunningServer;
  const open: Array<{ close(): Promise<void> }> = [];
  const node = async (dataDir: string) => startServer({ host: '127.0.0.1', port: 0, dataDir, database: url, logger: silentLogger(), validateResponses: true });

  beforeAll(async () => {
    cluster = await startPgCluster(postgres as Exclude<typeof postgres, { missing: string }>);
    url = await cluster.createDatabase();
    const dirA = await tempDir();
    a = await node(dirA);
    const dirB = await tempDir();
    for (const f of ['owner.token', 'key-encryption.secret']) copyFileSync(path.join(dirA, f), path.join(dirB, f));
    b = await node(dirB);
  }, 60_000);
  afterAll(async () => {
    for (const o of open) await o.close();
    await b?.stop();
    await a?.stop();
    await cluster?.stop();
  });

  const signingOn = async (server: RunningServer) => ((await apiOf(server)('GET', '/server-keys')).body.keys as Array<{ publicKey: string; state: string }>).find((k) => k.state === 'signing')!.publicKey;

  it('a rotation and a retirement through node A: node B signs hello and commands along the new chain', async () => {
    const k0 = a.serverPublicKey;
    expect(b.serverPublicKey).toBe(k0); // B found A's key in the database
    const device: EnrolledAgent = await enroll(b, await newEnrollmentToken(a));
    open.push(device);
    await device.next('desired');

    // Rotate through A: the device on B hears of K1 (signed by K0), and B announces K1 as active in its hello.
    const rotated = await apiOf(a)('POST', '/server-keys/rotate', {});
    expect(rotated.status).toBe(201);
    const k1 = rotated.body.key.publicKey as string;
    const announce = await device.next('key.rotate', 10_000);
    expect(announce.body).toMatchObject({ newKey: k1 });
    expect(checkCommand(announce, { trustedKeys: [k0], deviceId: device.deviceId, now: Date.now(), windowMs: 60_000, alreadySeen: () => false })).toEqual({ ok: true });
    const probe = await connectAgent(b.agentUrl);
    open.push(probe);
    expect((await probe.hello(generateKeyPair())).body.activeKeys).toEqual([k0, k1]);

    // Retire K0 through A: B signs with K1 from now on (the device dropped K0 on the announcement).
    expect((await apiOf(a)('POST', '/server-keys/retire', { key: k0 })).status).toBe(200);
    const retireNote = await device.next('key.rotate', 10_000);
    expect(retireNote.body).toMatchObject({ newKey: k1, retireKey: k0 });
    await until('node B signs with K1', async () => (await signingOn(b)) === k1);
    const issued = await apiOf(b)('POST', `/devices/${device.deviceId}/commands`, { type: 'status.request' });
    expect(issued.status).toBe(202);
    const command = await device.next('status.request', 10_000);
    expect(checkCommand(command, { trustedKeys: [k1], deviceId: device.deviceId, now: Date.now(), windowMs: 60_000, alreadySeen: () => false })).toEqual({ ok: true });

    // A device that slept through it, pinning K0, is shown the way by B: hello signed by K1 with the link K0 -> K1.
    const sleeper = await connectAgent(b.agentUrl);
    open.push(sleeper);
    const keys = generateKeyPair();
    const hello = await sleeper.hello(keys);
    expect(hello.body.serverKey).toBe(k1);
    expect(verifyBytes(k1, signedBytes(hello), hello.sig!)).toBe(true);
    expect(followKeyChain([k0], k1, hello.body.endorsements ?? [])).toMatchObject({ ok: true, added: [k1] });
  }, 60_000);

  it('a node joining without the secret, or with another one, does not start (SERVER_KEYS_UNREADABLE) and makes no key of its own', async () => {
    const bare = await tempDir();
    await expect(node(bare)).rejects.toMatchObject({ code: 'SERVER_KEYS_UNREADABLE' });
    expect(existsSync(path.join(bare, 'key-encryption.secret'))).toBe(false);
    const other = await tempDir();
    writeFileSync(path.join(other, 'key-encryption.secret'), `${Buffer.alloc(32, 9).toString('base64')}\n`);
    await expect(node(other)).rejects.toMatchObject({ code: 'SERVER_KEYS_UNREADABLE' });
    expect(((await apiOf(a)('GET', '/server-keys')).body.keys as unknown[]).length).toBe(2);
  });
});
