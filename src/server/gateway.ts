// Agent sockets (ws, path /agent): hello -> enroll|auth -> welcome + signed desired state, then reports
// (stored in order, duplicates dropped, acknowledged cumulatively), command acks, heartbeat, graceful close.
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { randomBytes } from 'node:crypto';
import { WebSocketServer, WebSocket } from 'ws';
import { AGENT_TO_SERVER, DEFAULT_MAX_FRAME_BYTES, encodeFrame, makeFrame, parseFrame, type BodyOf, type Frame } from '../protocol/frames.js';
import { ERRORS, type ErrorCode } from '../protocol/errors.js';
import { PROTOCOL_VERSION } from '../protocol/model.js';
import { authChallengeBytes, verifyBytes } from '../protocol/sign.js';
import type { Clock } from '../system/clock.js';
import { waitAtMost } from '../system/wait.js';
import type { Logger } from '../log.js';
import type { CommandSigner } from './signer.js';
import type { DeviceRecord, Store } from './store.js';
import { applyReport } from './reports.js';
import { desiredStateOf } from './desired.js';
import { decideEnrollment } from './enrollment.js';
import { hashSecret, newId } from './secrets.js';

export const HANDSHAKE_TIMEOUT_MS = 10_000;
const CLOSE_REFUSED = 4001;
const CLOSE_REPLACED = 4000;
const CLOSE_RESTART = 1012;

export interface GatewayOptions {
  httpServer: HttpServer | HttpsServer;
  store: Store;
  signer: CommandSigner;
  clock: Clock;
  logger: Logger;
  heartbeatSec: number;
  handshakeTimeoutMs?: number;
  /** After the handshake of a device (welcome and desired state sent). */
  onOnline(deviceId: string): Promise<void>;
  onAck(deviceId: string, ack: BodyOf<'ack'>): Promise<void>;
}

export interface Gateway {
  start(): void;
  /** Tells every agent to come back after a spread delay, closes, waits up to budgetMs, then terminates. */
  stop(options?: { retryAfterMs?: number; spreadMs?: number; budgetMs?: number }): Promise<void>;
  isOnline(deviceId: string): boolean;
  send(deviceId: string, frame: Frame): boolean;
}

interface Session {
  ws: WebSocket;
  nonce: string;
  deviceId: string | null;
  missedPongs: number;
  /** Frames received and not yet handled; handled in order, in batches. */
  inbox: string[];
  /** The batch being handled now (resolved when idle). */
  draining: Promise<void> | null;
  /** Reports applied in this batch but not yet committed and acknowledged. */
  unacked: { device: DeviceRecord; dirty: boolean } | null;
}

/** Frames one agent may have waiting; beyond this it is told to come back later (overload). */
export const MAX_INBOX_FRAMES = 5000;

export function createGateway(opts: GatewayOptions): Gateway {
  const { store, signer, clock, logger } = opts;
  const online = new Map<string, Session>();
  const sessions = new Set<Session>();
  let wss: WebSocketServer | null = null;
  let heartbeat: NodeJS.Timeout | null = null;

  const sendFrame = (ws: WebSocket, frame: Frame): boolean => {
    if (ws.readyState !== WebSocket.OPEN) return false;
    ws.send(encodeFrame(frame));
    return true;
  };
  const sendError = (ws: WebSocket, code: ErrorCode | string, message: string, extra: { ref?: string; fatal?: boolean; retryAfterMs?: number } = {}) => {
    const hint = (ERRORS as Record<string, { hint: string }>)[code]?.hint;
    sendFrame(ws, makeFrame('error', { code, message, ...(hint ? { hint } : {}), ...extra }, clock.now()));
  };
  const refuse = (s: Session, code: 'AUTH_FAILED' | 'ENROLLMENT_REFUSED', message: string, ref: string) => {
    logger.warn('agent refused', { code, reason: message });
    sendError(s.ws, code, message, { ref, fatal: true });
    s.ws.close(CLOSE_REFUSED, code);
  };

  async function admit(s: Session, device: DeviceRecord, enrolled: boolean): Promise<void> {
    const previous = online.get(device.id);
    if (previous && previous !== s) previous.ws.close(CLOSE_REPLACED, 'replaced by a newer connection');
    s.deviceId = device.id;
    online.set(device.id, s);
    device.lastSeen = clock.now();
    await store.commit();
    sendFrame(s.ws, makeFrame('welcome', { deviceId: device.id, enrolled, heartbeatSec: opts.heartbeatSec, lastSeq: device.lastSeq }, clock.now()));
    sendFrame(s.ws, signer.sign('desired', { deviceId: device.id, state: desiredStateOf(store.data, device) }, clock.now()));
    logger.info('agent connected', { deviceId: device.id, enrolled });
    await opts.onOnline(device.id);
  }

  async function onEnroll(s: Session, frame: Frame<'enroll'>): Promise<void> {
    const now = clock.now();
    const token = store.data.enrollmentTokens.find((t) => t.tokenHash === hashSecret(frame.body.token));
    const verdict = decideEnrollment(token, now);
    if (!verdict.ok) return refuse(s, 'ENROLLMENT_REFUSED', verdict.reason, frame.id);
    token!.uses += 1;
    const device: DeviceRecord = { id: newId('dev'), publicKey: frame.body.publicKey, facts: frame.body.facts, enrolledAt: now, lastSeen: now, lastSeq: 0, revision: 1, services: {}, latest: {} };
    store.data.devices.push(device);
    await admit(s, device, true);
  }

  async function onAuth(s: Session, frame: Frame<'auth'>): Promise<void> {
    const device = store.data.devices.find((d) => d.id === frame.body.deviceId);
    if (!device) return refuse(s, 'AUTH_FAILED', 'unknown device', frame.id);
    if (!verifyBytes(device.publicKey, authChallengeBytes(s.nonce, device.id), frame.body.proof)) return refuse(s, 'AUTH_FAILED', 'the proof does not verify with the device key', frame.id);
    device.facts = frame.body.facts;
    await admit(s, device, false);
  }

  // Reports are applied at once but committed and acknowledged once per batch: an agent sending its backlog
  // costs one store write per batch, not one per report.
  function onReport(s: Session, device: DeviceRecord, frame: Frame<'report'>): void {
    const outcome = applyReport(store.data, device, frame.body, clock.now(), () => newId('alert'));
    if (outcome.stored && outcome.invalid) logger.warn('report data does not match its kind', { deviceId: device.id, seq: frame.body.seq, reason: outcome.invalid });
    s.unacked = { device, dirty: (s.unacked?.dirty ?? false) || outcome.stored };
  }

  async function ackReports(s: Session): Promise<void> {
    const pending = s.unacked;
    if (!pending) return;
    s.unacked = null;
    if (pending.dirty) await store.commit();
    // Acknowledge only what is on disk: lastSeq moved with the changes just committed.
    sendFrame(s.ws, makeFrame('report.ack', { upTo: pending.device.lastSeq }, clock.now()));
  }

  async function drain(s: Session): Promise<void> {
    while (s.inbox.length) {
      for (const text of s.inbox.splice(0)) {
        try {
          await onText(s, text);
        } catch (err) {
          logger.error('frame handling failed', { deviceId: s.deviceId, error: err });
          sendError(s.ws, 'INTERNAL', 'the server could not handle the frame');
        }
      }
      await ackReports(s).catch((err: unknown) => {
        logger.error('reports could not be stored', { deviceId: s.deviceId, error: err });
        sendError(s.ws, 'INTERNAL', 'the server could not store the reports; they will be sent again');
      });
    }
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
      if (frame.type === 'enroll') return onEnroll(s, frame);
      if (frame.type === 'auth') return onAuth(s, frame);
      return sendError(s.ws, 'FRAME_INVALID', `send auth or enroll before ${frame.type}`, { ref: frame.id });
    }
    const device = store.data.devices.find((d) => d.id === s.deviceId);
    if (!device || online.get(device.id) !== s) return;
    if (frame.type === 'report') return onReport(s, device, frame);
    if (frame.type === 'ack') return opts.onAck(device.id, frame.body);
    return sendError(s.ws, 'FRAME_INVALID', `${frame.type} is only valid during the handshake`, { ref: frame.id });
  }

  function onConnection(ws: WebSocket): void {
    const s: Session = { ws, nonce: randomBytes(32).toString('base64'), deviceId: null, missedPongs: 0, inbox: [], draining: null, unacked: null };
    sessions.add(s);
    const timer = setTimeout(() => {
      if (s.deviceId !== null) return;
      sendError(ws, 'AUTH_FAILED', 'no auth or enroll frame in time', { fatal: true });
      ws.close(CLOSE_REFUSED, 'handshake timeout');
    }, opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS);
    ws.on('message', (raw, isBinary) => {
      if (s.inbox.length >= MAX_INBOX_FRAMES) {
        sendError(ws, 'SERVER_UNREACHABLE', 'the server is overloaded', { retryAfterMs: 5000 + Math.floor(Math.random() * 10_000), fatal: true });
        ws.close(CLOSE_RESTART, 'overloaded');
        s.inbox.length = 0;
        return;
      }
      s.inbox.push(isBinary ? '' : raw.toString());
      s.draining ??= drain(s);
    });
    ws.on('pong', () => {
      s.missedPongs = 0;
      const device = s.deviceId ? store.data.devices.find((d) => d.id === s.deviceId) : undefined;
      if (device) device.lastSeen = clock.now(); // persisted with the next commit
    });
    ws.on('close', () => {
      clearTimeout(timer);
      sessions.delete(s);
      if (s.deviceId && online.get(s.deviceId) === s) {
        online.delete(s.deviceId);
        logger.info('agent disconnected', { deviceId: s.deviceId });
      }
    });
    ws.on('error', (err) => logger.warn('agent socket error', { deviceId: s.deviceId, error: err }));
    const endorsements = signer.endorsements();
    sendFrame(ws, makeFrame('hello', { nonce: s.nonce, serverTime: clock.now(), serverKey: signer.publicKey, protocol: PROTOCOL_VERSION, ...(endorsements.length ? { endorsements } : {}) }, clock.now()));
  }

  function beat(): void {
    for (const s of sessions) {
      if (s.missedPongs >= 2) {
        logger.warn('agent missed two heartbeats; dropping it', { deviceId: s.deviceId });
        s.ws.terminate();
        continue;
      }
      s.missedPongs += 1;
      s.ws.ping();
    }
  }

  return {
    start() {
      // Twice the protocol limit so a frame just over it reaches parseFrame and gets a typed error frame;
      // ws closes (1009) anything beyond that.
      wss = new WebSocketServer({ server: opts.httpServer, path: '/agent', maxPayload: DEFAULT_MAX_FRAME_BYTES * 2 });
      wss.on('connection', onConnection);
      // ws re-emits the HTTP server's errors (e.g. EADDRINUSE); startServer reports those itself.
      wss.on('error', (err) => logger.debug('websocket server error', { error: err }));
      heartbeat = setInterval(beat, opts.heartbeatSec * 1000);
      heartbeat.unref();
    },
    async stop(options = {}) {
      if (heartbeat) clearInterval(heartbeat);
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
      await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
    },
    isOnline: (deviceId) => online.has(deviceId),
    send(deviceId, frame) {
      const s = online.get(deviceId);
      return s ? sendFrame(s.ws, frame) : false;
    },
  };
}
