// An independent management server written from docs/protocol.md (protocol 2), docs/enrollment.md and the
// frame schemas in docs/protocol/ alone, without reading the project's own code: if the real agent works with
// it, the documents are enough to implement a server. Only node: built-ins, ws and zod; nothing from src/.
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { z } from 'zod/mini';

// ---------------------------------------------------------------- canonical JSON (RFC 8785, protocol.md "Signatures")

/** JCS: members sorted by UTF-16 code units at every level, no whitespace, ECMAScript number and string forms. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error('canonical JSON has no form for a non-finite number');
    return JSON.stringify(value); // Number#toString; -0 -> "0"
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    // Default string sort compares UTF-16 code units, which is what RFC 8785 asks for.
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  throw new Error(`canonical JSON has no form for ${typeof value}`);
}

export interface Frame {
  v: 2;
  id: string;
  type: string;
  ts: number;
  body: Record<string, unknown>;
  sig?: string;
}

/** Signature input of a frame: canonical JSON of every envelope field except sig, as UTF-8. */
export function signatureInput(frame: Frame): Buffer {
  const { v, id, type, ts, body } = frame;
  return Buffer.from(canonicalJson({ v, id, type, ts, body }), 'utf8');
}

// ---------------------------------------------------------------- Ed25519 from raw keys

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
/** Canonical spelling of a 64-byte signature in base64 (protocol.md: exactly one valid sig per frame). */
export const CANONICAL_SIG = /^[A-Za-z0-9+/]{85}[AQgw]==$/;

export interface Signer {
  publicKey: string; // base64 of the 32 raw bytes
  sign(data: Buffer): string;
}

export function signerFromSeed(seed: Buffer): Signer {
  if (seed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
  const key: KeyObject = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const raw = createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_PREFIX.length);
  return { publicKey: raw.toString('base64'), sign: (data) => sign(null, data, key).toString('base64') };
}

export function verifySig(publicKeyB64: string, data: Buffer, sigB64: string): boolean {
  if (!CANONICAL_SIG.test(sigB64)) return false;
  const raw = Buffer.from(publicKeyB64, 'base64');
  if (raw.length !== 32 || raw.toString('base64') !== publicKeyB64) return false;
  try {
    const key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
    return verify(null, data, key, Buffer.from(sigB64, 'base64'));
  } catch {
    return false;
  }
}

export function signFrame(signer: Signer, frame: Omit<Frame, 'sig'>): Frame {
  return { ...frame, sig: signer.sign(signatureInput(frame as Frame)) };
}

// ---------------------------------------------------------------- frame schemas (docs/protocol/*.schema.json)

const b64Key = z.string().check(z.minLength(43), z.maxLength(44), z.regex(/^[A-Za-z0-9+/]+=*$/));
const idString = z.string().check(z.minLength(1), z.maxLength(128), z.regex(/^[A-Za-z0-9._:-]+$/));
const int = z.int().check(z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER));
const channel = z.union([
  z.strictObject({ kind: z.literal('tls-exporter'), value: b64Key }),
  z.strictObject({ kind: z.literal('none') }),
]);
// facts.teamviewer is checked loosely here: the server only stores it.
const facts = z.strictObject({
  hostname: z.string(),
  platform: z.string(),
  arch: z.string(),
  osRelease: z.string(),
  agentVersion: z.string(),
  alias: z.nullable(z.string()),
  teamviewer: z.nullable(z.record(z.string(), z.unknown())),
  serverKeys: z.optional(z.array(b64Key).check(z.maxLength(16))),
});

const Envelope = z.strictObject({
  v: z.literal(2),
  id: idString,
  type: z.string().check(z.minLength(1), z.maxLength(64)),
  ts: int,
  body: z.record(z.string(), z.unknown()),
  sig: z.optional(z.string().check(z.regex(CANONICAL_SIG))),
});

const AgentBodies = {
  'agent.hello': z.strictObject({ protocol: z.literal(2), nonce: b64Key, deviceKey: b64Key, agentVersion: z.string().check(z.maxLength(64)), pinnedKeys: z.optional(z.array(b64Key).check(z.maxLength(16))) }),
  enroll: z.strictObject({ token: z.string().check(z.minLength(8), z.maxLength(256)), publicKey: b64Key, serverNonce: b64Key, channel, facts }),
  auth: z.strictObject({ deviceId: idString, serverNonce: b64Key, channel, facts }),
  report: z.strictObject({
    seq: z.int().check(z.minimum(1), z.maximum(Number.MAX_SAFE_INTEGER)),
    kind: z.enum(['status', 'service', 'teamviewer', 'alert.raised', 'alert.cleared', 'inventory', 'patches', 'backup', 'watchdog']),
    at: int,
    data: z.record(z.string(), z.unknown()),
  }),
  ack: z.strictObject({
    commandId: idString,
    status: z.enum(['accepted', 'rejected', 'done', 'failed']),
    reason: z.optional(z.object({ code: z.string(), message: z.string() })),
  }),
  unenroll: z.strictObject({ reason: z.optional(z.string().check(z.maxLength(256))) }),
  error: z.strictObject({
    code: z.string(),
    message: z.string(),
    hint: z.optional(z.string()),
    ref: z.optional(idString),
    retryAfterMs: z.optional(int),
    fatal: z.optional(z.boolean()),
  }),
} as const;
type AgentType = keyof typeof AgentBodies;
export type AckBody = z.infer<(typeof AgentBodies)['ack']>;
export type ReportBody = z.infer<(typeof AgentBodies)['report']>;

// ---------------------------------------------------------------- the server

export interface PolicyWire {
  id: string;
  name: string;
  service: string;
  version: number;
  settings: Record<string, unknown>;
}

export interface Device {
  id: string;
  publicKey: string;
  facts: unknown;
  lastSeq: number;
  reports: ReportBody[];
  acks: AckBody[];
  desired: { revision: number; services: Record<string, { policy: PolicyWire }> };
}

export interface Logged {
  dir: 'in' | 'out';
  conn: number;
  deviceId: string | null;
  frame: Frame;
  at: number;
}

/** Deliberate misbehaviour, to check that the agent refuses what protocol.md says it refuses. */
export interface Tamper {
  /** Present and sign server.hello with this key instead of the server's own. */
  helloSigner?: Signer;
  /** Put this channel in server.hello instead of what the server sees. */
  channel?: { kind: 'none' } | { kind: 'tls-exporter'; value: string };
  /** Name this device id in welcome instead of the one proven. */
  welcomeDeviceId?: string;
  /** Leave the agent's pings unanswered. */
  noPong?: boolean;
  /** Stop pinging the agent. */
  noPing?: boolean;
  /** Send this command type (signed, for the device id named) right after server.hello, before welcome. */
  commandBeforeWelcome?: { type: string; deviceId: string };
  /** Hold welcome back this long after a valid enroll/auth. */
  delayWelcomeMs?: number;
}

export interface ServerOptions {
  /** 32-byte Ed25519 seed of the server key (signs server.hello, welcome and commands). */
  seed?: Buffer;
  /** PEM certificate and key: wss:// with channel binding; without them ws:// (loopback only, protocol.md). */
  tls?: { cert: string; key: string };
  tokens: string[];
  heartbeatSec: number;
}

interface Conn {
  n: number;
  ws: WebSocket;
  exporter: string | null; // base64 of the RFC 9266 value when TLS ends here
  agentNonce: string | null;
  deviceKey: string | null;
  serverNonce: string | null;
  deviceId: string | null; // set once welcome is sent
  authTimer: NodeJS.Timeout | null;
  pingTimer: NodeJS.Timeout | null;
  missedPongs: number;
  pongs: number;
  pingsFromAgent: number;
}

export class IndependentServer {
  /** The key that signs server.hello, welcome and commands (changed by rotate()). */
  signer: Signer;
  /** Endorsement chain, oldest first: each link signed by the previous key (protocol.md "Server key rotation"). */
  readonly endorsements: Array<{ key: string; signedBy: string; sig: string }> = [];
  readonly devices = new Map<string, Device>();
  readonly log: Logged[] = [];
  readonly closes: Array<{ conn: number; code: number; reason: string }> = [];
  tamper: Tamper = {};
  url: string | null = null;
  private readonly conns = new Set<Conn>();
  private readonly http: HttpServer;
  private readonly wss: WebSocketServer;
  private readonly tokens: Set<string>;
  private nextConn = 1;
  private counter = 0;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly opts: ServerOptions) {
    this.signer = signerFromSeed(opts.seed ?? randomBytes(32));
    this.tokens = new Set(opts.tokens);
    this.http = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }) : createHttpServer();
    this.wss = new WebSocketServer({
      server: this.http,
      path: '/agent',
      maxPayload: 2 * 1024 * 1024,
      autoPong: false, // answered by hand below, so a test can leave pings unanswered
      // protocol.md "Versions": the agent offers rmagent.v2 and the server MUST select it.
      handleProtocols: (protocols) => (protocols.has('rmagent.v2') ? 'rmagent.v2' : false),
    });
    this.wss.on('connection', (ws, req) => this.onConnection(ws, req));
  }

  async listen(host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(0, host, () => resolve());
    });
    const { port } = this.http.address() as AddressInfo;
    this.url = `${this.opts.tls ? 'wss' : 'ws'}://${host}:${port}/agent`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  /** Resolves when pred() holds, re-checked on every frame; rejects after timeoutMs with what was seen. */
  waitFor<T>(what: string, pred: () => T | undefined | false | null, timeoutMs = 20_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const v = pred();
        if (v === undefined || v === false || v === null) return false;
        cleanup();
        resolve(v);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        const detail = (f: Frame): string => (['ack', 'error'].includes(f.type) ? ` ${JSON.stringify(f.body)}` : ` ${f.id}`);
        const seen = this.log.map((l) => `#${l.conn} ${l.dir} ${l.frame.type}${detail(l.frame)}`);
        reject(new Error(`timed out waiting for ${what}; frames: ${seen.join(' | ')}; closes: ${JSON.stringify(this.closes)}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      const listener = (): void => void check();
      if (check()) return;
      this.listeners.add(listener);
    });
  }

  /** Frames received from agents, oldest first. */
  received(type?: string): Frame[] {
    return this.log.filter((l) => l.dir === 'in' && (type === undefined || l.frame.type === type)).map((l) => l.frame);
  }

  heartbeat(deviceId: string): { pongs: number; pingsFromAgent: number } | null {
    for (const c of this.conns) if (c.deviceId === deviceId) return { pongs: c.pongs, pingsFromAgent: c.pingsFromAgent };
    return null;
  }

  /** Sends a signed command to a connected device; returns its id (or null when the device is offline). */
  sendCommand(deviceId: string, type: string, body: Record<string, unknown>, opts: { signer?: Signer; id?: string; ts?: number } = {}): string | null {
    const conn = [...this.conns].find((c) => c.deviceId === deviceId);
    const id = opts.id ?? this.frameId('cmd');
    if (!conn) return null;
    const frame = signFrame(opts.signer ?? this.signer, { v: 2, id, type, ts: opts.ts ?? Date.now(), body: { deviceId, actor: 'interop@example.com', ...body } });
    this.send(conn, frame);
    return id;
  }

  /** The link by which the signing key endorses `next` (protocol.md "Signatures": key endorsement). */
  private endorse(next: Signer): { key: string; signedBy: string; sig: string } {
    const input = Buffer.from(`rmagent-key-endorse-v1:${this.signer.publicKey}:${next.publicKey}`, 'utf8');
    return { key: next.publicKey, signedBy: this.signer.publicKey, sig: this.signer.sign(input) };
  }

  /** Rotates to a new key endorsed by the current one; later handshakes present it with the chain. */
  rotate(seed: Buffer = randomBytes(32)): Signer {
    const next = signerFromSeed(seed);
    this.endorsements.push(this.endorse(next));
    if (this.endorsements.length > 32) this.endorsements.shift();
    this.signer = next;
    return next;
  }

  /** A key announced for an overlap, not signing yet (announceRotation .. retireAnnounced). */
  private announced: { next: Signer; link: { key: string; signedBy: string; sig: string } } | null = null;

  /**
   * Starts an overlap (protocol.md "Server key rotation", 3): a new key endorsed by the signing key, announced to a
   * connected device as key.rotate {newKey, endorsements}; the current key keeps signing. Returns the command id.
   */
  announceRotation(deviceId: string, seed: Buffer = randomBytes(32)): { id: string | null; next: Signer } {
    const next = signerFromSeed(seed);
    const link = this.endorse(next);
    this.announced = { next, link };
    return { id: this.sendCommand(deviceId, 'key.rotate', { newKey: next.publicKey, endorsements: [link] }), next };
  }

  /** Ends the overlap: key.rotate {newKey, retireKey, endorsements} signed by the key it retires; then the new key signs. */
  retireAnnounced(deviceId: string): string | null {
    if (!this.announced) throw new Error('announceRotation first');
    const { next, link } = this.announced;
    const id = this.sendCommand(deviceId, 'key.rotate', { newKey: next.publicKey, retireKey: this.signer.publicKey, endorsements: [link] });
    this.endorsements.push(link);
    this.signer = next;
    this.announced = null;
    return id;
  }

  /** Number of the newest connection (1, 2, …). */
  get lastConn(): number {
    return this.nextConn - 1;
  }

  /** Drops a device's connection (the agent reconnects). */
  kick(deviceId: string): void {
    for (const c of this.conns) if (c.deviceId === deviceId) c.ws.terminate();
  }

  /** Frames received on one connection. */
  receivedOn(conn: number): Frame[] {
    return this.log.filter((l) => l.dir === 'in' && l.conn === conn).map((l) => l.frame);
  }

  /** Sends a frame as given (for replays and deliberately broken frames). */
  sendRaw(deviceId: string, frame: Frame): boolean {
    const conn = [...this.conns].find((c) => c.deviceId === deviceId);
    if (!conn) return false;
    this.send(conn, frame);
    return true;
  }

  /** Records the service in the device's desired state (sent signed on every connect) and installs it now. */
  activate(deviceId: string, policy: PolicyWire): string | null {
    const dev = this.devices.get(deviceId);
    if (!dev) throw new Error(`unknown device ${deviceId}`);
    dev.desired = { revision: dev.desired.revision + 1, services: { ...dev.desired.services, [policy.service]: { policy } } };
    return this.sendCommand(deviceId, 'service.install', { service: policy.service, policy });
  }

  /** Records a new policy version in the desired state and assigns it now. */
  assign(deviceId: string, policy: PolicyWire): string | null {
    const dev = this.devices.get(deviceId);
    if (!dev) throw new Error(`unknown device ${deviceId}`);
    dev.desired = { revision: dev.desired.revision + 1, services: { ...dev.desired.services, [policy.service]: { policy } } };
    return this.sendCommand(deviceId, 'policy.assign', { service: policy.service, policy });
  }

  ackFor(deviceId: string, commandId: string, status: AckBody['status']): AckBody | undefined {
    return this.devices.get(deviceId)?.acks.find((a) => a.commandId === commandId && a.status === status);
  }

  // -------------------------------------------------------------- connection handling

  private frameId(prefix: string): string {
    this.counter += 1;
    return `${prefix}-${Date.now().toString(36)}-${this.counter}-${randomBytes(4).toString('hex')}`;
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  private send(conn: Conn, frame: Frame): void {
    this.log.push({ dir: 'out', conn: conn.n, deviceId: conn.deviceId, frame, at: Date.now() });
    conn.ws.send(JSON.stringify(frame));
  }

  private sendError(conn: Conn, body: { code: string; message: string; ref?: string; fatal?: boolean; retryAfterMs?: number }, close?: number): void {
    this.send(conn, { v: 2, id: this.frameId('err'), type: 'error', ts: Date.now(), body });
    if (close !== undefined) conn.ws.close(close, body.code);
  }

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const socket = req.socket;
    // RFC 9266: 32 bytes, label EXPORTER-Channel-Binding, no context; only when TLS ends in this process.
    // Node's typings require a context; at run time it may be left out, which is the "no context" of RFC 9266.
    const noContext = undefined as unknown as Buffer;
    const exporter = socket instanceof TLSSocket ? socket.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', noContext).toString('base64') : null;
    const conn: Conn = {
      n: this.nextConn++, ws, exporter, agentNonce: null, deviceKey: null, serverNonce: null, deviceId: null,
      authTimer: null, pingTimer: null, missedPongs: 0, pongs: 0, pingsFromAgent: 0,
    };
    this.conns.add(conn);
    // protocol.md step 3: enroll or auth within 10 s of the upgrade.
    conn.authTimer = setTimeout(() => {
      if (conn.deviceId === null) this.sendError(conn, { code: 'AUTH_FAILED', message: 'no auth or enroll within 10 s', fatal: true }, 4001);
    }, 10_000);
    ws.on('message', (data, isBinary) => this.onMessage(conn, data, isBinary));
    ws.on('pong', () => {
      conn.missedPongs = 0;
      conn.pongs += 1;
      this.notify();
    });
    ws.on('ping', (payload) => {
      conn.pingsFromAgent += 1;
      if (!this.tamper.noPong) ws.pong(payload);
      this.notify();
    });
    ws.on('close', (code, reason) => {
      this.closes.push({ conn: conn.n, code, reason: reason.toString() });
      if (conn.authTimer) clearTimeout(conn.authTimer);
      if (conn.pingTimer) clearInterval(conn.pingTimer);
      this.conns.delete(conn);
      this.notify();
    });
    ws.on('error', () => undefined);
  }

  private onMessage(conn: Conn, data: RawData, isBinary: boolean): void {
    if (isBinary) return this.sendError(conn, { code: 'FRAME_INVALID', message: 'binary frames are not part of the protocol' });
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8');
    if (Buffer.byteLength(text) > 1024 * 1024) return this.sendError(conn, { code: 'FRAME_TOO_LARGE', message: 'a frame is at most 1 MiB' });
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return this.sendError(conn, { code: 'FRAME_INVALID', message: 'not JSON' });
    }
    const env = Envelope.safeParse(parsed);
    if (!env.success) return this.sendError(conn, { code: 'FRAME_INVALID', message: `envelope: ${env.error.issues.map((i) => i.path.join('.')).join(', ')}` });
    const frame = env.data as Frame;
    this.log.push({ dir: 'in', conn: conn.n, deviceId: conn.deviceId, frame, at: Date.now() });
    try {
      if (!(frame.type in AgentBodies)) return this.sendError(conn, { code: 'FRAME_UNKNOWN_TYPE', message: frame.type, ref: frame.id });
      const schema = AgentBodies[frame.type as AgentType];
      const body = schema.safeParse(frame.body);
      if (!body.success) {
        const where = body.error.issues.map((i) => `${i.path.join('.')} (${i.code})`).join(', ');
        return this.sendError(conn, { code: 'FRAME_INVALID', message: `${frame.type}: ${where}`, ref: frame.id });
      }
      this.dispatch(conn, frame, body.data);
    } finally {
      this.notify();
    }
  }

  private dispatch(conn: Conn, frame: Frame, body: unknown): void {
    const handshake = conn.deviceId === null;
    switch (frame.type) {
      case 'agent.hello':
        if (conn.agentNonce !== null) return this.sendError(conn, { code: 'FRAME_INVALID', message: 'agent.hello twice', ref: frame.id });
        return this.onAgentHello(conn, body as z.infer<(typeof AgentBodies)['agent.hello']>);
      case 'enroll':
      case 'auth':
        if (conn.serverNonce === null || !handshake) return this.sendError(conn, { code: 'FRAME_INVALID', message: `${frame.type} out of order`, ref: frame.id });
        return frame.type === 'enroll'
          ? this.onEnroll(conn, frame, body as z.infer<(typeof AgentBodies)['enroll']>)
          : this.onAuth(conn, frame, body as z.infer<(typeof AgentBodies)['auth']>);
      case 'error':
        return; // logged already
      default:
        if (handshake) return this.sendError(conn, { code: 'FRAME_INVALID', message: `${frame.type} before welcome`, ref: frame.id });
    }
    const dev = this.devices.get(conn.deviceId!)!;
    if (frame.type === 'report') {
      const r = body as ReportBody;
      // Store only above the highest seq (duplicates dropped), then acknowledge cumulatively.
      if (r.seq > dev.lastSeq) {
        dev.reports.push(r);
        dev.lastSeq = r.seq;
      }
      this.send(conn, { v: 2, id: this.frameId('ra'), type: 'report.ack', ts: Date.now(), body: { upTo: dev.lastSeq } });
    } else if (frame.type === 'ack') {
      dev.acks.push(body as AckBody);
    } else if (frame.type === 'unenroll') {
      this.devices.delete(dev.id);
      conn.ws.close(1000, 'unenrolled');
    }
  }

  private onAgentHello(conn: Conn, hello: z.infer<(typeof AgentBodies)['agent.hello']>): void {
    conn.agentNonce = hello.nonce;
    conn.deviceKey = hello.deviceKey;
    conn.serverNonce = randomBytes(32).toString('base64');
    const now = Date.now();
    const signer = this.tamper.helloSigner ?? this.signer;
    const seen = conn.exporter === null ? { kind: 'none' } : { kind: 'tls-exporter', value: conn.exporter };
    this.send(conn, signFrame(signer, {
      v: 2, id: this.frameId('sh'), type: 'server.hello', ts: now,
      body: {
        protocol: 2, agentNonce: hello.nonce, deviceKey: hello.deviceKey, nonce: conn.serverNonce, serverTime: now,
        serverKey: signer.publicKey,
        channel: this.tamper.channel ?? seen,
        ...(this.endorsements.length > 0 ? { endorsements: [...this.endorsements] } : {}),
      },
    }));
    const early = this.tamper.commandBeforeWelcome;
    if (early) {
      this.send(conn, signFrame(this.signer, { v: 2, id: this.frameId('early'), type: early.type, ts: Date.now(), body: { deviceId: early.deviceId } }));
    }
  }

  /** Checks common to enroll and auth: nonce, channel, and the signature by `key`. */
  private proofOk(conn: Conn, frame: Frame, key: string, body: { serverNonce: string; channel: { kind: string; value?: string } }): boolean {
    if (body.serverNonce !== conn.serverNonce) return false;
    if (conn.exporter !== null && (body.channel.kind !== 'tls-exporter' || body.channel.value !== conn.exporter)) return false;
    if (key !== conn.deviceKey) return false;
    return frame.sig !== undefined && verifySig(key, signatureInput(frame), frame.sig);
  }

  private onEnroll(conn: Conn, frame: Frame, body: z.infer<(typeof AgentBodies)['enroll']>): void {
    if (!this.proofOk(conn, frame, body.publicKey, body) || !this.tokens.has(body.token)) {
      return this.sendError(conn, { code: 'ENROLLMENT_REFUSED', message: 'enrollment refused', ref: frame.id, fatal: true }, 4001);
    }
    this.tokens.delete(body.token); // single use
    const id = `dev-${createHash('sha256').update(body.publicKey).digest('hex').slice(0, 16)}`;
    this.devices.set(id, { id, publicKey: body.publicKey, facts: body.facts, lastSeq: 0, reports: [], acks: [], desired: { revision: 0, services: {} } });
    this.welcome(conn, id, true);
  }

  private onAuth(conn: Conn, frame: Frame, body: z.infer<(typeof AgentBodies)['auth']>): void {
    const dev = this.devices.get(body.deviceId);
    if (!dev || !this.proofOk(conn, frame, dev.publicKey, body)) {
      return this.sendError(conn, { code: 'AUTH_FAILED', message: 'authentication failed', ref: frame.id, fatal: true }, 4001);
    }
    dev.facts = body.facts;
    this.welcome(conn, dev.id, false);
  }

  private welcome(conn: Conn, deviceId: string, enrolled: boolean): void {
    if (conn.authTimer) clearTimeout(conn.authTimer);
    const delay = this.tamper.delayWelcomeMs;
    if (delay) {
      setTimeout(() => { if (conn.ws.readyState === WebSocket.OPEN) this.sendWelcome(conn, deviceId, enrolled); }, delay);
      return;
    }
    this.sendWelcome(conn, deviceId, enrolled);
  }

  private sendWelcome(conn: Conn, deviceId: string, enrolled: boolean): void {
    // A newer connection of the same device replaces the older one (close 4000).
    for (const other of this.conns) if (other !== conn && other.deviceId === deviceId) other.ws.close(4000, 'replaced');
    conn.deviceId = deviceId;
    const dev = this.devices.get(deviceId)!;
    this.send(conn, signFrame(this.signer, {
      v: 2, id: this.frameId('we'), type: 'welcome', ts: Date.now(),
      body: { agentNonce: conn.agentNonce!, deviceId: this.tamper.welcomeDeviceId ?? deviceId, enrolled, heartbeatSec: this.opts.heartbeatSec, lastSeq: dev.lastSeq },
    }));
    // Step 5: the device's signed desired state.
    this.sendCommand(deviceId, 'desired', { state: dev.desired });
    // Heartbeat: ping every heartbeatSec, drop after two unanswered pings.
    conn.pingTimer = setInterval(() => {
      if (this.tamper.noPing) return;
      if (conn.missedPongs >= 2) return conn.ws.terminate();
      conn.missedPongs += 1;
      conn.ws.ping();
    }, this.opts.heartbeatSec * 1000);
  }
}
