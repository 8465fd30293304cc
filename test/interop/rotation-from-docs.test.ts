// Server key rotation and server time, implemented from docs/protocol.md alone ("Server key rotation", "Commands",
// "Clock", "Reports") and driven against the real built agent (`rmagent enroll`, `rmagent run`, `rmagent status
// --json` as child processes) through the independent server of this folder. Every key.rotate body and endorsement
// here is built as the docs describe it: links {key, signedBy, sig}, oldest first, each sig an Ed25519 signature by
// signedBy over the UTF-8 bytes of `rmagent-key-endorse-v1:<signedBy>:<key>`.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IndependentServer, signFrame, signerFromSeed, verifySig, type AckBody, type Frame, type Signer } from './independent-server.js';

const ROOT = join(import.meta.dirname, '..', '..');
const RMAGENT = join(ROOT, 'build', 'src', 'cli', 'rmagent.js');
const TOKEN = 'rotation-docs-token-0123456789';
const HOUR = 3_600_000;

const key = (n: number): Signer => signerFromSeed(Buffer.alloc(32, 0x30 + n));

/** protocol.md "Signatures": a key endorsement, the link by which `by` vouches for `next`. */
function endorse(by: Signer, next: Signer): { key: string; signedBy: string; sig: string } {
  const sig = by.sign(Buffer.from(`rmagent-key-endorse-v1:${by.publicKey}:${next.publicKey}`, 'utf8'));
  return { key: next.publicKey, signedBy: by.publicKey, sig };
}

/** protocol.md "Signatures": `SHA256:` + the first 16 characters of base64(SHA-256(raw key bytes)). */
const fp = (k: Signer): string => `SHA256:${createHash('sha256').update(Buffer.from(k.publicKey, 'base64')).digest('base64').slice(0, 16)}`;

interface Status {
  registration: { deviceId?: string | null; serverKeys?: string[] };
  connection: { state: string; clockSkewMs?: number | null; lastError?: { code?: string } | null };
}

describe('key rotation and server time, from the docs, against the real agent', () => {
  let dir: string;
  let server: IndependentServer;
  let agent: ChildProcess | null = null;
  let agentOut = '';
  let common: string[];
  let env: NodeJS.ProcessEnv;
  let deviceId: string;
  /** Added to server.hello.serverTime (the server's clock ahead of the device's), re-signed. */
  let serverClockAheadMs = 0;

  const K1 = key(1);
  const K2 = key(2);
  const K3 = key(3);
  const K4 = key(4);
  const thief = key(9); // a key of the holder of a retired/older pin

  const rmagent = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [RMAGENT, ...args, ...common], { env, timeout: 20_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
    });
  const status = async (): Promise<Status> => JSON.parse((await rmagent(['status', '--json'])).stdout) as Status;
  async function statusUntil(what: string, pred: (s: Status) => boolean, timeoutMs = 25_000): Promise<Status> {
    const end = Date.now() + timeoutMs;
    let last: Status | null = null;
    while (Date.now() < end) {
      last = await status();
      if (pred(last)) return last;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`status never showed ${what}: ${JSON.stringify(last)}\nagent output:\n${agentOut.slice(-3000)}`);
  }
  const pins = async (): Promise<string[] | undefined> => (await status()).registration.serverKeys;

  /** Sends a command signed by `by`; resolves with its final ack (anything but `accepted`) and whether `accepted` came first. */
  async function command(type: string, body: Record<string, unknown>, by: Signer, ts?: number): Promise<{ id: string; final: AckBody; accepted: boolean }> {
    const id = server.sendCommand(deviceId, type, body, { signer: by, ...(ts === undefined ? {} : { ts }) });
    expect(id, 'device online').not.toBeNull();
    const dev = server.devices.get(deviceId)!;
    const seen = await server.waitFor(`final ack of ${type} ${id}`, () => {
      const err = server.received('error').find((f) => f.body.ref === id);
      if (err) return { err, ack: undefined };
      const ack = dev.acks.find((a) => a.commandId === id && a.status !== 'accepted');
      return ack ? { err: undefined, ack } : undefined;
    });
    if (!seen.ack) throw new Error(`${type} refused as a frame: ${JSON.stringify(seen.err?.body)}`);
    const final = seen.ack;
    return { id: id!, final, accepted: dev.acks.some((a) => a.commandId === id && a.status === 'accepted') };
  }

  /** Drops the connection and waits for the agent's next welcome; returns the frames it sent on the new connection. */
  async function reconnect(): Promise<{ conn: number; hello: Frame; auth: Frame; welcome: Frame }> {
    const first = server.lastConn + 1;
    server.kick(deviceId);
    const welcome = await server.waitFor('a new welcome', () => server.log.find((l) => l.dir === 'out' && l.conn >= first && l.frame.type === 'welcome'));
    const on = server.receivedOn(welcome.conn);
    await statusUntil('connected again', (s) => s.connection.state === 'connected');
    return { conn: welcome.conn, hello: on.find((f) => f.type === 'agent.hello')!, auth: on.find((f) => f.type === 'auth')!, welcome: welcome.frame };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rmagent-rotation-docs-'));
    const tvRoot = join(dir, 'tvroot');
    mkdirSync(tvRoot);
    server = new IndependentServer({ seed: Buffer.alloc(32, 0x31), tokens: [TOKEN], heartbeatSec: 5 });
    expect(server.signer.publicKey).toBe(K1.publicKey);
    // protocol.md "Clock": serverTime is signed in server.hello; a server whose clock runs ahead signs its own time.
    const internals = server as unknown as { send(conn: unknown, frame: Frame): void };
    const send = internals.send.bind(server);
    internals.send = (conn, frame) => {
      if (frame.type === 'server.hello' && serverClockAheadMs !== 0) {
        const { sig: _old, ...unsigned } = frame;
        const body = { ...unsigned.body, serverTime: (unsigned.body.serverTime as number) + serverClockAheadMs };
        frame = signFrame(server.signer, { ...unsigned, ts: unsigned.ts + serverClockAheadMs, body });
      }
      send(conn, frame);
    };
    const url = await server.listen();
    common = ['--state-dir', join(dir, 'state'), '--log-dir', join(dir, 'logs'), '--teamviewer-root', tvRoot];
    env = {
      PATH: process.env.PATH, HOME: dir, RMAGENT_MACHINE_ID: 'rotation-docs-machine-01', RMAGENT_TEAMVIEWER_REQUIRED: 'false',
      RMAGENT_TEAMVIEWER_PLATFORM: 'linux', RMAGENT_BACKOFF_BASE_MS: '100', RMAGENT_BACKOFF_MAX_MS: '1000',
    };
    writeFileSync(join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    const enrolled = await rmagent(['enroll', '--server', url, '--token-file', join(dir, 'token'), '--server-key', K1.publicKey]);
    expect(enrolled.code, enrolled.stderr + enrolled.stdout).toBe(0);
    agent = spawn(process.execPath, [RMAGENT, 'run', ...common], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    agent.stdout!.on('data', (d: Buffer) => { agentOut += d.toString(); });
    agent.stderr!.on('data', (d: Buffer) => { agentOut += d.toString(); });
    const dev = await server.waitFor('the device enrolled', () => [...server.devices.values()][0]);
    deviceId = dev.id;
    await statusUntil('connected', (s) => s.connection.state === 'connected' && s.registration.deviceId === deviceId);
  });

  afterAll(async () => {
    const child = agent;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('builds endorsements exactly as the protocol.md test vector does', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'protocol.md'), 'utf8');
    const seed = (name: string): Buffer => Buffer.from(new RegExp(`^\\| ${name} \\| \`([0-9a-f]{64})\``, 'm').exec(doc)![1]!, 'hex');
    const vector = /```\n(rmagent-key-endorse-v1:[^\n]+)\n```\n\nsig: `([^`]+)`/.exec(doc)!;
    const link = endorse(signerFromSeed(seed('server')), signerFromSeed(seed('nextServer')));
    expect(`rmagent-key-endorse-v1:${link.signedBy}:${link.key}`).toBe(vector[1]);
    expect(link.sig).toBe(vector[2]);
    expect(verifySig(link.signedBy, Buffer.from(vector[1]!, 'utf8'), link.sig)).toBe(true);
  });

  it('judges command age by server time (serverTime + monotonic time since the handshake), not by the device clock', async () => {
    // Same clocks: a command dated more than commandWindowSec (default 300 s) before or after server time is expired.
    const old = await command('status.request', {}, K1, Date.now() - 301_000);
    expect(old.final).toMatchObject({ status: 'rejected', reason: { code: 'COMMAND_EXPIRED' } });
    expect(old.final.reason!.message).toMatch(/issued \d+ s ago/);
    expect(old.accepted).toBe(false);
    const future = await command('status.request', {}, K1, Date.now() + 301_000);
    expect(future.final).toMatchObject({ status: 'rejected', reason: { code: 'COMMAND_EXPIRED' } });
    expect(future.final.reason!.message).toMatch(/dated \d+ s in the future/);
    expect((await command('status.request', {}, K1)).final.status).toBe('done');

    // The server's clock one hour ahead of the device's: fresh by the device clock is an hour old by server time.
    serverClockAheadMs = HOUR;
    try {
      await reconnect();
      const skew = (await status()).connection.clockSkewMs!;
      expect(Math.abs(skew - HOUR)).toBeLessThan(60_000); // server time minus the device clock
      const deviceFresh = await command('status.request', {}, K1, Date.now());
      expect(deviceFresh.final).toMatchObject({ status: 'rejected', reason: { code: 'COMMAND_EXPIRED' } });
      expect(deviceFresh.final.reason!.message).toMatch(/issued \d+ s ago/);
      const serverFresh = await command('status.request', {}, K1, Date.now() + HOUR);
      expect(serverFresh.final.status).toBe('done');
      // Older than the window by server time, although in the device's future.
      const stale = await command('status.request', {}, K1, Date.now() + HOUR - 400_000);
      expect(stale.final).toMatchObject({ status: 'rejected', reason: { code: 'COMMAND_EXPIRED' } });
    } finally {
      serverClockAheadMs = 0;
    }
    await reconnect();
    expect((await command('status.request', {}, K1)).final.status).toBe('done');
  });

  it('rotates K1 -> K2: key.rotate {newKey, endorsements} signed by K1 pins both, the retire leaves K2 alone', async () => {
    expect(await pins()).toEqual([fp(K1)]);
    // Announcement: links from the signing key (K1) up to newKey.
    const announce = await command('key.rotate', { newKey: K2.publicKey, endorsements: [endorse(K1, K2)] }, K1);
    expect(announce).toMatchObject({ accepted: true, final: { status: 'done' } });
    expect(announce.final.reason).toBeUndefined();
    expect(await pins()).toEqual([fp(K1), fp(K2)]);
    // Overlap: both keys verify commands.
    expect((await command('status.request', {}, K2)).final.status).toBe('done');
    expect((await command('status.request', {}, K1)).final.status).toBe('done');

    // Retire, signed by the key it retires (the server signs with the oldest active key until then).
    const retire = await command('key.rotate', { newKey: K2.publicKey, retireKey: K1.publicKey, endorsements: [endorse(K1, K2)] }, K1);
    expect(retire).toMatchObject({ accepted: true, final: { status: 'done' } });
    expect(await pins()).toEqual([fp(K2)]);
    server.signer = K2;
    const byRetired = await command('status.request', {}, K1);
    expect(byRetired.final).toMatchObject({ status: 'rejected', reason: { code: 'COMMAND_FORGED' } });
    expect((await command('status.request', {}, K2)).final.status).toBe('done');

    // What the device pins, on the wire: agent.hello.pinnedKeys and auth facts.serverKeys name K2 only.
    const again = await reconnect();
    expect(again.hello.body.pinnedKeys).toEqual([K2.publicKey]);
    expect((again.auth.body.facts as { serverKeys?: string[] }).serverKeys).toEqual([K2.publicKey]);
  });

  it('a device that missed the announcement of K3 learns it from the endorsements of the next key.rotate (K4)', async () => {
    // K3 was announced while the device was away (its key.rotate never arrived); K4 is announced now, signed by
    // the signing key K2 with the links from K2 up to K4, oldest first.
    const next = await command('key.rotate', { newKey: K4.publicKey, endorsements: [endorse(K2, K3), endorse(K3, K4)] }, K2);
    expect(next).toMatchObject({ accepted: true, final: { status: 'done' } });
    expect(next.final.reason).toBeUndefined();
    expect(await pins()).toEqual([fp(K2), fp(K3), fp(K4)]);
    // The lost announcement of K3 arrives late: newKey already pinned, nothing to add.
    const late = await command('key.rotate', { newKey: K3.publicKey, endorsements: [endorse(K2, K3)] }, K2);
    expect(late.final.status).toBe('done');
    expect(await pins()).toEqual([fp(K2), fp(K3), fp(K4)]);
    for (const k of [K2, K3, K4]) expect((await command('status.request', {}, k)).final.status).toBe('done');
  });

  it('a key.rotate signed by an older pin (K2, not the newest) cannot fork, reorder or drop newer keys', async () => {
    const before = [fp(K2), fp(K3), fp(K4)];
    const refused = async (body: Record<string, unknown>, by: Signer, code: string): Promise<void> => {
      const r = await command('key.rotate', body, by);
      // protocol.md "Commands": it passed checks 1-5, so it is acked accepted, then its outcome.
      expect(r.accepted).toBe(true);
      expect(r.final.status, JSON.stringify(r.final)).toBe('rejected');
      expect(r.final.reason?.code).toBe(code);
      expect(await pins()).toEqual(before);
    };
    // Its own key, endorsed from K2: the chain reaches a pin other than the newest (a fork).
    await refused({ newKey: thief.publicKey, endorsements: [endorse(K2, thief)] }, K2, 'KEY_ROTATION_INVALID');
    // K2 back on top, retiring the newest.
    await refused({ newKey: K2.publicKey, retireKey: K4.publicKey }, K2, 'KEY_ROTATION_INVALID');
    // A retire of K3 (newer than the signer K2) in favour of K4.
    await refused({ newKey: K4.publicKey, retireKey: K3.publicKey }, K2, 'KEY_ROTATION_INVALID');
    // newKey = retireKey.
    await refused({ newKey: K2.publicKey, retireKey: K2.publicKey }, K4, 'KEY_ROTATION_INVALID');
    // Its own key without endorsements: connected to no pin, an outdated rotation: done, nothing changes.
    const stale = await command('key.rotate', { newKey: thief.publicKey, retireKey: K4.publicKey }, K2);
    expect(stale.final).toMatchObject({ status: 'done', reason: { code: 'KEY_ROTATION_STALE' } });
    expect(await pins()).toEqual(before);

    // What K2 may do: retire itself in favour of a newer key.
    const retire = await command('key.rotate', { newKey: K3.publicKey, retireKey: K2.publicKey }, K2);
    expect(retire.final.status).toBe('done');
    expect(await pins()).toEqual([fp(K3), fp(K4)]);
    server.signer = K3;
    expect((await command('status.request', {}, K2)).final).toMatchObject({ status: 'rejected', reason: { code: 'COMMAND_FORGED' } });
    // A newer pin may retire an older one: K4 retires K3.
    const byNewest = await command('key.rotate', { newKey: K4.publicKey, retireKey: K3.publicKey }, K4);
    expect(byNewest.final.status).toBe('done');
    expect(await pins()).toEqual([fp(K4)]);
    server.signer = K4;
    const again = await reconnect();
    expect(again.hello.body.pinnedKeys).toEqual([K4.publicKey]);
  });

  it('welcome.lastSeq above the device numbering: above 2^50 refused (REPORT_ACK_INVALID, numbering kept), up to 2^50 a restored device (numbering moves past it)', async () => {
    const dev = server.devices.get(deviceId)!;
    await server.waitFor('some report stored', () => dev.lastSeq > 0 || undefined);
    const highestSent = (): number => Math.max(...server.received('report').map((f) => f.body.seq as number));
    const firstReportOn = async (conn: number): Promise<number> => {
      expect((await command('status.request', {}, K4)).final.status).toBe('done'); // makes a status report
      const r = await server.waitFor(`a report on #${conn}`, () => server.receivedOn(conn).find((f) => f.type === 'report'));
      return r.body.seq as number;
    };

    // Above both 2^50 and the device's numbering: a protocol error, answered with ref = the welcome's id.
    dev.lastSeq = 2 ** 50 + 1;
    const bad = await reconnect();
    expect(bad.welcome.body.lastSeq).toBe(2 ** 50 + 1);
    const err = await server.waitFor('REPORT_ACK_INVALID', () => server.receivedOn(bad.conn).find((f) => f.type === 'error' && f.body.ref === bad.welcome.id));
    expect(err.body.code).toBe('REPORT_ACK_INVALID');
    // Its numbering is kept: with the server's true lastSeq back, the next reports continue the device's own line.
    dev.lastSeq = highestSent();
    const kept = await reconnect();
    const keptSeq = await firstReportOn(kept.conn);
    expect(keptSeq).toBeGreaterThan(0);
    expect(keptSeq).toBeLessThan(1_000_000);

    // Exactly 2^50 ("only up to 2^50"): a restored device; no error, the next report is numbered lastSeq + 1.
    dev.lastSeq = 2 ** 50;
    const restored = await reconnect();
    expect(await firstReportOn(restored.conn)).toBe(2 ** 50 + 1);
    expect(server.receivedOn(restored.conn).filter((f) => f.type === 'error')).toEqual([]);
    expect(dev.lastSeq).toBeGreaterThan(2 ** 50);
  });
});
