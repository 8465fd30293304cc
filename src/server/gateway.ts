// Agent sockets (ws, path /agent, subprotocol rmagent.v2): agent.hello -> server.hello (signed proof of the server
// key over the agent's nonce, device key and TLS channel) -> enroll|auth (signed by the device key) -> signed
// welcome + signed desired state, then reports
// (stored in order through the intake's group commit, duplicates dropped, acknowledged cumulatively once committed),
// command acks, heartbeat, graceful close. After the handshake each device is held to a byte and frame rate and a
// bounded inbox: beyond them its socket is paused (TCP back-pressure), so one device cannot starve the others.
// Before it, a socket gets a handful of frames (PRE_AUTH_MAX_FRAMES), small ones, and 10 s.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket } from 'ws';
import { AGENT_TO_SERVER, DEFAULT_MAX_FRAME_BYTES, encodeFrame, makeFrame, parseFrame, type BodyOf, type Channel, type Frame } from '../protocol/frames.js';
import { ERRORS, type ErrorCode } from '../protocol/errors.js';
import { PROTOCOL_VERSION } from '../protocol/model.js';
import { channelOf, checkAgentProof, newNonce, serverHello, SUBPROTOCOL, welcomeFrame } from '../protocol/handshake.js';
import type { KeyPair } from '../protocol/sign.js';
import type { Clock } from '../system/clock.js';
import { waitAtMost } from '../system/wait.js';
import type { Logger } from '../log.js';
import type { CommandSigner } from './signer.js';
import type { DeviceRecord, Store } from './store/store.js';
import { desiredStateOf } from './desired.js';
import { decideEnrollment } from './enrollment.js';
import type { Intake } from './intake.js';
import { fullBucket, take, type Bucket, type Rate } from './rate-limit.js';
import { hashSecret, newId } from './secrets.js';
import { addressGroupOf, clientAddressOf, isTrustedProxy, type TrustedProxies } from './client-address.js';
import { createConnectionCounter, createRefusalLog, decideSocket, DEFAULT_CONNECTION_CAPS, nonAgentSocketsOf, upgradesPerMinuteOf, type Admission, type ConnectionCaps } from './connection-caps.js';
import { createUpgradeLimiter } from './upgrade-rate.js';
import { setMaxPayload } from './ws-payload.js';

export const HANDSHAKE_TIMEOUT_MS = 10_000;
const CLOSE_REFUSED = 4001;
const CLOSE_REPLACED = 4000;
const CLOSE_RESTART = 1012;
const CLOSE_PROTOCOL = 4002;
/** How long an agent of an older protocol is told to wait before it tries again (it obeys up to 24 h). */
export const LEGACY_RETRY_AFTER_MS = 15 * 60_000;
/**
 * Largest frame (or message) a socket may send before it authenticated: agent.hello, auth and enroll are small (the
 * largest enroll the schema allows is ~29 KB, a real one ~1-2 KB; docs/protocol.md). ws refuses a longer one from its
 * frame header (close 1009), so an unauthenticated peer never has more than this buffered here.
 */
export const PRE_AUTH_MAX_PAYLOAD = 64 * 1024;
/**
 * What the server may have queued for a peer that has not authenticated (ws bufferedAmount: written, not yet taken
 * by the kernel). Its answers before auth are server.hello (a few KiB) and error frames of a few hundred bytes; a
 * peer that keeps sending frames and never reads the answers is dropped beyond this, instead of the server queueing
 * them (a hostile review measured +43 MB of server memory from one such peer within the 10 s handshake timeout).
 */
export const PRE_AUTH_MAX_BUFFERED = 256 * 1024;
/**
 * Frames (text, binary, invalid ones included) and pings a socket may send before it authenticated. The handshake
 * takes two: agent.hello, then one enroll or auth (the reference agent sends nothing else before welcome, and pings
 * only after it). Four times that leaves room for a third-party agent that repeats its hello or answers a frame it
 * cannot use with an error frame. Beyond it the peer gets one fatal HANDSHAKE_FRAME_LIMIT and is closed: a peer that
 * reads its answers made the server answer ~18,000 invalid frames a second for the whole handshake timeout (+181 MB
 * of server RSS and most of a core, measured), then reconnected. With it, the server answers at most nine frames
 * per connection, so the peer costs an upgrade per nine frames.
 */
export const PRE_AUTH_MAX_FRAMES = 8;
/** After the handshake: twice the protocol limit, so a frame just over it reaches parseFrame and gets a typed error frame; ws closes (1009) anything beyond. */
export const MAX_PAYLOAD = DEFAULT_MAX_FRAME_BYTES * 2;

/** What one authenticated device may send: bytes and frames per second (token buckets) and bytes waiting unhandled. */
export interface DeviceLimits {
  bytes: Rate;
  frames: Rate;
  inboxBytes: number;
}

export const DEFAULT_DEVICE_LIMITS: DeviceLimits = {
  bytes: { perSec: 512 * 1024, burst: 8 * 1024 * 1024 },
  frames: { perSec: 50, burst: 1000 },
  inboxBytes: 4 * 1024 * 1024,
};

export interface GatewayOptions {
  httpServer: HttpServer | HttpsServer;
  store: Store;
  signer: CommandSigner;
  clock: Clock;
  logger: Logger;
  heartbeatSec: number;
  handshakeTimeoutMs?: number;
  /** Frames and pings before authentication (default PRE_AUTH_MAX_FRAMES). */
  preAuthMaxFrames?: number;
  intake: Intake;
  deviceLimits?: DeviceLimits;
  /** Agent connections held at most, in total and per client address (default DEFAULT_CONNECTION_CAPS). */
  connectionCaps?: ConnectionCaps;
  /** Peers whose X-Forwarded-For names the client (load balancers); null = the peer address is the client's. */
  trustedProxies?: TrustedProxies;
  /** After the handshake of a device (welcome and desired state sent). */
  onOnline(deviceId: string): Promise<void>;
  /** This node no longer holds the device's connection (closed, replaced or dropped). */
  onOffline?(deviceId: string): void;
  /** The device said `unenroll` over its authenticated connection: forget it. */
  onUnenroll?(deviceId: string, reason: string | undefined): Promise<void>;
}

export interface Gateway {
  start(): void;
  /** Tells every agent to come back after a spread delay, closes, waits up to budgetMs, then terminates. */
  stop(options?: { retryAfterMs?: number; spreadMs?: number; budgetMs?: number }): Promise<void>;
  isOnline(deviceId: string): boolean;
  /** Same as isOnline: this node holds the device's socket (the command queue's transport). */
  holds(deviceId: string): boolean;
  send(deviceId: string, frame: Frame): boolean;
  /** What the gateway holds now: connections (authenticated or not), bytes received and not yet handled, sockets paused. */
  load(): { connections: number; devices: number; inboxBytes: number; paused: number; addresses: number };
}

interface Session {
  ws: WebSocket;
  /** This server's nonce, in server.hello; auth and enroll must be signed over it. */
  nonce: string;
  /** What the server sees of the channel (TLS exporter when TLS ends here). */
  channel: Channel;
  /** The agent's hello, once received. */
  hello: BodyOf<'agent.hello'> | null;
  /** The key server.hello was signed with; welcome is signed with the same one. */
  key: KeyPair | null;
  deviceId: string | null;
  missedPongs: number;
  /** Frames received and not yet handled; handled in order, in batches. */
  inbox: string[];
  inboxBytes: number;
  /** The batch being handled now (resolved when idle). */
  draining: Promise<void> | null;
  /** Reports and command acks of this batch, handed to the intake at its end. */
  reports: BodyOf<'report'>[];
  acks: BodyOf<'ack'>[];
  bytes: Bucket;
  frames: Bucket;
  /** Set while the socket is paused for the rate limits. */
  rateTimer: NodeJS.Timeout | null;
  paused: boolean;
  /** A pong arrived since the last heartbeat round (lastSeen is written once per round for all of them). */
  ponged: boolean;
}

/** How long a refused peer has to answer our close frame before its socket is destroyed. */
const CLOSE_GRACE_MS = 1_000;
/** Frames one agent may have waiting; beyond this it is told to come back later (overload). */
export const MAX_INBOX_FRAMES = 5000;

export function createGateway(opts: GatewayOptions): Gateway {
  const { store, signer, clock, logger } = opts;
  const limits = opts.deviceLimits ?? DEFAULT_DEVICE_LIMITS;
  const online = new Map<string, Session>();
  const sessions = new Set<Session>();
  let wss: WebSocketServer | null = null;
  let heartbeat: NodeJS.Timeout | null = null;
  let unsubscribe: (() => void) | null = null;
  let stopping = false;
  const caps = opts.connectionCaps ?? DEFAULT_CONNECTION_CAPS;
  const counter = createConnectionCounter(caps);
  const upgradeRate = createUpgradeLimiter(upgradesPerMinuteOf(caps), () => clock.monotonic());
  /** Open TCP sockets per peer address group (API and agent alike), trusted proxies not counted. */
  const socketsByPeer = new Map<string, number>();
  /** Open TCP sockets on this node, trusted proxies' included. */
  let socketsOnNode = 0;
  const refusalLog = createRefusalLog((message, meta) => logger.warn(message, meta), () => clock.now());
  /** The sessions whose peer has not authenticated yet: what is queued for them is bounded (PRE_AUTH_MAX_BUFFERED). */
  const preAuth = new WeakSet<WebSocket>();
  const preAuthMaxFrames = opts.preAuthMaxFrames ?? PRE_AUTH_MAX_FRAMES;

  const sendFrame = (ws: WebSocket, frame: Frame): boolean => {
    if (ws.readyState !== WebSocket.OPEN) return false;
    ws.send(encodeFrame(frame));
    if (preAuth.has(ws) && ws.bufferedAmount > PRE_AUTH_MAX_BUFFERED) {
      refusalLog('unauthenticated peers dropped: they do not read what the server answers', { bytesQueued: ws.bufferedAmount, bound: PRE_AUTH_MAX_BUFFERED });
      ws.terminate();
      return false;
    }
    return true;
  };
  const sendError = (ws: WebSocket, code: ErrorCode | string, message: string, extra: { ref?: string; fatal?: boolean; retryAfterMs?: number } = {}) => {
    const hint = (ERRORS as Record<string, { hint: string }>)[code]?.hint;
    sendFrame(ws, makeFrame('error', { code, message, ...(hint ? { hint } : {}), ...extra }, clock.now()));
  };
  const refuse = (s: Session, code: 'AUTH_FAILED' | 'ENROLLMENT_REFUSED' | 'DEVICE_REVOKED', message: string, ref?: string) => {
    logger.warn('agent refused', { code, reason: message });
    sendError(s.ws, code, message, { ...(ref ? { ref } : {}), fatal: true });
    s.ws.close(CLOSE_REFUSED, code);
  };

  async function admit(s: Session, device: DeviceRecord, enrolled: boolean): Promise<void> {
    // The socket may have closed while auth or enroll waited for the store (a slow database): its close handler
    // found no device then, so registering one now would leave the device online with nobody holding it.
    if (s.ws.readyState !== WebSocket.OPEN) return;
    const previous = online.get(device.id);
    if (previous && previous !== s) previous.ws.close(CLOSE_REPLACED, 'replaced by a newer connection');
    s.deviceId = device.id;
    preAuth.delete(s.ws);
    online.set(device.id, s);
    // Authenticated: frames up to the protocol limit from now on (the agent sends nothing before the welcome).
    setMaxPayload(s.ws, MAX_PAYLOAD);
    await store.devices.recordSeen([device.id], clock.now());
    const activations = await store.activations.forDevices([device.id]);
    const policies = new Map((await store.policies.many(activations.map((a) => a.policyId))).map((p) => [p.id, p]));
    sendFrame(s.ws, welcomeFrame({ agentNonce: s.hello!.nonce, deviceId: device.id, enrolled, heartbeatSec: opts.heartbeatSec, lastSeq: device.lastSeq, serverKey: s.key!, now: clock.now() }));
    sendFrame(s.ws, signer.sign('desired', { deviceId: device.id, state: desiredStateOf(device, activations, policies) }, clock.now()));
    // Closed (or replaced) while this waited for the store: the close handler already said offline, and must win.
    if (online.get(device.id) !== s) return;
    logger.info('agent connected', { deviceId: device.id, enrolled });
    await opts.onOnline(device.id);
  }

  async function onEnroll(s: Session, frame: Frame<'enroll'>): Promise<void> {
    // Proof of possession: signed by the key it enrolls, for this session; and the key the server's proof named.
    const proof = checkAgentProof(frame, { serverNonce: s.nonce, channel: s.channel, publicKey: frame.body.publicKey });
    if (!proof.ok) return refuse(s, 'ENROLLMENT_REFUSED', proof.message, frame.id);
    if (frame.body.publicKey !== s.hello!.deviceKey) return refuse(s, 'ENROLLMENT_REFUSED', 'enroll names another key than agent.hello', frame.id);
    const now = clock.now();
    // The token's use and the new device are one transaction, the token row locked: a one-use token enrolls one device.
    const outcome = await store.transaction(async (tx) => {
      const token = await tx.enrollmentTokens.byHash(hashSecret(frame.body.token), { forUpdate: true });
      const verdict = decideEnrollment(token ?? undefined, now);
      if (!verdict.ok) return verdict;
      await tx.enrollmentTokens.recordUse(token!.id);
      const device: DeviceRecord = { id: newId('dev'), publicKey: frame.body.publicKey, facts: frame.body.facts, enrolledAt: now, enrolledWith: token!.id, lastSeen: now, lastSeq: 0, revision: 1, tags: token!.tags, revokedAt: null, revokedBy: null };
      await tx.devices.insert(device);
      return { ok: true as const, device };
    });
    if (!outcome.ok) return refuse(s, 'ENROLLMENT_REFUSED', outcome.reason, frame.id);
    await admit(s, outcome.device, true);
  }

  async function onAuth(s: Session, frame: Frame<'auth'>): Promise<void> {
    const device = await store.devices.get(frame.body.deviceId, { includeRevoked: true });
    if (!device) return refuse(s, 'AUTH_FAILED', 'unknown device', frame.id);
    const proof = checkAgentProof(frame, { serverNonce: s.nonce, channel: s.channel, publicKey: device.publicKey });
    if (!proof.ok) return refuse(s, 'AUTH_FAILED', proof.message, frame.id);
    if (device.publicKey !== s.hello!.deviceKey) return refuse(s, 'AUTH_FAILED', 'auth is for another key than agent.hello', frame.id);
    // Said only to the holder of the key (the proof verified), so nobody else learns which ids were deleted.
    if (device.revokedAt !== null) return refuse(s, 'DEVICE_REVOKED', 'this device was deleted on the server; its key is revoked', frame.id);
    device.facts = frame.body.facts;
    await store.devices.updateFacts(device.id, device.facts);
    await admit(s, device, false);
  }

  // Reports and acks of one batch go to the intake together: it commits them with other devices' in one
  // transaction, and the cumulative report.ack goes out only once they are on disk.
  async function submitBatch(s: Session): Promise<void> {
    if (!s.deviceId || (!s.reports.length && !s.acks.length)) return;
    const job = { deviceId: s.deviceId, reports: s.reports.splice(0), acks: s.acks.splice(0) };
    const result = await opts.intake.submit(job);
    if (result.revoked) return closeRevoked(s);
    if (job.reports.length) sendFrame(s.ws, makeFrame('report.ack', { upTo: result.lastSeq }, clock.now()));
  }

  function closeRevoked(s: Session): void {
    refuse(s, 'DEVICE_REVOKED', 'this device was deleted on the server; its key is revoked');
  }

  // Pauses the socket while the device is over its rate or its unhandled frames exceed the inbox bound; the
  // kernel's buffers then fill and the device's own sends slow down, so nothing is dropped and nothing piles up here.
  function resumeIfAllowed(s: Session): void {
    if (!s.paused || s.rateTimer || s.inboxBytes > limits.inboxBytes / 2) return;
    s.paused = false;
    s.ws.resume();
  }
  function throttle(s: Session, bytes: number): void {
    if (!s.deviceId) return; // before the handshake, the pre-auth limits apply
    const now = clock.now();
    const waitMs = Math.max(take(s.bytes, limits.bytes, bytes, now), take(s.frames, limits.frames, 1, now));
    if (waitMs > 0 && !s.rateTimer) {
      // Paused at most half a heartbeat at a time, so a throttled device is never taken for a dead one.
      s.rateTimer = setTimeout(() => {
        s.rateTimer = null;
        resumeIfAllowed(s);
      }, Math.min(waitMs, (opts.heartbeatSec * 1000) / 2));
    }
    if ((waitMs > 0 || s.inboxBytes > limits.inboxBytes) && !s.paused) {
      s.paused = true;
      s.ws.pause();
    }
  }

  async function drain(s: Session): Promise<void> {
    while (s.inbox.length) {
      for (const text of s.inbox.splice(0)) {
        s.inboxBytes -= text.length;
        try {
          await onText(s, text);
        } catch (err) {
          logger.error('frame handling failed', { deviceId: s.deviceId, error: err });
          sendError(s.ws, 'INTERNAL', 'the server could not handle the frame');
        }
      }
      await submitBatch(s).catch((err: unknown) => {
        logger.error('reports could not be stored', { deviceId: s.deviceId, error: err });
        sendError(s.ws, 'INTERNAL', 'the server could not store the reports; they will be sent again');
      });
      resumeIfAllowed(s);
    }
    s.inboxBytes = 0;
    s.draining = null;
  }

  async function onText(s: Session, text: string): Promise<void> {
    const parsed = parseFrame(text, { accept: AGENT_TO_SERVER, maxBytes: DEFAULT_MAX_FRAME_BYTES });
    if (!parsed.ok) return sendError(s.ws, parsed.code, parsed.message, parsed.ref ? { ref: parsed.ref } : {});
    const frame = parsed.frame;
    if (frame.type === 'error') {
      logger.warn('agent sent an error', { deviceId: s.deviceId, code: frame.body.code, message: frame.body.message });
      return;
    }
    if (s.deviceId === null) {
      if (frame.type === 'agent.hello') return onAgentHello(s, frame.body);
      if (!s.hello) return sendError(s.ws, 'FRAME_INVALID', `send agent.hello before ${frame.type}`, { ref: frame.id });
      if (frame.type === 'enroll') return onEnroll(s, frame);
      if (frame.type === 'auth') return onAuth(s, frame);
      return sendError(s.ws, 'FRAME_INVALID', `send auth or enroll before ${frame.type}`, { ref: frame.id });
    }
    if (online.get(s.deviceId) !== s) return;
    if (frame.type === 'report') return void s.reports.push(frame.body);
    if (frame.type === 'ack') return void s.acks.push(frame.body);
    if (frame.type === 'unenroll') {
      await opts.onUnenroll?.(s.deviceId, frame.body.reason);
      s.ws.close(1000, 'unenrolled');
      return;
    }
    return sendError(s.ws, 'FRAME_INVALID', `${frame.type} is only valid during the handshake`, { ref: frame.id });
  }

  // The server proves its key first, over the agent's nonce, the device key and the channel it sees.
  function onAgentHello(s: Session, hello: BodyOf<'agent.hello'>): void {
    if (s.hello) return sendError(s.ws, 'FRAME_INVALID', 'agent.hello was already received');
    s.hello = hello;
    s.key = signer.keyPair();
    sendFrame(s.ws, serverHello({ hello, nonce: s.nonce, channel: s.channel, serverKey: s.key, endorsements: signer.endorsements(hello.pinnedKeys), activeKeys: signer.activeKeys(), now: clock.now() }));
  }

  // An agent of protocol v1 offers no subprotocol: it is told, in its own envelope, to be upgraded, and to come
  // back later (it shows PROTOCOL_UNSUPPORTED with this message in `rmagent status`); its registration stays valid.
  function refuseLegacy(ws: WebSocket, req: IncomingMessage): void {
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').slice(0, 100) || 'none';
    logger.warn('agent of another protocol version refused', { offered });
    const now = clock.now();
    const message = `this server speaks rmagent protocol ${PROTOCOL_VERSION} (subprotocol ${SUBPROTOCOL}); the agent offered ${offered}: upgrade the agent (its registration stays valid)`;
    ws.send(JSON.stringify({ v: 1, id: `${now.toString(36)}-legacy`, type: 'error', ts: now, body: { code: 'PROTOCOL_UNSUPPORTED', message, hint: ERRORS.PROTOCOL_UNSUPPORTED.hint, retryAfterMs: LEGACY_RETRY_AFTER_MS, fatal: true } }));
    ws.close(CLOSE_PROTOCOL, 'protocol version not supported');
  }

  function onConnection(ws: WebSocket, req: IncomingMessage): void {
    if (ws.protocol !== SUBPROTOCOL) return refuseLegacy(ws, req);
    const now = clock.now();
    const s: Session = {
      ws, nonce: newNonce(), channel: channelOf(req.socket), hello: null, key: null, deviceId: null, missedPongs: 0, inbox: [], inboxBytes: 0, draining: null, reports: [], acks: [],
      bytes: fullBucket(limits.bytes, now), frames: fullBucket(limits.frames, now), rateTimer: null, paused: false, ponged: false,
    };
    sessions.add(s);
    preAuth.add(ws);
    let preAuthFrames = 0;
    // Counts a frame or ping before authentication: false once over the budget. The first one over it is answered
    // with a fatal error and close 4001; the socket is then not read any more (a flooding peer would keep the server
    // parsing at line rate) and is dropped after a short grace, in which the peer can read both.
    const withinBudget = (): boolean => {
      if (s.deviceId !== null) return true;
      preAuthFrames += 1;
      if (preAuthFrames <= preAuthMaxFrames) return true;
      if (preAuthFrames === preAuthMaxFrames + 1) {
        refusalLog('unauthenticated peers closed: more frames than the handshake needs', { bound: preAuthMaxFrames });
        sendError(ws, 'HANDSHAKE_FRAME_LIMIT', `more than ${preAuthMaxFrames} frames before authentication`, { fatal: true });
        ws.close(CLOSE_REFUSED, 'too many frames before authentication');
        ws.pause();
        setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
      }
      return false;
    };
    const timer = setTimeout(() => {
      if (s.deviceId !== null) return;
      sendError(ws, 'AUTH_FAILED', 'no auth or enroll frame in time', { fatal: true });
      ws.close(CLOSE_REFUSED, 'handshake timeout');
      // close() waits up to 30 s for the peer's close frame, which a peer stuck mid-frame (a slowloris holding an
      // unfinished 2 MB frame) never sends: the socket and what it buffered are dropped after a short grace instead.
      setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
    }, opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS);
    ws.on('message', (raw, isBinary) => {
      if (!withinBudget()) return;
      if (s.inbox.length >= MAX_INBOX_FRAMES) {
        sendError(ws, 'SERVER_UNREACHABLE', 'the server is overloaded', { retryAfterMs: 5000 + Math.floor(Math.random() * 10_000), fatal: true });
        ws.close(CLOSE_RESTART, 'overloaded');
        s.inbox.length = 0;
        return;
      }
      const text = isBinary ? '' : raw.toString();
      s.inbox.push(text);
      s.inboxBytes += text.length;
      throttle(s, text.length);
      s.draining ??= drain(s);
    });
    // Answered here, not by ws (autoPong off), so that pings before authentication count toward the budget.
    ws.on('ping', (data) => {
      if (withinBudget() && ws.readyState === WebSocket.OPEN) ws.pong(data);
    });
    ws.on('pong', () => {
      s.missedPongs = 0;
      s.ponged = true;
    });
    ws.on('close', () => {
      clearTimeout(timer);
      if (s.rateTimer) clearTimeout(s.rateTimer);
      sessions.delete(s);
      if (s.deviceId && online.get(s.deviceId) === s) {
        online.delete(s.deviceId);
        logger.info('agent disconnected', { deviceId: s.deviceId });
        opts.onOffline?.(s.deviceId);
      }
    });
    ws.on('error', (err) => {
      logger.warn('agent socket error', { deviceId: s.deviceId, error: err });
      // ws answers a protocol error (a frame over the pre-auth limit: 1009) with a close frame, then resumes the
      // socket to read and discard whatever the peer still streams, for up to 30 s. An unauthenticated peer is
      // not read any more (paused after ws's resume, on the next tick) and is dropped after a short grace.
      if (s.deviceId !== null) return;
      setImmediate(() => req.socket.pause());
      setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
    });
  }

  // Counted from the upgrade request until its socket closes. Beyond a cap or the address's upgrade rate the answer
  // is plain HTTP (503 when this node is full, 429 when the address holds or opened too many) with Retry-After:
  // nothing of WebSocket is built for it. A refused upgrade takes no token of the rate.
  function admitUpgrade(address: string): Admission & { release?: () => void } {
    if (stopping) return { ok: false, status: 503, reason: 'the server is shutting down', retryAfterSec: 1 + Math.floor(Math.random() * 5) };
    const held = counter.take(address);
    if (!held.ok) return held;
    const rate = upgradeRate.take(address);
    if (rate.ok) return held;
    held.release!();
    refusalLog('agent connections refused: an address opened more than its rate of upgrades (--max-upgrades-per-address-per-minute)', { address, bound: upgradesPerMinuteOf(caps) });
    return { ok: false, status: 429, reason: rate.reason, retryAfterSec: rate.retryAfterSec };
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!wss) return void socket.destroy();
    if (!wss.shouldHandle(req)) return wss.handleUpgrade(req, socket, head, () => undefined); // answers 400
    const address = addressGroupOf(clientAddressOf(req, opts.trustedProxies ?? null));
    const verdict = admitUpgrade(address);
    if (!verdict.ok) {
      logger.debug('agent connection refused at the upgrade', { address, status: verdict.status, reason: verdict.reason });
      const body = JSON.stringify({ message: verdict.reason, retryAfterSec: verdict.retryAfterSec });
      socket.once('finish', () => socket.destroy());
      socket.on('error', () => undefined);
      socket.end(`HTTP/1.1 ${verdict.status} ${verdict.status === 429 ? 'Too Many Requests' : 'Service Unavailable'}\r\nRetry-After: ${verdict.retryAfterSec}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    socket.once('close', verdict.release!);
    wss.handleUpgrade(req, socket, head, (ws) => wss?.emit('connection', ws, req));
  }

  // Counted from the TCP connection (before TLS and before any HTTP byte): the node's sockets that are not agent
  // connections stay below --max-non-agent-sockets, and a peer's below the per-address cap, else the socket is
  // destroyed at once (nothing read, nothing written). Behind a balancer the peer is the balancer
  // (--trusted-proxies): counted for the node only, its clients are counted per address at the upgrade.
  function onTcpConnection(socket: Socket): void {
    const peer = caps.perAddress > 0 && socket.remoteAddress && !isTrustedProxy(opts.trustedProxies ?? null, socket.remoteAddress) ? addressGroupOf(socket.remoteAddress) : null;
    const held = peer === null ? 0 : socketsByPeer.get(peer) ?? 0;
    const verdict = decideSocket(caps, { sockets: socketsOnNode, agentConnections: counter.counts().total }, peer === null ? null : { sockets: held, agentConnections: counter.heldBy(peer) });
    if (!verdict.ok) {
      if (verdict.bound === 'node') refusalLog('sockets refused: this node holds its maximum of sockets that are not agent connections (--max-non-agent-sockets)', { bound: nonAgentSocketsOf(caps), sockets: socketsOnNode });
      else logger.debug('socket refused at the TCP connection', { address: peer, sockets: held });
      socket.destroy();
      return;
    }
    socketsOnNode += 1;
    if (peer !== null) socketsByPeer.set(peer, held + 1);
    socket.once('close', () => {
      socketsOnNode -= 1;
      if (peer === null) return;
      const left = (socketsByPeer.get(peer) ?? 1) - 1;
      if (left > 0) socketsByPeer.set(peer, left);
      else socketsByPeer.delete(peer);
    });
  }

  const onServerError = (err: Error) => logger.warn('server socket error', { error: err });

  function beat(): void {
    const seen: string[] = [];
    for (const s of sessions) {
      if (s.ponged && s.deviceId) seen.push(s.deviceId);
      s.ponged = false;
      if (s.missedPongs >= 2) {
        logger.warn('agent missed two heartbeats; dropping it', { deviceId: s.deviceId });
        s.ws.terminate();
        continue;
      }
      // A socket paused for its rate cannot read the pong yet: that is not a missed one.
      if (!s.paused) s.missedPongs += 1;
      s.ws.ping();
    }
    // lastSeen from heartbeats: one write per round for the whole fleet.
    if (seen.length) store.devices.recordSeen(seen, clock.now()).catch((err: unknown) => logger.warn('could not record heartbeats', { error: err }));
  }

  return {
    start() {
      // Every socket starts at the pre-auth payload limit; admit() raises it once the device authenticated.
      // rmagent.v2 is selected when offered; an agent offering none (protocol v1) is refused in onConnection.
      wss = new WebSocketServer({ noServer: true, path: '/agent', maxPayload: PRE_AUTH_MAX_PAYLOAD, autoPong: false, handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false) });
      wss.on('connection', onConnection);
      opts.httpServer.on('upgrade', onUpgrade);
      opts.httpServer.on('connection', onTcpConnection);
      wss.on('error', (err) => logger.debug('websocket server error', { error: err }));
      // The HTTP server's own errors after listening (e.g. accept failing at the file descriptor limit) are logged,
      // not thrown; startServer reports those of listen (EADDRINUSE) itself.
      opts.httpServer.on('error', onServerError);
      heartbeat = setInterval(beat, opts.heartbeatSec * 1000);
      heartbeat.unref();
      unsubscribe = store.subscribe('device.revoked', ({ deviceId }) => {
        const s = online.get(deviceId);
        if (s) closeRevoked(s);
      });
    },
    async stop(options = {}) {
      stopping = true;
      if (heartbeat) clearInterval(heartbeat);
      unsubscribe?.();
      const base = options.retryAfterMs ?? 1000;
      const spread = options.spreadMs ?? 5000;
      const closed = [...sessions].map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.ws.readyState === WebSocket.CLOSED) return resolve();
            s.ws.once('close', () => resolve());
            // Each agent gets its own delay so a restart does not bring every device back in the same second.
            sendError(s.ws, 'SERVER_UNREACHABLE', 'the server is shutting down', { retryAfterMs: base + Math.floor(Math.random() * spread), fatal: true });
            s.ws.close(CLOSE_RESTART, 'server shutting down');
          }),
      );
      await waitAtMost(options.budgetMs ?? 3000, Promise.all(closed));
      for (const s of sessions) s.ws.terminate();
      await Promise.all([...sessions].map((s) => s.draining));
      await opts.intake.drain();
      await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
      opts.httpServer.off('upgrade', onUpgrade).off('connection', onTcpConnection).off('error', onServerError);
    },
    isOnline: (deviceId) => online.has(deviceId),
    holds: (deviceId) => online.has(deviceId),
    load() {
      let inboxBytes = 0;
      let paused = 0;
      for (const s of sessions) {
        inboxBytes += s.inboxBytes;
        if (s.paused) paused += 1;
      }
      return { connections: sessions.size, devices: online.size, inboxBytes, paused, addresses: counter.counts().addresses };
    },
    send(deviceId, frame) {
      const s = online.get(deviceId);
      return s ? sendFrame(s.ws, frame) : false;
    },
  };
}
