// Test helpers: a server in a temp folder, an API caller, and a plain `ws` agent that speaks protocol v2.
import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterEach } from 'vitest';
import WebSocket from 'ws';
import { encodeFrame, makeFrame, parseFrame, SERVER_TO_AGENT, type Frame, type FrameType, type BodyOf } from '../../src/protocol/frames.js';
import { generateKeyPair, type KeyPair } from '../../src/protocol/sign.js';
import { agentHello, authFrame, enrollFrame, newNonce, SUBPROTOCOL } from '../../src/protocol/handshake.js';
import type { DeviceFacts } from '../../src/protocol/model.js';
import { silentLogger } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/server/server.js';

export async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'rmagent-server-'));
}

export async function serverIn(dataDir: string, heartbeatSec = 30): Promise<RunningServer> {
  const database = await testDatabaseFor(dataDir);
  return startServer({ host: '127.0.0.1', port: 0, dataDir, ...(database ? { database } : {}), logger: silentLogger(), heartbeatSec, validateResponses: true });
}

/**
 * Under `npm run test:postgres` (test/setup/postgres.ts started a cluster): the PostgreSQL database of this data
 * folder, created on first use, so a server restarted on the same folder finds its records again. Otherwise null.
 */
export async function testDatabaseFor(dataDir: string): Promise<string | null> {
  const port = process.env.RMAGENT_TEST_PG_PORT;
  if (!port) return null;
  const name = `t_${createHash('sha256').update(dataDir).digest('hex').slice(0, 24)}`;
  const admin = new pg.Client({ connectionString: `postgres://rmagent@127.0.0.1:${port}/postgres` });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!exists.rowCount) await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return `postgres://rmagent@127.0.0.1:${port}/${name}`;
}

export interface ApiResult<T = any> { status: number; body: T } // eslint-disable-line @typescript-eslint/no-explicit-any

export function apiOf(server: RunningServer, token = server.ownerToken) {
  return async (method: string, route: string, body?: unknown, asToken = token): Promise<ApiResult> => {
    const res = await fetch(`${server.httpUrl}/api/v1${route}`, {
      method,
      headers: { authorization: `Bearer ${asToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: await res.json() };
  };
}

export function sampleFacts(hostname = 'pc-01'): DeviceFacts {
  return {
    hostname,
    platform: 'linux',
    arch: 'x64',
    osRelease: '6.8',
    agentVersion: '0.1.0',
    alias: `${hostname} alias`,
    teamviewer: { installed: true, edition: 'host', version: '15.60.3', teamviewerId: '123456789', serviceRunning: true, managed: null, sources: ['global.conf'], warnings: [], detectedAt: 1 },
  };
}

/** One agent connection: every server frame is parsed and queued; next() waits for one (bounded). */
export interface TestAgent {
  ws: WebSocket;
  frames: Frame[];
  /** Frames from the server that did not parse (there should be none). */
  badFrames: string[];
  closed: Promise<{ code: number; reason: string }>;
  next<T extends FrameType>(type: T, timeoutMs?: number): Promise<Frame<T>>;
  send<T extends FrameType>(type: T, body: BodyOf<T>): Frame<T>;
  sendText(text: string): void;
  /** Sends agent.hello for `keys` (a fresh pair by default) and waits for server.hello. */
  hello(keys?: KeyPair): Promise<Frame<'server.hello'>>;
  /** enroll signed by the hello's key (says agent.hello first if not yet). */
  sendEnroll(token: string, facts?: DeviceFacts, keys?: KeyPair): Promise<KeyPair>;
  /** auth as `deviceId`, signed by `keys` (says agent.hello for `keys` first if not yet). */
  sendAuth(deviceId: string, keys: KeyPair, facts?: DeviceFacts): Promise<void>;
  close(): Promise<void>;
}

export async function connectAgent(agentUrl: string, options: { autoPong?: boolean } = {}): Promise<TestAgent> {
  const ws = new WebSocket(agentUrl, [SUBPROTOCOL], { autoPong: options.autoPong ?? true });
  let said: { keys: KeyPair; nonce: string; server: Frame<'server.hello'> } | null = null;
  const frames: Frame[] = [];
  const badFrames: string[] = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (raw) => {
    const parsed = parseFrame(raw.toString(), { accept: SERVER_TO_AGENT });
    if (!parsed.ok) return void badFrames.push(parsed.message);
    frames.push(parsed.frame);
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const agent: TestAgent = {
    ws,
    frames,
    badFrames,
    closed,
    async hello(keys = generateKeyPair()) {
      const nonce = newNonce();
      ws.send(encodeFrame(agentHello(keys.publicKey, nonce, '0.1.0', Date.now())));
      const server = await agent.next('server.hello');
      said = { keys, nonce, server };
      return server;
    },
    async sendEnroll(token, facts = sampleFacts(), keys) {
      if (!said || (keys && said.keys !== keys)) await agent.hello(keys);
      const { keys: k, server } = said!;
      ws.send(encodeFrame(enrollFrame({ token, publicKey: k.publicKey, serverNonce: server.body.nonce, channel: { kind: 'none' }, facts, devicePrivateKeyPem: k.privateKeyPem, now: Date.now() })));
      return k;
    },
    async sendAuth(deviceId, keys, facts = sampleFacts()) {
      if (!said || said.keys !== keys) await agent.hello(keys);
      ws.send(encodeFrame(authFrame({ deviceId, serverNonce: said!.server.body.nonce, channel: { kind: 'none' }, facts, devicePrivateKeyPem: keys.privateKeyPem, now: Date.now() })));
    },
    next(type, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`no ${type} frame within ${timeoutMs} ms; got ${frames.map((f) => f.type).join(',')}`)), timeoutMs);
        const look = () => {
          const i = frames.findIndex((f) => f.type === type);
          if (i >= 0) {
            clearTimeout(deadline);
            resolve(frames.splice(i, 1)[0] as Frame<typeof type>);
          } else waiters.push(look);
        };
        look();
      });
    },
    send(type, body) {
      const frame = makeFrame(type, body);
      ws.send(encodeFrame(frame));
      return frame;
    },
    sendText: (text) => ws.send(text),
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close();
      await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))]);
    },
  };
  return agent;
}

/**
 * A raw TCP socket that did the WebSocket upgrade to /agent by hand (a hostile peer's view: nothing of ws on this
 * side), resolved once the server answered 101. Frames written on it must be masked (maskedTextFrame).
 */
export async function upgradeByHand(agentUrl: string, options: { localAddress?: string } = {}): Promise<net.Socket> {
  const { hostname, port } = new URL(agentUrl);
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  const socket = net.connect({ port: Number(port), host, ...options });
  const upgraded = new Promise<void>((resolve, reject) => {
    socket.once('data', (d) => (d.toString().startsWith('HTTP/1.1 101') ? resolve() : reject(new Error(d.toString()))));
    socket.once('error', reject);
  });
  socket.write(['GET /agent HTTP/1.1', `Host: ${hostname}:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Protocol: rmagent.v2', '', ''].join('\r\n'));
  try {
    await upgraded;
  } catch (err) {
    socket.destroy();
    throw err;
  }
  return socket;
}

/** A client text frame (masked with a zero key, so the payload stays readable) of up to 125 bytes. */
export const maskedTextFrame = (text: string): Buffer => maskedFrame(0x1, Buffer.from(text));

/** A masked client frame of any opcode (0x1 text, 0x9 ping, ...) of up to 125 bytes, masked with a zero key. */
export function maskedFrame(opcode: number, payload: Buffer): Buffer {
  if (payload.length > 125) throw new Error('maskedFrame: up to 125 bytes');
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

/**
 * What a server writes on a raw socket from now on, frame by frame (RFC 6455, unmasked, not fragmented): `frames`
 * fills as they arrive; `ended` resolves when the socket closes.
 */
export function serverFramesOn(socket: net.Socket): { frames: Array<{ opcode: number; payload: Buffer }>; ended: Promise<void> } {
  const frames: Array<{ opcode: number; payload: Buffer }> = [];
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      if (pending.length < 2) return;
      const short = pending[1]! & 0x7f;
      const start = short === 126 ? 4 : short === 127 ? 10 : 2;
      if (pending.length < start) return;
      const length = short === 126 ? pending.readUInt16BE(2) : short === 127 ? Number(pending.readBigUInt64BE(2)) : short;
      if (pending.length < start + length) return;
      frames.push({ opcode: pending[0]! & 0x0f, payload: pending.subarray(start, start + length) });
      pending = pending.subarray(start + length);
    }
  });
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { frames, ended };
}

export interface EnrolledAgent extends TestAgent {
  deviceId: string;
  keys: KeyPair;
}

export async function enroll(server: RunningServer, token: string, hostname = 'pc-01'): Promise<EnrolledAgent> {
  const agent = await connectAgent(server.agentUrl);
  const keys = await agent.sendEnroll(token, sampleFacts(hostname));
  const welcome = await agent.next('welcome');
  return Object.assign(agent, { deviceId: welcome.body.deviceId, keys });
}

export async function authenticate(server: RunningServer, deviceId: string, keys: KeyPair): Promise<TestAgent & { welcome: Frame<'welcome'> }> {
  const agent = await connectAgent(server.agentUrl);
  await agent.sendAuth(deviceId, keys);
  const welcome = await agent.next('welcome');
  return Object.assign(agent, { welcome });
}

export async function newEnrollmentToken(server: RunningServer, body: Record<string, unknown> = {}): Promise<string> {
  const res = await apiOf(server)('POST', '/enrollment-tokens', body);
  if (res.status !== 201) throw new Error(`enrollment token: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.token as string;
}

export const MONITORING_SETTINGS = { checks: [{ type: 'cpu', threshold: 90, durationSec: 300, intervalSec: 60, severity: 'warning' }] };

/** A role with exactly these permissions and an account holding it. */
export async function accountWith(server: RunningServer, permissions: string[], name = 'someone'): Promise<{ id: string; token: string; api: ReturnType<typeof apiOf> }> {
  const api = apiOf(server);
  const role = await api('POST', '/roles', { name: `${name} role`, permissions });
  if (role.status !== 201) throw new Error(`role: ${role.status} ${JSON.stringify(role.body)}`);
  const account = await api('POST', '/accounts', { name, roleIds: [role.body.id] });
  if (account.status !== 201) throw new Error(`account: ${account.status} ${JSON.stringify(account.body)}`);
  return { id: account.body.id as string, token: account.body.token as string, api: apiOf(server, account.body.token as string) };
}

/** Sends reports and waits until the server acknowledged the last one. */
export async function sendReports(agent: TestAgent, reports: Array<BodyOf<'report'>>): Promise<void> {
  for (const r of reports) agent.send('report', r);
  const last = reports.at(-1)!.seq;
  for (let i = 0; i < reports.length + 2; i++) if ((await agent.next('report.ack')).body.upTo >= last) return;
  throw new Error(`no report.ack up to ${last}`);
}

/**
 * What a test file's tests start (servers, agents), stopped after each test, newest first. Call once at the top
 * level of a test file: `const { started, track, stopLater } = stoppedAfterEach();`.
 */
export function stoppedAfterEach() {
  const open: Array<{ close(): Promise<void> } | RunningServer> = [];
  afterEach(async () => {
    for (const thing of open.splice(0).reverse()) await ('stop' in thing ? thing.stop() : thing.close());
  });
  const stopLater = <T extends { close(): Promise<void> } | RunningServer>(thing: T): T => {
    open.push(thing);
    return thing;
  };
  return {
    stopLater,
    /** A server with its data in a fresh temp folder. */
    started: async (): Promise<RunningServer> => stopLater(await serverIn(await tempDir())),
    track: <T extends TestAgent>(agent: T): T => stopLater(agent),
  };
}
