// The WebSocket client: agent.hello -> server.hello -> enroll|auth -> welcome (protocol v2, handshake.ts), then
// reports out of the outbox, verified commands in, heartbeat with half-open detection, reconnect with capped
// full-jitter backoff.
//
// Invariants:
// - Nothing signed and no token is sent before server.hello proved the pinned server key for this session's
//   nonce, this device and this channel (handshake.ts checkServerHello).
// - The device id is written only from a signed welcome answering this session's enroll; an auth is answered
//   with the device's own id or refused (DEVICE_ID_MISMATCH), never a warning.
// - Frames in are handled one at a time in arrival order; commands run one at a time, in arrival order, on their
//   own queue so a long command does not hold back report acks.
// - A command takes effect only after checkCommand accepted it and its id is on disk in the replay guard.
// - Reports go out in seq order, each at most once per connection; on reconnect the server's lastSeq says where
//   to resume, so nothing is lost and the server drops what it already has.
import type { TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import { spkiPin } from '../protocol/tls-pin.js';
import { encodeFrame, isCommandType, makeFrame, parseFrame, SERVER_TO_AGENT, type BodyOf, type Channel, type CommandType, type Frame } from '../protocol/frames.js';
import { isRmError } from '../protocol/errors.js';
import { checkCommand, keyFingerprint } from '../protocol/sign.js';
import { agentHello, authFrame, channelOf, checkServerHello, checkWelcome, enrollFrame, newNonce, pinsAfterHello, SUBPROTOCOL } from '../protocol/handshake.js';
import { PROTOCOL_VERSION } from '../protocol/model.js';
import { AGENT_VERSION } from '../version.js';
import { CLOCK_SKEW_PROBLEM_MS } from './status.js';
import { reconnectDelay, revokedDelay } from './backoff.js';
import { checkTransport, tlsOptions, transportErrorCode } from './transport.js';
import { decideUpgradeRefusal } from './upgrade-refusal.js';
import { waitAtMost } from '../system/wait.js';
import { anchorOf, createServerClock, type ServerClock } from './server-time.js';
import type { ReplayGuard } from './replay.js';
import type { OutcomeJournal } from './outcomes.js';
import type { AgentContext, CommandHandler, CommandOutcome, Connection, ConnectionStatus, DeviceFacts, IdentityStore, Outbox, Registration } from './contracts.js';

export const HANDSHAKE_TIMEOUT_MS = 15_000;
/** How long a peer that sent a fatal error has to close before the agent drops the socket itself. */
const FATAL_CLOSE_GRACE_MS = 1_000;
const STOP_BUDGET_MS = 2_000;
const FLUSH_BATCH = 100;
/** Highest welcome.lastSeq the numbering may move to (a restored device): 2^50 leaves 2^53 - 2^50 numbers. */
export const MAX_RESTORED_SEQ = 2 ** 50;
/** Refusals (bad credentials, wrong server key, no token) wait 2^4 times longer: retrying fast cannot fix them. */
const REFUSAL_EXTRA_ATTEMPTS = 4;
const REFUSALS = new Set(['AUTH_FAILED', 'ENROLLMENT_REFUSED', 'PROTOCOL_UNSUPPORTED']);

type LastError = { code: string; message: string };

interface Session {
  ws: WebSocket;
  registration: Registration;
  /** Sent in agent.hello; the server's proof and the welcome must answer it. */
  agentNonce: string;
  /** Monotonic clock when agent.hello was sent (server time: half the round trip is assumed each way). */
  helloSentAt: number;
  /** What this end sees of the channel (TLS exporter), taken at the upgrade. */
  channel: Channel;
  /** SPKI pin of the server certificate (null on ws://), taken at the upgrade: TLS pin announcements must contain it. */
  certPin: string | null;
  /** The verified server.hello. */
  hello: BodyOf<'server.hello'> | null;
  /** What this agent answered the server.hello with. */
  sent: { type: 'enroll' } | { type: 'auth'; deviceId: string } | null;
  deviceId: string | null;
  connected: boolean;
  frames: Promise<void>;
  /** Commands are applied one at a time, in arrival order. */
  commands: Promise<void>;
  /** Later commands are admitted only after this settles (a key.rotate in the queue changes whom to trust). */
  admissions: Promise<void>;
  heartbeat: NodeJS.Timeout | null;
  handshakeTimer: NodeJS.Timeout | null;
  /** When the peer was last heard, on both clocks (heartbeat: silence is the longer of the two). */
  lastHeard: { monotonic: number; wall: number };
  sentUpTo: number;
  flushing: boolean;
  flushAgain: boolean;
  error: LastError | null;
  refused: boolean;
  /** A DEVICE_REVOKED after a verified server.hello: the long wait (revokedDelay). */
  revoked: boolean;
  /** Refused: closing, nothing more is handled. */
  closing: boolean;
  retryAfterMs: number | undefined;
  /** Final acks sent on this connection from the outcome journal: confirmed by a report.ack of upTo >= afterSeq. */
  unconfirmed: Array<{ commandId: string; afterSeq: number }>;
}

export interface ConnectionOptions {
  context: AgentContext;
  identity: IdentityStore;
  outbox: Outbox;
  replay: Pick<ReplayGuard, 'seen' | 'remember'>;
  onCommand: CommandHandler;
  deviceFacts: () => Promise<DeviceFacts>;
  random?: () => number;
  /** Keeps final outcomes that must survive a lost connection or a restart (outcomes.ts); none = acks only. */
  outcomes?: OutcomeJournal;
  /**
   * The server's time, anchored here at every verified server.hello; the replay guard must judge by the same one
   * (agent.ts shares it). None = one of its own.
   */
  serverClock?: ServerClock;
}

/** A command that ran at least this long gets its outcome journaled before the ack (a restart meanwhile is likely enough). */
export const JOURNALED_AFTER_MS = 1_000;

export function createConnection(opts: ConnectionOptions): Connection {
  const { context, identity, outbox, replay, onCommand, deviceFacts, outcomes } = opts;
  const { config, logger, clock } = context;
  const settings = config.connection;
  const random = opts.random ?? Math.random;
  const serverClock = opts.serverClock ?? createServerClock(clock);
  const listeners: Array<(s: ConnectionStatus) => void> = [];
  let state: ConnectionStatus = { phase: 'idle', serverUrl: null, since: clock.now(), connectedAt: null, lastError: null, attempts: 0, nextRetryAt: null, insecure: false, clockSkewMs: null };
  let session: Session | null = null;
  let retryTimer: NodeJS.Timeout | null = null;
  let started = false;
  let stopped = false;

  const heardNow = () => ({ monotonic: clock.monotonic(), wall: clock.now() });
  // The skew is read when asked: the wall clock may have stepped since the handshake, the server's time has not.
  const current = (): ConnectionStatus => ({ ...state, clockSkewMs: serverClock.skewMs() });

  function setStatus(patch: Partial<ConnectionStatus>): void {
    const since = patch.phase && patch.phase !== state.phase ? clock.now() : state.since;
    state = { ...state, ...patch, since };
    const now = current();
    for (const l of listeners) l(now);
  }

  function send(s: Session, frame: Frame): boolean {
    if (s.ws.readyState !== WebSocket.OPEN) return false;
    try {
      s.ws.send(encodeFrame(frame));
      return true;
    } catch (err) {
      logger.error('outgoing frame is invalid; not sent', { type: frame.type, error: err });
      return false;
    }
  }
  const sendError = (s: Session, code: string, message: string, ref?: string) =>
    send(s, makeFrame('error', { code, message: message.slice(0, 2048), ...(ref ? { ref } : {}) }, clock.now()));

  /** `revoked`: a DEVICE_REVOKED that came after a verified server.hello (only then the long wait). */
  function retryLater(error: LastError, refused: boolean, retryAfterMs?: number, revoked = false): void {
    if (stopped) return;
    const attempts = state.attempts + 1;
    const delay =
      revoked
        ? revokedDelay(random)
        : reconnectDelay(attempts - 1 + (refused ? REFUSAL_EXTRA_ATTEMPTS : 0), { baseMs: settings.backoffBaseMs, maxMs: settings.backoffMaxMs, random, retryAfterMs });
    const now = clock.now();
    setStatus({ phase: 'backoff', attempts, lastError: { ...error, at: now }, nextRetryAt: now + delay, connectedAt: null });
    logger.warn('not connected; retrying later', { code: error.code, reason: error.message, attempts, delayMs: delay });
    retryTimer = setTimeout(() => void attempt(), delay);
  }

  async function attempt(): Promise<void> {
    retryTimer = null;
    if (stopped) return;
    setStatus({ phase: 'connecting', nextRetryAt: null });
    let registration: Registration | null;
    try {
      registration = await identity.load();
    } catch (err) {
      return retryLater({ code: 'REGISTRATION_CORRUPT', message: (err as Error).message }, true);
    }
    if (stopped) return;
    if (!registration) return retryLater({ code: 'NOT_REGISTERED', message: 'no usable registration' }, true);
    const transport = checkTransport(registration.serverUrl, { allowInsecure: settings.allowInsecure });
    setStatus({ serverUrl: registration.serverUrl, insecure: transport.ok && transport.insecure });
    if (!transport.ok) return retryLater({ code: transport.code, message: transport.message }, true);
    if (!registration.deviceId && !registration.enrollmentToken) {
      return retryLater({ code: 'ENROLLMENT_TOKEN_MISSING', message: 'not enrolled and no enrollment token recorded' }, true);
    }
    let ws: WebSocket;
    try {
      ws = new WebSocket(registration.serverUrl, [SUBPROTOCOL], { ...tlsOptions(config, registration), maxPayload: settings.maxFrameBytes, handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
    } catch (err) {
      return retryLater({ code: 'SERVER_UNREACHABLE', message: (err as Error).message }, false);
    }
    const s: Session = {
      ws, registration, agentNonce: newNonce(), helloSentAt: 0, channel: { kind: 'none' }, certPin: null, hello: null, sent: null, deviceId: null, connected: false, frames: Promise.resolve(), commands: Promise.resolve(), admissions: Promise.resolve(),
      heartbeat: null, handshakeTimer: null, lastHeard: heardNow(), sentUpTo: 0, flushing: false, flushAgain: false, error: null, refused: false, revoked: false, closing: false, retryAfterMs: undefined, unconfirmed: [],
    };
    session = s;
    s.handshakeTimer = setTimeout(() => {
      s.error ??= { code: 'SERVER_UNREACHABLE', message: `no welcome within ${HANDSHAKE_TIMEOUT_MS} ms` };
      ws.terminate();
    }, HANDSHAKE_TIMEOUT_MS);
    ws.on('upgrade', (res) => {
      s.channel = channelOf(res.socket);
      const cert = (res.socket as Partial<TLSSocket>).getPeerCertificate?.(false);
      s.certPin = cert?.raw ? spkiPin(cert.raw) : null;
    });
    // An HTTP answer instead of 101 (e.g. 429/503 with Retry-After: the server's connection caps): say which, and
    // wait at least as long as asked (capped at backoffMaxMs: the answer is not signed).
    ws.on('unexpected-response', (_req, res) => {
      const refusal = decideUpgradeRefusal(res.statusCode ?? 0, res.headers, clock.now());
      s.error ??= { code: refusal.code, message: refusal.message };
      if (refusal.retryAfterMs !== undefined) s.retryAfterMs = Math.min(refusal.retryAfterMs, settings.backoffMaxMs);
      ws.terminate();
    });
    ws.on('open', () => {
      setStatus({ phase: 'handshaking' });
      s.helloSentAt = clock.monotonic();
      send(s, agentHello(registration.publicKey, s.agentNonce, AGENT_VERSION, clock.now(), registration.serverKeys));
    });
    ws.on('message', (data, isBinary) => {
      s.lastHeard = heardNow();
      const text = isBinary ? null : data.toString();
      s.frames = s.frames.then(() => onText(s, text)).catch((err: unknown) => void logger.error('frame handling failed', { error: err }));
    });
    ws.on('pong', () => { s.lastHeard = heardNow(); });
    ws.on('error', (err) => {
      // ws fails the upgrade when the server does not select rmagent.v2: a server of another protocol version.
      if (/subprotocol/i.test(err.message)) {
        s.refused = true;
        s.error ??= { code: 'PROTOCOL_UNSUPPORTED', message: `the server does not speak ${SUBPROTOCOL} (${err.message}); upgrade the server` };
        return;
      }
      const code = transportErrorCode(err as NodeJS.ErrnoException);
      // A certificate that fails verification or the pin will not change by retrying fast.
      if (code !== 'SERVER_UNREACHABLE') s.refused = true;
      s.error ??= { code, message: err.message };
    });
    ws.on('close', (code, reason) => onClose(s, code, reason.toString()));
  }

  function onClose(s: Session, code: number, reason: string): void {
    if (s.heartbeat) clearInterval(s.heartbeat);
    if (s.handshakeTimer) clearTimeout(s.handshakeTimer);
    if (session === s) session = null;
    if (stopped) return;
    if (s.connected) logger.info('disconnected from the server', { code, reason });
    const error = s.error ?? { code: 'SERVER_UNREACHABLE', message: `connection closed (${code}${reason ? `: ${reason}` : ''})` };
    retryLater(error, s.refused, s.retryAfterMs, s.revoked);
  }

  function refuse(s: Session, error: LastError): void {
    if (s.closing) return; // the first refusal is the reason; frames queued behind it are not handled
    s.closing = true;
    s.error = error;
    s.refused = true;
    logger.error('connection refused', { code: error.code, reason: error.message });
    s.ws.close(4001, error.code);
  }

  async function onText(s: Session, text: string | null): Promise<void> {
    if (s.closing) return;
    if (text === null) return void sendError(s, 'FRAME_INVALID', 'binary frames are not part of the protocol');
    const parsed = parseFrame(text, { accept: SERVER_TO_AGENT, maxBytes: settings.maxFrameBytes });
    if (!parsed.ok && !s.connected) {
      const v = envelopeVersion(text);
      if (v !== null && v !== PROTOCOL_VERSION) return refuse(s, { code: 'PROTOCOL_UNSUPPORTED', message: `the server speaks protocol ${v}, this agent protocol ${PROTOCOL_VERSION}: upgrade the ${v < PROTOCOL_VERSION ? 'server' : 'agent'}` });
    }
    // A server that has not proved its key gets nothing but server.hello (or an error) before it: anything else
    // ends the session, so a rogue endpoint cannot make the device parse a flood of frames.
    if (!s.hello && !(parsed.ok && (parsed.frame.type === 'server.hello' || parsed.frame.type === 'error'))) {
      return refuse(s, { code: 'SERVER_PROOF_INVALID', message: `the server sent ${parsed.ok ? parsed.frame.type : 'an invalid frame'} before server.hello: a server proves its key first` });
    }
    if (!parsed.ok) {
      logger.warn('invalid frame from the server', { code: parsed.code, reason: parsed.message });
      return void sendError(s, parsed.code, parsed.message, parsed.ref);
    }
    const frame = parsed.frame;
    if (frame.type === 'server.hello') return onServerHello(s, frame as Frame<'server.hello'>);
    if (frame.type === 'welcome') return onWelcome(s, frame as Frame<'welcome'>);
    if (frame.type === 'report.ack') return onReportAck(s, frame.body.upTo, frame.id);
    if (frame.type === 'error') return onServerError(s, frame.body);
    if (isCommandType(frame.type)) {
      // Judged at arrival: admission runs later (after awaits), by when a welcome behind it may have completed.
      if (!s.connected) return ackCommand(s, frame, 'rejected', { code: 'FRAME_INVALID', message: `${frame.type} arrived before the handshake completed` });
      return enqueueCommand(s, frame as Frame & { type: CommandType });
    }
    sendError(s, 'FRAME_UNKNOWN_TYPE', `${frame.type} is not expected here`, frame.id);
  }

  async function onServerHello(s: Session, frame: Frame<'server.hello'>): Promise<void> {
    if (s.hello) return void sendError(s, 'FRAME_INVALID', 'server.hello was already received', frame.id);
    const reg = s.registration;
    // The server proves its key over this session before anything secret or signed leaves the device.
    const verdict = checkServerHello(frame, {
      agentNonce: s.agentNonce, deviceKey: reg.publicKey, channel: s.channel, pinned: reg.serverKeys, enrolled: reg.deviceId !== null,
      requireChannelBinding: settings.requireChannelBinding,
    });
    if (!verdict.ok) return refuse(s, verdict);
    const hello = frame.body;
    s.hello = hello;
    // serverTime is signed and answers this session's nonce: the server's own word, not a bystander's. From here
    // on server time runs on the monotonic clock, whatever the wall clock does.
    serverClock.anchor(anchorOf(hello.serverTime, s.helloSentAt, clock.monotonic()));
    const clockSkewMs = serverClock.skewMs()!;
    setStatus({ clockSkewMs });
    if (Math.abs(clockSkewMs) > CLOCK_SKEW_PROBLEM_MS) logger.warn('device clock differs from the server clock', { clockSkewMs });
    if (!verdict.firstUse) {
      // Retired keys go: the ancestors of a key reached through endorsements, and whatever the server no longer
      // lists as active (a retire that never arrived, a key slipped in by someone holding a retired one).
      const pins = pinsAfterHello(reg.serverKeys, hello, verdict.added.length > 0);
      if (JSON.stringify(pins) !== JSON.stringify(reg.serverKeys)) {
        s.registration = await identity.setServerKeys(pins);
        logger.info('pinned server keys updated from the server\'s proven hello', { keys: pins.map(keyFingerprint), dropped: reg.serverKeys.filter((k) => !pins.includes(k)).map(keyFingerprint), links: verdict.added.length });
      }
    }
    const facts = { ...(await deviceFacts()), ...(s.registration.serverKeys.length ? { serverKeys: s.registration.serverKeys.slice(-16) } : {}) };
    const pem = await identity.privateKeyPem();
    const proof = { serverNonce: hello.nonce, channel: s.channel, facts, devicePrivateKeyPem: pem, now: clock.now() };
    if (!reg.deviceId) {
      if (!reg.enrollmentToken) return refuse(s, { code: 'ENROLLMENT_TOKEN_MISSING', message: 'not enrolled and no enrollment token recorded' });
      logger.info('enrolling with the server', { server: reg.serverUrl, deviceKey: keyFingerprint(reg.publicKey) });
      s.sent = { type: 'enroll' };
      send(s, enrollFrame({ ...proof, token: reg.enrollmentToken, publicKey: reg.publicKey }));
      return;
    }
    s.sent = { type: 'auth', deviceId: reg.deviceId };
    send(s, authFrame({ ...proof, deviceId: reg.deviceId }));
  }

  async function onWelcome(s: Session, frame: Frame<'welcome'>): Promise<void> {
    if (!s.hello || !s.sent || s.connected) return void sendError(s, 'FRAME_INVALID', 'welcome is only valid once, after server.hello and auth or enroll', frame.id);
    const verdict = checkWelcome(frame, { serverKey: s.hello.serverKey, agentNonce: s.agentNonce, sent: s.sent });
    if (!verdict.ok) return refuse(s, verdict);
    const welcome = frame.body;
    if (s.sent.type === 'enroll') s.registration = await identity.markEnrolled(welcome.deviceId, s.hello.serverKey);
    s.deviceId = welcome.deviceId;
    // lastSeq is the server's word on what it stored. Beyond the highest report this device numbered, it is the
    // device whose state folder was restored (a VM snapshot, a backup): the server holds those numbers, so the
    // numbering moves past them, or the new reports would be dropped as duplicates. It is bounded: near 2^53 it
    // would move the numbering past what the report schema accepts (no report could be made again), so beyond
    // MAX_RESTORED_SEQ it is refused and nothing moves.
    const numbered = outbox.stats().nextSeq - 1;
    const lastSeqValid = welcome.lastSeq <= numbered || welcome.lastSeq <= MAX_RESTORED_SEQ;
    if (welcome.lastSeq > numbered && lastSeqValid) logger.warn('the server holds reports this device has no record of numbering (state restored?); numbering moves past them', { lastSeq: welcome.lastSeq, numbered });
    if (lastSeqValid) await outbox.ackUpTo(welcome.lastSeq);
    // A stop (or a close) while the writes above ran: this session is over, so nothing may start on it (a
    // heartbeat interval started here once kept a stopped agent's process alive for ever).
    if (stopped || session !== s) return;
    // Refused: every report not acknowledged before goes out again.
    s.sentUpTo = lastSeqValid ? welcome.lastSeq : outbox.stats().lastAckedSeq;
    s.connected = true;
    if (s.handshakeTimer) clearTimeout(s.handshakeTimer);
    // The device's own interval bounds how long it trusts a silent peer, even when the server pings less often.
    startHeartbeat(s, Math.min(settings.heartbeatSec, welcome.heartbeatSec));
    setStatus({ phase: 'connected', connectedAt: clock.now(), attempts: 0, lastError: null, nextRetryAt: null });
    logger.info('connected to the server', { deviceId: welcome.deviceId, enrolled: welcome.enrolled, lastSeq: welcome.lastSeq });
    if (!lastSeqValid) {
      logger.warn('server claims reports this device never made; ignored', { lastSeq: welcome.lastSeq, numbered });
      sendError(s, 'REPORT_ACK_INVALID', `welcome.lastSeq ${welcome.lastSeq} is beyond the highest report this device numbered (${numbered}); nothing was deleted, reports are sent from ${s.sentUpTo + 1}`, frame.id);
    }
    await resendOutcomes(s);
    void flush(s);
  }

  // The server may only acknowledge what this connection sent: an ack beyond it would delete reports the
  // server never stored. It is a protocol error, answered and ignored.
  async function onReportAck(s: Session, upTo: number, id: string): Promise<void> {
    if (!s.connected) return;
    if (upTo > s.sentUpTo) {
      logger.warn('server acknowledged reports that were never sent; ignored', { upTo, sentUpTo: s.sentUpTo });
      return void sendError(s, 'REPORT_ACK_INVALID', `report.ack upTo ${upTo} is beyond the highest report sent (${s.sentUpTo}); nothing was deleted`, id);
    }
    await outbox.ackUpTo(upTo);
    const confirmed = s.unconfirmed.filter((u) => u.afterSeq <= upTo);
    if (!confirmed.length || !outcomes) return;
    s.unconfirmed = s.unconfirmed.filter((u) => u.afterSeq > upTo);
    await outcomes.confirm(confirmed.map((u) => u.commandId)).catch((err: unknown) => logger.warn('command outcomes not updated', { error: err }));
  }

  /** Final acks the server may not have: sent again after every welcome (it records only the first). */
  async function resendOutcomes(s: Session): Promise<void> {
    if (!outcomes) return;
    const pending = await outcomes.unconfirmed().catch((err: unknown) => (logger.warn('command outcomes unreadable', { error: err }), []));
    for (const o of pending) sendJournaled(s, o.commandId, o.status, o.reason);
    if (pending.length) logger.info('command outcomes sent again', { commands: pending.length });
  }

  function sendJournaled(s: Session, commandId: string, status: CommandOutcome['status'], reason?: LastError): void {
    if (!s.connected || session !== s) return;
    send(s, makeFrame('ack', { commandId, status, ...(reason ? { reason: { code: reason.code.slice(0, 64), message: reason.message.slice(0, 2048) } } : {}) }, clock.now()));
    // A report appended from now on goes out after this ack; its report.ack means the ack is committed too.
    s.unconfirmed.push({ commandId, afterSeq: outbox.stats().nextSeq });
  }

  /** A final outcome known outside a command's own handling (a job that outlived the agent that started it). */
  async function settle(commandId: string, outcome: CommandOutcome): Promise<void> {
    if (outcome.later) return;
    const reason = outcome.reason ? { code: outcome.reason.code.slice(0, 64), message: outcome.reason.message.slice(0, 2048) } : undefined;
    if (outcomes) await outcomes.record({ commandId, status: outcome.status, ...(reason ? { reason } : {}) });
    logger.info('command settled', { commandId, status: outcome.status, code: outcome.reason?.code });
    if (session) sendJournaled(session, commandId, outcome.status, reason);
  }

  function onServerError(s: Session, body: BodyOf<'error'>): void {
    logger.warn('server reported an error', { code: body.code, reason: body.message, ref: body.ref });
    if (!body.fatal && !REFUSALS.has(body.code)) return;
    // Error frames are not signed (and come before authentication too): a hostile one must not park the
    // device for a day. The wait is honoured up to the configured maximum; the long DEVICE_REVOKED wait only
    // once this session's server proved its key (server.hello): before that anyone on the path can send it.
    const proven = s.hello !== null;
    s.error = { code: body.code, message: proven ? body.message : `${body.message} (unproven: sent before the server proved its key)` };
    s.refused = REFUSALS.has(body.code);
    s.revoked = proven && body.code === 'DEVICE_REVOKED';
    s.retryAfterMs = body.retryAfterMs === undefined ? undefined : Math.min(body.retryAfterMs, settings.backoffMaxMs);
    // `fatal` means the sender closes after it; one that keeps the socket open must not hold the device
    // (until the handshake timeout, or forever once connected): a second's grace, then the agent drops it.
    if (body.fatal) {
      if (s.handshakeTimer) clearTimeout(s.handshakeTimer);
      s.handshakeTimer = setTimeout(() => s.ws.terminate(), FATAL_CLOSE_GRACE_MS);
    }
  }

  // A half-open peer (gone without a FIN) answers nothing: at the second tick with the previous ping unanswered
  // (silent for ~two intervals; 1.5 absorbs timer drift) the socket is dropped.
  function startHeartbeat(s: Session, heartbeatSec: number): void {
    const intervalMs = heartbeatSec * 1000;
    s.lastHeard = heardNow();
    s.heartbeat = setInterval(() => {
      // The monotonic clock keeps a backward wall-clock step from hiding a dead peer; the wall clock counts time
      // suspended, which the monotonic clock does not (after a resume the socket is dropped at once, as it
      // should be). A forward step costs at most one needless reconnect.
      const silentMs = Math.max(clock.monotonic() - s.lastHeard.monotonic, clock.now() - s.lastHeard.wall);
      if (silentMs > 1.5 * intervalMs) {
        s.error = { code: 'SERVER_UNREACHABLE', message: `no answer for ${2 * heartbeatSec} s (half-open connection)` };
        s.ws.terminate();
        return;
      }
      if (s.ws.readyState === WebSocket.OPEN) s.ws.ping();
    }, intervalMs);
  }

  async function flush(s: Session): Promise<void> {
    if (s.flushing) {
      s.flushAgain = true;
      return;
    }
    s.flushing = true;
    try {
      // Batches keep a large backlog (after a long outage) from being read into memory at once.
      for (;;) {
        s.flushAgain = false;
        const batch = await outbox.pending(FLUSH_BATCH, s.sentUpTo);
        for (const report of batch) {
          if (session !== s || !s.connected || !send(s, makeFrame('report', report, clock.now()))) return;
          s.sentUpTo = report.seq;
        }
        if (batch.length < FLUSH_BATCH && !s.flushAgain) return;
      }
    } catch (err) {
      logger.error('outbox flush failed', { error: err });
    } finally {
      s.flushing = false;
    }
  }

  // A command is admitted as soon as it arrives (verified, its id made durable, acked "accepted") and applied
  // after the commands before it, one at a time. Admissions overlap, so a burst shares one sync of the replay
  // journal instead of paying one per command. A key.rotate holds back the admission of later commands until it
  // is applied: they are checked against the keys it leaves trusted, as if one at a time.
  function enqueueCommand(s: Session, frame: Frame & { type: CommandType }): void {
    const admitted = s.admissions.then(() => admitCommand(s, frame));
    s.commands = s.commands
      .then(async () => {
        if (await admitted) await applyCommand(s, frame);
      })
      .catch((err: unknown) => void logger.error('command handling failed', { error: err }));
    if (frame.type === 'key.rotate') s.admissions = s.commands;
  }

  function ackCommand(s: Session, frame: Frame, status: 'accepted' | CommandOutcome['status'], reason?: LastError): void {
    send(s, makeFrame('ack', { commandId: frame.id, status, ...(reason ? { reason: { code: reason.code.slice(0, 64), message: reason.message.slice(0, 2048) } } : {}) }, clock.now()));
  }

  /** True once the command may run: "accepted" is acked only after its id is durable in the replay journal. */
  async function admitCommand(s: Session, frame: Frame & { type: CommandType }): Promise<boolean> {
    try {
      const reg = await identity.load();
      if (!s.connected || !s.deviceId || !reg) {
        ackCommand(s, frame, 'rejected', { code: 'FRAME_INVALID', message: `${frame.type} arrived before the handshake completed` });
        return false;
      }
      // The window is applied against the server's time (its serverTime at the handshake + monotonic time since),
      // so a device whose clock is off, or steps while connected, still takes fresh commands and refuses old ones.
      // After a welcome it is always known.
      const serverNow = serverClock.now() ?? clock.now();
      const skew = serverNow - clock.now();
      // The check and the remember below run without an await between them: a duplicate in the same burst is seen.
      const verdict = checkCommand(frame, {
        trustedKeys: reg.serverKeys, deviceId: s.deviceId, now: serverNow, windowMs: settings.commandWindowSec * 1000, alreadySeen: (id) => replay.seen(id),
        clockNote: skew ? `server time; the device clock is ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'behind' : 'ahead of'} the server` : 'server time',
      });
      if (!verdict.ok) {
        logger.warn('command rejected', { type: frame.type, commandId: frame.id, code: verdict.code, reason: verdict.message });
        ackCommand(s, frame, 'rejected', verdict);
        return false;
      }
      // Kept in server-time terms (the signed ts itself): the replay guard prunes by the same server clock, so no
      // step of the device clock can make it forget an id the window above would still accept.
      await replay.remember(frame.id, frame.ts);
      ackCommand(s, frame, 'accepted');
      return true;
    } catch (err) {
      // Not remembered, so not acked: the server sees no ack and may send it again.
      logger.error('command handling failed', { type: frame.type, commandId: frame.id, error: err });
      return false;
    }
  }

  async function applyCommand(s: Session, frame: Frame & { type: CommandType }): Promise<void> {
    let outcome: CommandOutcome;
    const startedAt = clock.now();
    try {
      outcome = await onCommand(frame);
    } catch (err) {
      outcome = { status: 'failed', reason: { code: isRmError(err) ? err.code : 'INTERNAL', message: (err as Error).message ?? String(err) } };
    }
    if (outcome.later) {
      logger.info('command handed over; its outcome follows', { type: frame.type, commandId: frame.id });
      return;
    }
    logger.info('command handled', { type: frame.type, commandId: frame.id, status: outcome.status, code: outcome.reason?.code });
    // A long command, or one whose connection ended meanwhile: its outcome must survive until the server has it.
    const atRisk = clock.now() - startedAt >= JOURNALED_AFTER_MS || !s.connected || session !== s || stopped;
    if (atRisk && outcomes) {
      try {
        return await settle(frame.id, outcome);
      } catch (err) {
        logger.warn('command outcome not journaled', { commandId: frame.id, error: err });
      }
    }
    ackCommand(s, frame, outcome.status, outcome.reason);
  }

  return {
    start() {
      if (started) return;
      started = true;
      outbox.onAppend(() => {
        if (session?.connected && !stopped) void flush(session);
      });
      void attempt();
    },
    settle,
    async stop() {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      const s = session;
      if (s) {
        if (s.heartbeat) clearInterval(s.heartbeat);
        await new Promise<void>((resolve) => {
          if (s.ws.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(() => { s.ws.terminate(); resolve(); }, STOP_BUDGET_MS);
          s.ws.once('close', () => { clearTimeout(timer); resolve(); });
          s.ws.close(1000, 'agent stopping');
        });
        // A command in progress may finish its disk writes, within the same budget.
        await waitAtMost(STOP_BUDGET_MS, s.commands);
      }
      setStatus({ phase: 'stopped', connectedAt: null, nextRetryAt: null });
    },
    async unenroll(reason) {
      // Told only over an authenticated connection; the server forgets the device and closes it.
      const s = session;
      if (!s?.connected || stopped) return false;
      stopped = true; // no reconnect once the server closes the socket
      if (retryTimer) clearTimeout(retryTimer);
      const closed = new Promise<void>((resolve) => {
        if (s.ws.readyState === WebSocket.CLOSED) return resolve();
        s.ws.once('close', () => resolve());
      });
      const sent = send(s, makeFrame('unenroll', { reason: reason.slice(0, 256) }, clock.now()));
      if (sent) await waitAtMost(STOP_BUDGET_MS, closed);
      return sent;
    },
    status: current,
    peerCertificatePin: () => (session?.connected ? session.certPin : null),
    onStatus(listener) {
      listeners.push(listener);
    },
  };
}

/** The envelope version of a frame that did not parse (a server of another protocol), or null. */
function envelopeVersion(text: string): number | null {
  try {
    const raw = JSON.parse(text) as { v?: unknown };
    return typeof raw?.v === 'number' && Number.isInteger(raw.v) ? raw.v : null;
  } catch {
    return null;
  }
}
