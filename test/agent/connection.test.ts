// The connection over real sockets against a protocol peer written here with `ws` (the server side of
// protocol v2 built from src/protocol helpers): handshake, pinning, commands, reports, heartbeat, backoff.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, WebSocket } from 'ws';
import { createConnection } from '../../src/agent/connection.js';
import { createIdentityStore, registerDevice } from '../../src/agent/identity.js';
import { createOutbox } from '../../src/agent/outbox.js';
import { createReplayGuard } from '../../src/agent/replay.js';
import type { AgentContext, CommandHandler, Connection, ConnectionStatus } from '../../src/agent/contracts.js';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { AGENT_TO_SERVER, encodeFrame, makeFrame, parseFrame, type BodyOf, type CommandType, type Frame } from '../../src/protocol/frames.js';
import { generateKeyPair, signFrame } from '../../src/protocol/sign.js';
import { checkAgentProof, newNonce, serverHello, welcomeFrame } from '../../src/protocol/handshake.js';
import { createCommandRunner } from '../../src/system/exec.js';
import { systemClock, fixedClock, type Clock } from '../../src/system/clock.js';
import { silentLogger } from '../../src/log.js';

const FACTS = { hostname: 'pc', platform: 'linux', arch: 'x64', osRelease: '6', agentVersion: '0.1.0', alias: null, teamviewer: null };

/** Bounded wait for a condition (every 10 ms, at most `ms`). */
async function until<T>(what: string, check: () => T | undefined | null | false, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// ---- the protocol peer ----------------------------------------------------------------------------
interface PeerOptions {
  token?: string;
  heartbeatSec?: number;
  autoPong?: boolean;
}

async function startPeer(options: PeerOptions = {}) {
  const key = generateKeyPair();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/agent', autoPong: options.autoPong ?? true });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const peer = {
    key,
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/agent`,
    received: [] as Frame[],
    stored: [] as number[],
    lastSeq: 0,
    devices: new Map<string, string>(),
    /** 'store' = store and ack reports; 'lose' = receive but neither store nor ack (a crash before commit). */
    reports: 'store' as 'store' | 'lose',
    accepting: true,
    refuseAuth: null as null | BodyOf<'error'>,
    socket: null as WebSocket | null,
    connections: 0,
    closedAt: null as number | null,
    send(frame: Frame | string) {
      peer.socket?.send(typeof frame === 'string' ? frame : encodeFrame(frame));
    },
    command<T extends CommandType>(type: T, body: BodyOf<T>, opts: { ts?: number; signer?: string | null } = {}) {
      const frame = makeFrame(type, body, opts.ts ?? Date.now());
      const signed = opts.signer === null ? frame : signFrame(frame, opts.signer ?? key.privateKeyPem);
      peer.send(signed);
      return signed;
    },
    framesOf<T extends Frame['type']>(type: T) {
      return peer.received.filter((f): f is Extract<Frame, { type: T }> => f.type === type);
    },
    acksFor: (id: string) => peer.framesOf('ack').filter((a) => a.body.commandId === id).map((a) => a.body),
    close: () => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => r()); }),
  };
  wss.on('connection', (ws) => {
    if (!peer.accepting) return ws.terminate();
    peer.connections += 1;
    peer.socket = ws;
    const nonce = newNonce();
    let agentNonce = '';
    const welcome = (deviceId: string, enrolled: boolean) =>
      ws.send(encodeFrame(welcomeFrame({ agentNonce, deviceId, enrolled, heartbeatSec: options.heartbeatSec ?? 30, lastSeq: peer.lastSeq, serverKey: key, now: Date.now() })));
    ws.on('close', () => { peer.closedAt = Date.now(); });
    ws.on('message', (raw) => {
      const parsed = parseFrame(raw.toString(), { accept: AGENT_TO_SERVER });
      if (!parsed.ok) throw new Error(`the agent sent an invalid frame: ${parsed.message}`);
      const f = parsed.frame;
      peer.received.push(f);
      if (f.type === 'agent.hello') {
        agentNonce = f.body.nonce;
        ws.send(encodeFrame(serverHello({ hello: f.body, nonce, channel: { kind: 'none' }, serverKey: key, now: Date.now() })));
      } else if (f.type === 'enroll') {
        if (f.body.token !== (options.token ?? 'token-abcdefgh')) return ws.close(4001);
        const id = `dev-${peer.devices.size + 1}`;
        peer.devices.set(id, f.body.publicKey);
        welcome(id, true);
      } else if (f.type === 'auth') {
        const pub = peer.devices.get(f.body.deviceId);
        if (peer.refuseAuth || !pub || !checkAgentProof(f, { serverNonce: nonce, channel: { kind: 'none' }, publicKey: pub }).ok) {
          ws.send(encodeFrame(makeFrame('error', peer.refuseAuth ?? { code: 'AUTH_FAILED', message: 'bad proof', fatal: true })));
          return ws.close(4001);
        }
        welcome(f.body.deviceId, false);
      } else if (f.type === 'report' && peer.reports === 'store') {
        if (f.body.seq > peer.lastSeq) {
          peer.stored.push(f.body.seq);
          peer.lastSeq = f.body.seq;
        }
        ws.send(encodeFrame(makeFrame('report.ack', { upTo: peer.lastSeq })));
      }
    });
  });
  return peer;
}

// ---- the agent side ------------------------------------------------------------------------------
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function agentFor(url: string, opts: { serverKey?: string; connection?: ConfigInput['connection']; clock?: Clock; random?: () => number; onCommand?: CommandHandler; stateDir?: string; machineId?: string } = {}) {
  const stateDir = opts.stateDir ?? mkdtempSync(path.join(tmpdir(), 'rmagent-conn-'));
  const clock = opts.clock ?? systemClock;
  if (!opts.stateDir) await registerDevice({ stateDir, machineId: 'm1', serverUrl: url, token: 'token-abcdefgh', clock, ...(opts.serverKey ? { serverKey: opts.serverKey } : {}) });
  const config = configSchema().parse({ stateDir, logDir: stateDir, connection: { backoffBaseMs: 20, backoffMaxMs: 200, ...opts.connection } });
  const context: AgentContext = { config, logger: silentLogger(), runner: createCommandRunner(), clock };
  const identity = createIdentityStore({ stateDir, machineId: opts.machineId ?? 'm1', clock, logger: context.logger });
  const outbox = createOutbox({ dir: path.join(stateDir, 'outbox'), maxBytes: 1 << 20, clock, logger: context.logger });
  const replay = createReplayGuard({ file: path.join(stateDir, 'replay.json'), windowMs: config.connection.commandWindowSec * 1000, clock });
  await outbox.open();
  await replay.open();
  const commands: Frame[] = [];
  const onCommand: CommandHandler = opts.onCommand ?? (async (frame) => { commands.push(frame); return { status: 'done' }; });
  const connection: Connection = createConnection({ context, identity, outbox, replay, onCommand, deviceFacts: async () => FACTS, ...(opts.random ? { random: opts.random } : {}) });
  const statuses: ConnectionStatus[] = [];
  connection.onStatus((s) => statuses.push(s));
  cleanups.push(() => connection.stop());
  return { stateDir, identity, outbox, replay, connection, commands, statuses, connected: () => until('connected', () => connection.status().phase === 'connected') };
}

describe('connection', () => {
  it('enrolls with the token, pins the server key, drops the token from disk, and authenticates on reconnect', async () => {
    const peer = await startPeer();
    cleanups.push(peer.close);
    const agent = await agentFor(peer.url);
    agent.connection.start();
    await agent.connected();
    expect(peer.framesOf('enroll')).toHaveLength(1);
    const reg = await agent.identity.load();
    expect(reg).toMatchObject({ deviceId: 'dev-1', serverKeys: [peer.key.publicKey], enrollmentToken: null });
    expect(readFileSync(path.join(agent.stateDir, 'registration.json'), 'utf8')).not.toContain('token-abcdefgh');

    peer.socket!.close(1012, 'restart');
    await until('reconnected with auth', () => peer.framesOf('auth').length === 1 && agent.connection.status().phase === 'connected');
    expect(peer.framesOf('auth')[0]!.body.deviceId).toBe('dev-1');
    expect(peer.framesOf('enroll')).toHaveLength(1);
    expect(agent.statuses.map((s) => s.phase)).toEqual(expect.arrayContaining(['connecting', 'handshaking', 'connected', 'backoff']));
  });

  it('refuses a server whose key differs from the pinned one and sends it nothing but its hello', async () => {
    const peer = await startPeer();
    cleanups.push(peer.close);
    const agent = await agentFor(peer.url, { serverKey: generateKeyPair().publicKey });
    agent.connection.start();
    const s = await until('refused', () => agent.statuses.find((x) => x.phase === 'backoff'));
    expect(s.lastError?.code).toBe('SERVER_KEY_MISMATCH');
    await new Promise((r) => setTimeout(r, 100));
    expect(new Set(peer.received.map((f) => f.type))).toEqual(new Set(['agent.hello']));
  });

  it('checks every command: forged, unsigned, wrong device, expired and replayed ones are rejected with the reason', async () => {
    const peer = await startPeer();
    cleanups.push(peer.close);
    const agent = await agentFor(peer.url);
    agent.connection.start();
    await agent.connected();
    const body = { deviceId: 'dev-1' };
    const good = peer.command('status.request', body);
    await until('done', () => peer.acksFor(good.id).some((a) => a.status === 'done'));
    expect(peer.acksFor(good.id).map((a) => a.status)).toEqual(['accepted', 'done']);

    const cases = {
      COMMAND_FORGED: peer.command('status.request', body, { signer: generateKeyPair().privateKeyPem }),
      COMMAND_UNSIGNED: peer.command('status.request', body, { signer: null }),
      COMMAND_WRONG_DEVICE: peer.command('status.request', { deviceId: 'dev-99' }),
      COMMAND_EXPIRED: peer.command('status.request', body, { ts: Date.now() - 3_600_000 }),
    };
    peer.send(good); // the same signed frame again
    for (const [code, frame] of Object.entries(cases)) {
      const acks = await until(code, () => peer.acksFor(frame.id).length && peer.acksFor(frame.id));
      expect(acks).toEqual([{ commandId: frame.id, status: 'rejected', reason: expect.objectContaining({ code }) }]);
    }
    await until('replay rejected', () => peer.acksFor(good.id).some((a) => a.status === 'rejected' && a.reason?.code === 'COMMAND_REPLAYED'));
    expect(agent.commands.map((c) => c.id)).toEqual([good.id]);

    // after an agent restart (fresh replay guard on the same file) the old command is still refused
    await agent.connection.stop();
    const restarted = await agentFor(peer.url, { stateDir: agent.stateDir });
    restarted.connection.start();
    await until('reconnected', () => restarted.connection.status().phase === 'connected' && peer.framesOf('auth').length === 1);
    peer.send(good);
    await until('replay after restart rejected', () => peer.acksFor(good.id).filter((a) => a.reason?.code === 'COMMAND_REPLAYED').length === 2);
    expect(restarted.commands).toEqual([]);
  });

  it('runs commands one at a time in arrival order and reports a failure with its reason', async () => {
    const peer = await startPeer();
    cleanups.push(peer.close);
    const log: string[] = [];
    const agent = await agentFor(peer.url, {
      onCommand: async (frame) => {
        log.push(`start ${frame.id}`);
        await new Promise((r) => setTimeout(r, 30));
        log.push(`end ${frame.id}`);
        if (frame.type === 'backup.run') throw new Error('disk full');
        return { status: 'done' };
      },
    });
    agent.connection.start();
    await agent.connected();
    const a = peer.command('status.request', { deviceId: 'dev-1' });
    const b = peer.command('backup.run', { deviceId: 'dev-1' });
    await until('both handled', () => peer.acksFor(b.id).length === 2);
    expect(log).toEqual([`start ${a.id}`, `end ${a.id}`, `start ${b.id}`, `end ${b.id}`]);
    expect(peer.acksFor(b.id)[1]).toEqual({ commandId: b.id, status: 'failed', reason: { code: 'INTERNAL', message: 'disk full' } });
  });

  it('admits a burst while the first command still runs (one journal sync for many), applies it in order, and a key.rotate holds back later admissions', async () => {
    const peer = await startPeer();
    cleanups.push(peer.close);
    const next = generateKeyPair();
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const applied: string[] = [];
    const agent = await agentFor(peer.url, {
      onCommand: async (frame) => {
        if (applied.length === 0) await gate; // the first command runs until the test lets it finish
        applied.push(frame.id);
        if (frame.type === 'key.rotate') await agent.identity.setServerKeys([next.publicKey]); // retires the peer's key
        return { status: 'done' };
      },
    });
    agent.connection.start();
    await agent.connected();
    const burst = Array.from({ length: 5 }, () => peer.command('status.request', { deviceId: 'dev-1' }));
    peer.send(burst[1]!); // a duplicate inside the burst
    await until('the whole burst accepted', () => burst.every((f) => peer.acksFor(f.id).some((a) => a.status === 'accepted')));
    expect(applied).toEqual([]);
    await until('duplicate rejected', () => peer.acksFor(burst[1]!.id).some((a) => a.reason?.code === 'COMMAND_REPLAYED'));

    const rotate = peer.command('key.rotate', { deviceId: 'dev-1', newKey: next.publicKey });
    const oldKey = peer.command('status.request', { deviceId: 'dev-1' });
    const newKey = peer.command('status.request', { deviceId: 'dev-1' }, { signer: next.privateKeyPem });
    release();
    await until('all answered', () => [...burst, rotate, oldKey, newKey].every((f) => peer.acksFor(f.id).some((a) => a.status !== 'accepted')));
    expect(applied).toEqual([...burst.map((f) => f.id), rotate.id, newKey.id]);
    expect(peer.acksFor(oldKey.id)).toEqual([{ commandId: oldKey.id, status: 'rejected', reason: expect.objectContaining({ code: 'COMMAND_FORGED' }) }]);
    for (const f of [...burst, rotate, newKey]) expect(peer.acksFor(f.id).map((a) => a.status).filter((x) => x !== 'rejected')).toEqual(['accepted', 'done']);
  });

  it('answers a bad frame with an error frame and keeps the connection', async () => {
    const peer = await startPeer();
    cleanups.push(peer.close);
    const agent = await agentFor(peer.url);
    agent.connection.start();
    await agent.connected();
    peer.send('{not json');
    peer.send(JSON.stringify({ v: 2, id: 'x-1', type: 'launch.missiles', ts: Date.now(), body: {} }));
    await until('two error frames', () => peer.framesOf('error').length === 2);
    expect(peer.framesOf('error').map((e) => [e.body.code, e.body.ref])).toEqual([['FRAME_INVALID', undefined], ['FRAME_UNKNOWN_TYPE', 'x-1']]);
    const cmd = peer.command('status.request', { deviceId: 'dev-1' });
    await until('command still handled', () => peer.acksFor(cmd.id).some((x) => x.status === 'done'));
    expect(peer.connections).toBe(1);
    expect(agent.connection.status().phase).toBe('connected');
  });

  it('delivers outbox reports in order across a disconnect and an agent restart: nothing lost, nothing duplicated', async () => {
    const peer = await startPeer();
    cleanups.push(peer.close);
    const agent = await agentFor(peer.url);
    for (let i = 1; i <= 3; i++) await agent.outbox.append('status', { i });
    agent.connection.start();
    await until('first three stored', () => peer.stored.length === 3);
    await until('acknowledged', () => agent.outbox.stats().pending === 0);

    peer.reports = 'lose'; // the server receives 4 and 5 but crashes before storing them
    await agent.outbox.append('service', { i: 4 });
    await agent.outbox.append('status', { i: 5 });
    await until('4 and 5 sent', () => peer.framesOf('report').length === 5);
    peer.accepting = false;
    peer.socket!.terminate();
    await until('offline', () => agent.connection.status().phase === 'backoff');
    await agent.outbox.append('alert.raised', { key: 'cpu', service: 'monitoring', check: 'cpu', severity: 'warning', message: 'hot' });
    await agent.outbox.append('status', { i: 7 });
    await agent.connection.stop();

    peer.reports = 'store';
    peer.accepting = true;
    const restarted = await agentFor(peer.url, { stateDir: agent.stateDir }); // fresh outbox on the same folder
    expect(restarted.outbox.stats().pending).toBe(4);
    restarted.connection.start();
    await until('all stored', () => peer.stored.length === 7 && restarted.outbox.stats().pending === 0);
    expect(peer.stored).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const sent = peer.framesOf('report').map((r) => r.body.seq);
    expect(sent.filter((s) => s <= 3)).toEqual([1, 2, 3]); // acknowledged reports are never sent again
    expect(await restarted.outbox.append('status', {})).toBe(8);
  });

  it('delivers a backlog larger than one batch completely and in order', async () => {
    const peer = await startPeer();
    cleanups.push(peer.close);
    const agent = await agentFor(peer.url);
    await Promise.all(Array.from({ length: 250 }, (_, i) => agent.outbox.append('status', { i })));
    agent.connection.start();
    await until('all stored', () => peer.stored.length === 250 && agent.outbox.stats().pending === 0, 15_000);
    expect(peer.stored).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    expect(peer.framesOf('report')).toHaveLength(250);
  });

  it('detects a half-open peer (no pong) within two heartbeats and reconnects', async () => {
    const peer = await startPeer({ autoPong: false, heartbeatSec: 1 });
    cleanups.push(peer.close);
    const agent = await agentFor(peer.url);
    agent.connection.start();
    await agent.connected();
    const connectedAt = Date.now();
    await until('dropped', () => peer.closedAt, 5_000);
    const tookMs = peer.closedAt! - connectedAt;
    expect(tookMs).toBeGreaterThanOrEqual(1_900);
    expect(tookMs).toBeLessThan(2_600);
    expect(agent.statuses.find((s) => s.lastError?.message.includes('half-open'))).toBeDefined();
    await until('reconnected', () => peer.connections === 2);
  });

  it('backs off with growing, jittered delays while the server is down', async () => {
    const peer = await startPeer();
    const url = peer.url;
    await peer.close(); // nothing listens on this port now
    const clock = fixedClock(1_000_000);
    const draws = [0.999, 0.999, 0.999, 0.999, 0.5, 0.25, 0.999];
    const agent = await agentFor(url, { clock, random: () => draws.shift() ?? 0.999, connection: { backoffBaseMs: 10, backoffMaxMs: 100 } });
    agent.connection.start();
    await until('seven retries', () => agent.connection.status().attempts >= 7, 10_000);
    const delays = agent.statuses.filter((s) => s.phase === 'backoff').map((s) => s.nextRetryAt! - clock.now());
    expect(delays.slice(0, 7)).toEqual([10, 20, 40, 80, 50, 25, 100]);
    expect(agent.connection.status().lastError?.code).toBe('SERVER_UNREACHABLE');
    await agent.connection.stop();
    expect(agent.connection.status().phase).toBe('stopped');
  });

  it('an AUTH_FAILED refusal waits longer and honours retryAfterMs', async () => {
    const peer = await startPeer();
    cleanups.push(peer.close);
    const clock = fixedClock(5_000_000);
    const agent = await agentFor(peer.url, { clock, random: () => 0, connection: { backoffBaseMs: 10, backoffMaxMs: 100_000 } });
    agent.connection.start();
    await agent.connected();
    peer.refuseAuth = { code: 'AUTH_FAILED', message: 'device deleted', fatal: true, retryAfterMs: 3_000 };
    peer.socket!.close();
    const s = await until('refused', () => agent.statuses.find((x) => x.phase === 'backoff' && x.lastError?.code === 'AUTH_FAILED'));
    expect(s.nextRetryAt! - clock.now()).toBe(3_000);
  });

  it('a refusal asking to wait a day is honoured only up to backoffMaxMs (error frames are not signed)', async () => {
    const peer = await startPeer();
    cleanups.push(peer.close);
    const clock = fixedClock(5_000_000);
    const agent = await agentFor(peer.url, { clock, random: () => 0, connection: { backoffBaseMs: 10, backoffMaxMs: 60_000 } });
    agent.connection.start();
    await agent.connected();
    peer.refuseAuth = { code: 'AUTH_FAILED', message: 'come back tomorrow', fatal: true, retryAfterMs: 86_400_000 };
    peer.socket!.close();
    const s = await until('refused', () => agent.statuses.find((x) => x.phase === 'backoff' && x.lastError?.code === 'AUTH_FAILED'));
    expect(s.nextRetryAt! - clock.now()).toBe(60_000);
  });

  it('refuses ws:// to a non-loopback server and, without a token, stays in backoff saying why', async () => {
    const insecure = await agentFor('ws://10.20.30.40:9/agent');
    insecure.connection.start();
    const s = await until('insecure refused', () => insecure.statuses.find((x) => x.phase === 'backoff'));
    expect(s.lastError?.code).toBe('INSECURE_TRANSPORT');
    expect(insecure.statuses.some((x) => x.phase === 'handshaking')).toBe(false);

    const peer = await startPeer();
    cleanups.push(peer.close);
    const original = await agentFor(peer.url);
    await original.identity.markEnrolled('dev-7', peer.key.publicKey); // enrolled: token dropped
    const clone = await agentFor(peer.url, { stateDir: original.stateDir, machineId: 'm2' }); // the disk was cloned
    clone.connection.start();
    const c = await until('no token', () => clone.statuses.find((x) => x.phase === 'backoff'));
    expect(c.lastError?.code).toBe('ENROLLMENT_TOKEN_MISSING');
    expect(peer.received).toEqual([]);
  });

  it('stop() closes the socket promptly and no reconnect follows', async () => {
    const peer = await startPeer();
    cleanups.push(peer.close);
    const agent = await agentFor(peer.url);
    agent.connection.start();
    await agent.connected();
    const t0 = Date.now();
    await agent.connection.stop();
    expect(Date.now() - t0).toBeLessThan(1_000);
    await until('peer saw the close', () => peer.closedAt);
    await new Promise((r) => setTimeout(r, 150));
    expect(peer.connections).toBe(1);
    expect(agent.connection.status().phase).toBe('stopped');
  });
});

