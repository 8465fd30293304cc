// The handshake against rogue endpoints (issue: the server proves itself; the device id never comes from an
// unsigned frame). The agent's real connection code talks over real sockets to: an impostor holding only the
// server's public key, a replayer of a real server.hello, a relay to the real server (over wss:// with a valid
// certificate for the name from the CA the device trusts, and over ws:// loopback), and a server holding the key
// whose welcome tries to re-target the device. Each test shows what left the device, what was applied, what is
// on disk and what `status` says.
import { mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { createConnection } from '../../src/agent/connection.js';
import { createIdentityStore, registerDevice } from '../../src/agent/identity.js';
import { createOutbox } from '../../src/agent/outbox.js';
import { createReplayGuard } from '../../src/agent/replay.js';
import { buildStatus } from '../../src/agent/status.js';
import type { AgentContext, Connection, ConnectionStatus } from '../../src/agent/contracts.js';
import { configSchema } from '../../src/config/schema.js';
import { AGENT_TO_SERVER, encodeFrame, makeFrame, parseFrame, type Frame } from '../../src/protocol/frames.js';
import { agentHello, channelOf, newNonce, serverHello, SUBPROTOCOL, welcomeFrame } from '../../src/protocol/handshake.js';
import { generateKeyPair, signFrame, type KeyPair } from '../../src/protocol/sign.js';
import { createCommandRunner } from '../../src/system/exec.js';
import { systemClock } from '../../src/system/clock.js';
import { silentLogger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { connectAgent, newEnrollmentToken, tempDir } from '../server/helpers.js';
import { writeJsonAtomic } from '../../src/system/files.js';
import { makeCerts, makeServerCert, type Certs, type ServerCert } from './tls-server.js';

const FACTS = { hostname: 'victim', platform: 'linux', arch: 'x64', osRelease: '6', agentVersion: '0.1.0', alias: null, teamviewer: null };
const TOKEN = 'victim-token-0123456789';

async function until<T>(what: string, check: () => T | undefined | null | false, ms = 8_000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 10))) {
    const v = check();
    if (v) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The victim: a registered device (enrolled or not) running the real connection with the given CA. */
async function victim(url: string, opts: { serverKey?: string; deviceId?: string; caFile?: string; stateDir?: string } = {}) {
  const stateDir = opts.stateDir ?? mkdtempSync(path.join(tmpdir(), 'rmagent-victim-'));
  if (!opts.stateDir) await registerDevice({ stateDir, machineId: 'm1', serverUrl: url, token: TOKEN, clock: systemClock, ...(opts.serverKey ? { serverKey: opts.serverKey } : {}) });
  const identity = createIdentityStore({ stateDir, machineId: 'm1', clock: systemClock, logger: silentLogger() });
  const config = configSchema().parse({ stateDir, logDir: stateDir, connection: { backoffBaseMs: 20, backoffMaxMs: 200, ...(opts.caFile ? { caFile: opts.caFile } : {}) } });
  const context: AgentContext = { config, logger: silentLogger(), runner: createCommandRunner(), clock: systemClock };
  const outbox = createOutbox({ dir: path.join(stateDir, 'outbox'), maxBytes: 1 << 20, clock: systemClock, logger: context.logger });
  const replay = createReplayGuard({ file: path.join(stateDir, 'replay.json'), windowMs: 300_000, clock: systemClock });
  await outbox.open();
  await replay.open();
  const applied: Frame[] = [];
  const statuses: ConnectionStatus[] = [];
  const connection: Connection = createConnection({ context, identity, outbox, replay, deviceFacts: async () => FACTS, onCommand: async (f) => { applied.push(f); return { status: 'done' }; } });
  connection.onStatus((s) => statuses.push(s));
  cleanups.push(() => connection.stop());
  const registration = () => JSON.parse(readFileSync(path.join(stateDir, 'registration.json'), 'utf8')) as { deviceId: string | null; serverKeys: string[]; enrollmentToken: string | null };
  /** What `status --json` would show now. */
  const status = async () => buildStatus({
    now: Date.now(), agent: { version: 't', commit: 't', runtime: 't', running: true, pid: 1, startedAt: 1, source: 'daemon' }, registration: await identity.load(),
    teamviewer: null, teamviewerRequired: false, connection: connection.status(), services: [], outbox: outbox.stats(), partProblems: identity.problems(),
  });
  const refusedWith = (code: string) => until(`refused with ${code}`, () => statuses.find((s) => s.phase === 'backoff' && s.lastError?.code === code));
  return { stateDir, identity, connection, applied, statuses, registration, status, refusedWith };
}

interface Rogue {
  url: string;
  /** Every text the victim sent. */
  heard: string[];
  close(): Promise<void>;
}

/**
 * A rogue endpoint (ws://127.0.0.1 or wss:// with `cert`): `onFrame` answers each frame of the victim; with
 * `relayTo`, frames are passed on to the real server and its frames back through `fromServer` (which may drop,
 * keep or replace them).
 */
async function rogue(opts: {
  cert?: ServerCert;
  onFrame?: (frame: Frame, send: (f: Frame | string) => void) => void;
  relayTo?: { url: string; ca?: Buffer };
  fromServer?: (text: string, send: (f: Frame | string) => void) => void;
}): Promise<Rogue> {
  const http = opts.cert ? https.createServer({ cert: readFileSync(opts.cert.certFile), key: readFileSync(opts.cert.keyFile) }) : null;
  const wss = http ? new WebSocketServer({ server: http, path: '/agent' }) : new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/agent' });
  const listening = http ? new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r())) : new Promise<void>((r) => wss.once('listening', () => r()));
  await listening;
  const port = ((http ?? wss).address() as AddressInfo).port;
  const heard: string[] = [];
  const upstreams: WebSocket[] = [];
  wss.on('connection', (ws) => {
    const send = (f: Frame | string) => ws.readyState === WebSocket.OPEN && ws.send(typeof f === 'string' ? f : JSON.stringify(f));
    let upstream: WebSocket | null = null;
    const queued: string[] = [];
    if (opts.relayTo) {
      upstream = new WebSocket(opts.relayTo.url, [SUBPROTOCOL], opts.relayTo.ca ? { ca: opts.relayTo.ca } : {});
      upstreams.push(upstream);
      upstream.on('open', () => { for (const t of queued.splice(0)) upstream!.send(t); });
      upstream.on('message', (raw) => (opts.fromServer ? opts.fromServer(raw.toString(), send) : send(raw.toString())));
      upstream.on('close', () => ws.close());
      upstream.on('error', () => ws.close());
    }
    ws.on('message', (raw) => {
      const text = raw.toString();
      heard.push(text);
      if (upstream) {
        if (upstream.readyState === WebSocket.OPEN) upstream.send(text);
        else queued.push(text);
      }
      const parsed = parseFrame(text, { accept: AGENT_TO_SERVER });
      if (parsed.ok) opts.onFrame?.(parsed.frame, send);
    });
    ws.on('close', () => upstream?.close());
  });
  return {
    url: `${opts.cert ? 'wss' : 'ws'}://127.0.0.1:${port}/agent`,
    heard,
    close: () => new Promise<void>((resolve) => {
      for (const u of upstreams) u.terminate();
      for (const c of wss.clients) c.terminate();
      wss.close(() => (http ? http.close(() => resolve()) : resolve()));
    }),
  };
}

const typesHeard = (r: Rogue) => [...new Set(r.heard.map((t) => (JSON.parse(t) as { type: string }).type))];

describe('a rogue endpoint that holds only the public server key', () => {
  const real = generateKeyPair();
  const attacker = generateKeyPair();

  it('gets only agent.hello from an enrolling device: no token, no proof; the device refuses it, applies nothing and shows SERVER_PROOF_INVALID', async () => {
    const r = await rogue({
      onFrame: (f, send) => {
        if (f.type !== 'agent.hello') return;
        // It can present the real key but can sign only with its own.
        const forged = serverHello({ hello: f.body, nonce: newNonce(), channel: { kind: 'none' }, serverKey: attacker, now: Date.now() });
        send({ ...forged, body: { ...forged.body, serverKey: real.publicKey } });
        send(makeFrame('welcome', { agentNonce: f.body.nonce, deviceId: 'dev-attacker', enrolled: true, heartbeatSec: 30, lastSeq: 0 }));
        send(signFrame(makeFrame('desired', { deviceId: 'dev-attacker', state: { revision: 9, services: {} } }), attacker.privateKeyPem));
      },
    });
    cleanups.push(r.close);
    const v = await victim(r.url, { serverKey: real.publicKey });
    v.connection.start();
    await v.refusedWith('SERVER_PROOF_INVALID');
    await new Promise((res) => setTimeout(res, 100));
    // Only hellos (the device may already have retried once, backoff has full jitter): never enroll nor auth.
    expect(typesHeard(r)).toContain('agent.hello');
    expect(typesHeard(r).filter((t) => t !== 'agent.hello')).toEqual([]);
    expect(r.heard.join('')).not.toContain(TOKEN);
    expect(v.applied).toEqual([]);
    expect(v.registration()).toMatchObject({ deviceId: null, serverKeys: [real.publicKey], enrollmentToken: TOKEN });
    const status = await v.status();
    expect(status.problems.map((p) => p.code)).toContain('SERVER_PROOF_INVALID');
    expect(status.health).toBe('unhealthy');
    expect(status.registration.deviceId).toBeNull();
  });

  it('cannot skip its proof: a welcome (enrolled: true, its own device id) before server.hello ends the session unanswered', async () => {
    const r = await rogue({
      onFrame: (f, send) => {
        if (f.type !== 'agent.hello') return;
        send(makeFrame('welcome', { agentNonce: f.body.nonce, deviceId: 'dev-attacker', enrolled: true, heartbeatSec: 30, lastSeq: 0 }));
        send(signFrame(makeFrame('service.uninstall', { deviceId: 'dev-attacker', service: 'monitoring' }), attacker.privateKeyPem));
      },
    });
    cleanups.push(r.close);
    const v = await victim(r.url, { serverKey: real.publicKey });
    v.connection.start();
    // Refused at its first frame: the device answers nothing (no error, no ack), so it parses no flood either.
    await v.refusedWith('SERVER_PROOF_INVALID');
    await new Promise((res) => setTimeout(res, 200));
    expect(typesHeard(r)).toContain('agent.hello');
    expect(typesHeard(r).filter((t) => t !== 'agent.hello')).toEqual([]);
    expect(r.heard.join('')).not.toContain(TOKEN);
    expect(v.applied).toEqual([]);
    expect(v.registration().deviceId).toBeNull();
    expect(v.connection.status().phase).not.toBe('connected');
  });
});

describe('against the real server', () => {
  let certs: Certs;
  let rogueCert: ServerCert;
  let tlsServer: RunningServer;
  let plainServer: RunningServer;

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-hs-certs-'));
    certs = makeCerts(dir);
    rogueCert = makeServerCert(dir, certs, 'rogue');
    tlsServer = await startServer({ host: '127.0.0.1', port: 0, dataDir: await tempDir(), logger: silentLogger(), tls: { certFile: certs.certFile, keyFile: certs.keyFile } });
    plainServer = await startServer({ host: '127.0.0.1', port: 0, dataDir: await tempDir(), logger: silentLogger() });
  }, 60_000);
  afterAll(async () => {
    await tlsServer?.stop();
    await plainServer?.stop();
  });

  const tlsToken = async () => (await apiOfTls(tlsServer, certs)('POST', '/enrollment-tokens', {})).body.token as string;

  it('a relay with a valid certificate for the name gets neither the token nor a proof: the real server\'s proof is bound to another TLS channel', async () => {
    const ca = readFileSync(certs.caFile);
    const r = await rogue({ cert: rogueCert, relayTo: { url: tlsServer.agentUrl, ca } });
    cleanups.push(r.close);
    // A device that enrolls (its token on disk): refuses the relayed proof.
    const enrolling = await victim(r.url, { serverKey: tlsServer.serverPublicKey, caFile: certs.caFile });
    enrolling.connection.start();
    const refused = await enrolling.refusedWith('SERVER_PROOF_INVALID');
    expect(refused.lastError?.message).toMatch(/another TLS channel/);
    // Only hellos (the device may already have retried once, backoff has full jitter): never enroll nor auth.
    expect(typesHeard(r)).toContain('agent.hello');
    expect(typesHeard(r).filter((t) => t !== 'agent.hello')).toEqual([]);
    expect(r.heard.join('')).not.toContain(TOKEN);
    expect(enrolling.registration()).toMatchObject({ deviceId: null, enrollmentToken: TOKEN });
    await enrolling.connection.stop();

    // A device enrolled straight with the real server (so the set-up works), then pointed at the relay.
    const direct = await victim(tlsServer.agentUrl, { caFile: certs.caFile });
    await registerDevice({ stateDir: direct.stateDir, machineId: 'm1', serverUrl: tlsServer.agentUrl, token: await tlsToken(), clock: systemClock, force: true, serverKey: tlsServer.serverPublicKey });
    direct.connection.start();
    await until('direct enrollment', () => direct.connection.status().phase === 'connected');
    const deviceId = direct.registration().deviceId;
    expect(deviceId).toMatch(/^dev-/);
    await direct.connection.stop();
    await pointTo(direct.stateDir, r.url);
    const heardBefore = r.heard.length;
    const enrolled = await victim(r.url, { stateDir: direct.stateDir, caFile: certs.caFile });
    enrolled.connection.start();
    await enrolled.refusedWith('SERVER_PROOF_INVALID');
    const heardAfter = r.heard.slice(heardBefore).map((t) => (JSON.parse(t) as { type: string }).type);
    expect(heardAfter).toContain('agent.hello');
    expect(heardAfter.filter((t) => t !== 'agent.hello')).toEqual([]);
    expect(enrolled.registration()).toMatchObject({ deviceId, serverKeys: [tlsServer.serverPublicKey] });
  });

  it.each(['replayed', 'unsigned', 'signed by another key'] as const)('over ws:// a relay passes the proof on, but cannot re-target the device with a %s welcome for its own device', async (variant) => {
    const attackerKey = generateKeyPair();
    // The attacker enrolls its own device on the real server and keeps that session's welcome.
    const attackerAgent = await connectAgent(plainServer.agentUrl);
    cleanups.push(() => attackerAgent.close());
    await attackerAgent.sendEnroll(await newEnrollmentToken(plainServer));
    const attackerWelcome = await attackerAgent.next('welcome');
    const attackerDesired = await attackerAgent.next('desired');
    expect(attackerWelcome.body.enrolled).toBe(true);

    // The victim is enrolled on the same server; the relay swaps the real welcome for the attacker's.
    const token = await newEnrollmentToken(plainServer);
    const v0 = await victim(plainServer.agentUrl, { serverKey: plainServer.serverPublicKey });
    await registerDevice({ stateDir: v0.stateDir, machineId: 'm1', serverUrl: plainServer.agentUrl, token, clock: systemClock, force: true, serverKey: plainServer.serverPublicKey });
    v0.connection.start();
    await until('victim enrolled', () => v0.connection.status().phase === 'connected');
    const victimId = v0.registration().deviceId!;
    await v0.connection.stop();

    // Knowing the victim's nonce (agent.hello is plain), it also tries a welcome of its own making with that nonce.
    let victimNonce = '';
    const r = await rogue({
      relayTo: { url: plainServer.agentUrl },
      onFrame: (f) => { if (f.type === 'agent.hello') victimNonce = f.body.nonce; },
      fromServer: (text, send) => {
        const type = (JSON.parse(text) as { type: string }).type;
        if (type === 'welcome') {
          send(variant === 'replayed' ? attackerWelcome : { ...makeFrame('welcome', { ...attackerWelcome.body, agentNonce: victimNonce }), ...(variant === 'signed by another key' ? { sig: signFrame(makeFrame('welcome', { ...attackerWelcome.body, agentNonce: victimNonce }), attackerKey.privateKeyPem).sig } : {}) });
          send(attackerDesired);
          send({ ...attackerWelcome, body: { ...attackerWelcome.body, enrolled: false } });
          return;
        }
        if (type !== 'desired') send(text);
      },
    });
    cleanups.push(r.close);
    // The registration names the rogue's address: what DNS or routing tampering amounts to.
    await pointTo(v0.stateDir, r.url);
    const v = await victim(r.url, { stateDir: v0.stateDir });
    v.connection.start();
    const refused = await v.refusedWith('SERVER_PROOF_INVALID');
    expect(refused.lastError?.message).toMatch(variant === 'replayed' ? /another session/ : /not signed by the server key/);
    await new Promise((res) => setTimeout(res, 100));
    expect(v.applied).toEqual([]);
    expect(v.registration()).toMatchObject({ deviceId: victimId, serverKeys: [plainServer.serverPublicKey] });
    expect((await v.status()).problems.map((p) => p.code)).toContain('SERVER_PROOF_INVALID');
  });

  it('a replayed server.hello of a real session is refused before anything is sent', async () => {
    const probe = await connectAgent(plainServer.agentUrl);
    const captured = await probe.hello();
    await probe.close();
    const r = await rogue({ onFrame: (f, send) => f.type === 'agent.hello' && send(captured) });
    cleanups.push(r.close);
    const v = await victim(r.url, { serverKey: plainServer.serverPublicKey });
    v.connection.start();
    const refused = await v.refusedWith('SERVER_PROOF_INVALID');
    expect(refused.lastError?.message).toMatch(/another session/);
    expect(typesHeard(r)).toEqual(['agent.hello']);
    expect(v.registration()).toMatchObject({ deviceId: null, enrollmentToken: TOKEN });
  });

  it('the server refuses an auth made for another TLS channel (a relayed device proof)', async () => {
    const token = await tlsToken();
    const ca = readFileSync(certs.caFile);
    const device = generateKeyPair();
    const first = await tlsAgent(tlsServer, ca);
    cleanups.push(() => first.close());
    await first.hello(device);
    first.ws.send(encodeFrame(signFrame(makeFrame('enroll', { token, publicKey: device.publicKey, serverNonce: first.serverNonce, channel: first.channel, facts: FACTS }), device.privateKeyPem)));
    const welcome = await first.next('welcome');
    const deviceId = welcome.body.deviceId;
    // A proof for connection A presented on connection B (the nonce of B, the channel of A).
    const b = await tlsAgent(tlsServer, ca);
    cleanups.push(() => b.close());
    await b.hello(device);
    b.ws.send(encodeFrame(signFrame(makeFrame('auth', { deviceId, serverNonce: b.serverNonce, channel: first.channel, facts: FACTS }), device.privateKeyPem)));
    expect((await b.next('error')).body).toMatchObject({ code: 'AUTH_FAILED', message: expect.stringContaining('another TLS channel') });
  });
});

describe('a server that holds the key but answers with another device', () => {
  const key = generateKeyPair();
  /** A peer with the real key whose welcome says `welcome(sent)`. */
  async function keyHolder(welcome: (sent: 'auth' | 'enroll') => { deviceId: string; enrolled: boolean }) {
    const state = { agentNonce: '' };
    return rogue({
      onFrame: (f, send) => {
        if (f.type === 'agent.hello') {
          state.agentNonce = f.body.nonce;
          send(serverHello({ hello: f.body, nonce: newNonce(), channel: { kind: 'none' }, serverKey: key, now: Date.now() }));
        }
        if (f.type === 'auth' || f.type === 'enroll') {
          const w = welcome(f.type);
          send(welcomeFrame({ agentNonce: state.agentNonce, ...w, heartbeatSec: 30, lastSeq: 0, serverKey: key, now: Date.now() }));
          send(signFrame(makeFrame('service.uninstall', { deviceId: w.deviceId, service: 'monitoring' }), key.privateKeyPem));
        }
      },
    });
  }
  async function enrolledVictim(url: string) {
    const v = await victim(url, { serverKey: key.publicKey });
    const identity = createIdentityStore({ stateDir: v.stateDir, machineId: 'm1', clock: systemClock, logger: silentLogger() });
    await identity.markEnrolled('dev-victim', key.publicKey);
    return v;
  }

  it('welcome.enrolled true after auth: refused as DEVICE_ID_MISMATCH, the stored id stays, nothing runs', async () => {
    const r = await keyHolder(() => ({ deviceId: 'dev-attacker', enrolled: true }));
    cleanups.push(r.close);
    const v = await enrolledVictim(r.url);
    v.connection.start();
    await v.refusedWith('DEVICE_ID_MISMATCH');
    await new Promise((res) => setTimeout(res, 100));
    expect(v.applied).toEqual([]);
    expect(v.registration().deviceId).toBe('dev-victim');
    expect((await v.status()).problems.map((p) => p.code)).toContain('DEVICE_ID_MISMATCH');
  });

  it('welcome.enrolled false with another id after auth: refused as DEVICE_ID_MISMATCH', async () => {
    const r = await keyHolder(() => ({ deviceId: 'dev-attacker', enrolled: false }));
    cleanups.push(r.close);
    const v = await enrolledVictim(r.url);
    v.connection.start();
    await v.refusedWith('DEVICE_ID_MISMATCH');
    expect(v.applied).toEqual([]);
    expect(v.registration().deviceId).toBe('dev-victim');
  });

  it('welcome.enrolled false after enroll: a failed enrollment (ENROLLMENT_FAILED), the token kept, no id stored, nothing runs', async () => {
    const r = await keyHolder(() => ({ deviceId: 'dev-existing', enrolled: false }));
    cleanups.push(r.close);
    const v = await victim(r.url, { serverKey: key.publicKey });
    v.connection.start();
    await v.refusedWith('ENROLLMENT_FAILED');
    await new Promise((res) => setTimeout(res, 100));
    expect(v.applied).toEqual([]);
    expect(v.registration()).toMatchObject({ deviceId: null, enrollmentToken: TOKEN });
    const status = await v.status();
    expect(status.problems.map((p) => p.code)).toContain('ENROLLMENT_FAILED');
    expect(status.health).toBe('unhealthy');
  });
});

describe('protocol versions', () => {
  it('the server tells an agent of protocol v1 (no subprotocol) to upgrade, in a v1 error frame it can show', async () => {
    const server = await startServer({ host: '127.0.0.1', port: 0, dataDir: await tempDir(), logger: silentLogger() });
    cleanups.push(() => server.stop());
    const ws = new WebSocket(server.agentUrl);
    const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
      ws.once('message', (raw) => resolve(JSON.parse(raw.toString()) as Record<string, unknown>));
      ws.once('error', reject);
    });
    const closed = await new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    // The v1 agent's parser: envelope v 1, type error, body {code, message, hint?, fatal, retryAfterMs <= 24 h}.
    expect(first).toMatchObject({ v: 1, type: 'error', body: { code: 'PROTOCOL_UNSUPPORTED', fatal: true, message: expect.stringContaining('upgrade the agent') } });
    expect((first.body as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(86_400_000);
    expect(closed).toBe(4002);
  });

  it('an agent refuses a server of protocol v1 (its hello) with PROTOCOL_UNSUPPORTED and sends it nothing else', async () => {
    const old = generateKeyPair();
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/agent' });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    const heard: string[] = [];
    wss.on('connection', (ws) => {
      ws.on('message', (raw) => heard.push(raw.toString()));
      ws.send(JSON.stringify({ v: 1, id: 'h-1', type: 'hello', ts: Date.now(), body: { nonce: newNonce(), serverTime: Date.now(), serverKey: old.publicKey, protocol: 1 } }));
    });
    cleanups.push(() => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => r()); }));
    const v = await victim(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/agent`, { serverKey: old.publicKey });
    v.connection.start();
    const refused = await v.refusedWith('PROTOCOL_UNSUPPORTED');
    expect(refused.lastError?.message).toMatch(/upgrade the server/);
    expect(heard.map((t) => (JSON.parse(t) as { type: string }).type).filter((t) => t !== 'agent.hello')).toEqual([]);
  });
});

// ---- helpers ---------------------------------------------------------------------------------------------

/** Rewrites the registered server URL (the device's name for the server now leads to `url`). */
async function pointTo(stateDir: string, url: string): Promise<void> {
  const file = path.join(stateDir, 'registration.json');
  await writeJsonAtomic(file, { ...(JSON.parse(readFileSync(file, 'utf8')) as object), serverUrl: url });
}

function apiOfTls(server: RunningServer, certs: Certs) {
  const ca = readFileSync(certs.caFile);
  return async (method: string, route: string, body?: unknown) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const req = https.request(`${server.httpUrl}/api/v1${route}`, { method, ca, headers: { authorization: `Bearer ${server.ownerToken}`, 'content-type': 'application/json' }, timeout: 10_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => { text += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
}

/** A hand-driven agent over wss:// that knows its own channel binding value. */
async function tlsAgent(server: RunningServer, ca: Buffer) {
  const ws = new WebSocket(server.agentUrl, [SUBPROTOCOL], { ca });
  const frames: Frame[] = [];
  let channel = { kind: 'none' } as ReturnType<typeof channelOf>;
  ws.on('upgrade', (res) => { channel = channelOf(res.socket); });
  ws.on('message', (raw) => {
    const p = parseFrame(raw.toString());
    if (p.ok) frames.push(p.frame);
  });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  const agent = {
    ws,
    serverNonce: '',
    get channel() { return channel; },
    async next<T extends Frame['type']>(type: T): Promise<Frame<T>> {
      const f = await until(`${type}`, () => frames.find((x) => x.type === type));
      frames.splice(frames.indexOf(f), 1);
      return f as Frame<T>;
    },
    async hello(keys: KeyPair) {
      ws.send(encodeFrame(agentHello(keys.publicKey, newNonce(), '0.1.0', Date.now())));
      const hello = await agent.next('server.hello');
      agent.serverNonce = hello.body.nonce;
      return hello;
    },
    close: async () => { ws.terminate(); },
  };
  return agent;
}

