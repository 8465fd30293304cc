// The protocol v2 handshake (docs/protocol.md "Handshake"): agent.hello -> server.hello (signed by the server key
// over the agent's nonce, the device key and the channel) -> auth|enroll (signed by the device key over the
// server's nonce and the channel) -> welcome (signed by the server key over the agent's nonce).
// The agent sends nothing secret and nothing signed before the server has proven its key for this session, and
// the device id is taken from a signed welcome only. Pure decisions for both sides, plus the frame builders the
// reference server and the protocol peers of the tests share.
import { randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { ErrorCode } from './errors.js';
import { makeFrame, MAX_PINNED_KEYS, type BodyOf, type Channel, type Frame } from './frames.js';
import { followKeyChain, type Endorsement } from './key-chain.js';
import { PROTOCOL_VERSION, type DeviceFacts } from './model.js';
import { keyFingerprint, signFrame, signedBytes, verifyBytes } from './sign.js';

/** The WebSocket subprotocol an agent of this version offers; a server speaking it selects it. */
export const SUBPROTOCOL = `rmagent.v${PROTOCOL_VERSION}`;
/** RFC 9266 label for TLS channel binding through the keying material exporter (RFC 5705 / RFC 8446 7.5). */
export const CHANNEL_BINDING_LABEL = 'EXPORTER-Channel-Binding';

export const newNonce = (): string => randomBytes(32).toString('base64');

/** What this end sees of its channel: the TLS exporter value when the socket is TLS, otherwise none. */
export function channelOf(socket: unknown): Channel {
  const tls = socket as (Partial<Omit<TLSSocket, 'exportKeyingMaterial'>> & { exportKeyingMaterial?: (length: number, label: string) => Buffer }) | null;
  if (!tls || tls.encrypted !== true || typeof tls.exportKeyingMaterial !== 'function') return { kind: 'none' };
  try {
    // No context argument: RFC 9266 exports with no context (the typings make it look required; Node's is optional).
    return { kind: 'tls-exporter', value: tls.exportKeyingMaterial.call(tls, 32, CHANNEL_BINDING_LABEL).toString('base64') };
  } catch {
    return { kind: 'none' };
  }
}

const sameChannel = (a: Channel, b: Channel) => a.kind === b.kind && (a.kind === 'none' || a.value === (b as { value: string }).value);

export type Verdict<T = object> = ({ ok: true } & T) | { ok: false; code: ErrorCode; message: string };

// ---- agent side ------------------------------------------------------------------------------------------

export interface ServerHelloContext {
  /** The nonce this agent sent in agent.hello on this connection. */
  agentNonce: string;
  /** This device's public key (sent in agent.hello). */
  deviceKey: string;
  /** What this agent sees of the channel. */
  channel: Channel;
  /** Pinned server keys (empty: none given at registration). */
  pinned: readonly string[];
  /** An enrolled device never trusts on first use. */
  enrolled: boolean;
  /** Refuse a server that cannot bind to the TLS channel (TLS ended at a proxy). */
  requireChannelBinding: boolean;
}

/**
 * Decides whether a server.hello proves the server: signed by the key it presents, for this session's nonce,
 * this device and this channel, and that key pinned (or reached from a pinned key through verified endorsements,
 * or — only before the device ever enrolled and with no key pinned — trusted on first use). Pure.
 */
export function checkServerHello(frame: Frame<'server.hello'>, ctx: ServerHelloContext): Verdict<{ added: string[]; firstUse: boolean }> {
  const body = frame.body;
  const invalid = (message: string) => ({ ok: false as const, code: 'SERVER_PROOF_INVALID' as const, message });
  if (!frame.sig || !verifyBytes(body.serverKey, signedBytes(frame), frame.sig)) return invalid(`server.hello is not signed by the key it presents (${keyFingerprint(body.serverKey)})`);
  if (body.agentNonce !== ctx.agentNonce || body.deviceKey !== ctx.deviceKey) return invalid('server.hello answers another session (relayed or replayed)');
  if (body.channel.kind === 'none' && ctx.channel.kind === 'tls-exporter') {
    if (ctx.requireChannelBinding) return invalid('the server does not bind its proof to the TLS channel (TLS ends before the server?) and connection.requireChannelBinding is set');
  } else if (!sameChannel(body.channel, ctx.channel)) {
    return invalid(`server.hello was made for another ${body.channel.kind === 'none' ? 'connection' : 'TLS channel'} (relayed through a third party)`);
  }
  if (!ctx.pinned.length) {
    if (ctx.enrolled) return { ok: false, code: 'SERVER_KEY_MISMATCH', message: 'this enrolled device has no pinned server key; it does not trust a key on first use' };
    return { ok: true, added: [], firstUse: true };
  }
  const chain = followKeyChain(ctx.pinned, body.serverKey, body.endorsements);
  if (!chain.ok) return { ok: false, code: 'SERVER_KEY_MISMATCH', message: `server presents ${keyFingerprint(body.serverKey)} (${chain.message}), pinned ${ctx.pinned.map(keyFingerprint).join(', ')}` };
  // Keys form one line, oldest first. A path that starts from an older pin than the newest branches off the line
  // this device already knows: the holder of a key the server has moved past (and retired) endorsing its own.
  const newest = ctx.pinned[ctx.pinned.length - 1]!;
  if (chain.added.length && chain.from !== newest) {
    return { ok: false, code: 'SERVER_KEY_MISMATCH', message: `server presents ${keyFingerprint(body.serverKey)} endorsed from ${keyFingerprint(chain.from)}, which this device knows was succeeded by ${keyFingerprint(newest)}: a fork of the key chain (a retired key?)` };
  }
  return { ok: true, added: chain.added, firstUse: false };
}

export interface WelcomeContext {
  /** The server key proven in server.hello. */
  serverKey: string;
  agentNonce: string;
  /** What this agent sent: enroll (no device id yet) or auth (as `deviceId`). */
  sent: { type: 'enroll' } | { type: 'auth'; deviceId: string };
}

/** Decides whether a welcome may complete the handshake, and so whether its device id may be used. Pure. */
export function checkWelcome(frame: Frame<'welcome'>, ctx: WelcomeContext): Verdict {
  const body = frame.body;
  if (!frame.sig || !verifyBytes(ctx.serverKey, signedBytes(frame), frame.sig)) return { ok: false, code: 'SERVER_PROOF_INVALID', message: 'welcome is not signed by the server key proven in server.hello' };
  if (body.agentNonce !== ctx.agentNonce) return { ok: false, code: 'SERVER_PROOF_INVALID', message: 'welcome answers another session (relayed or replayed)' };
  if (ctx.sent.type === 'enroll') {
    if (!body.enrolled) return { ok: false, code: 'ENROLLMENT_FAILED', message: `the server answered the enrollment with an existing device (${body.deviceId}) instead of enrolling this one` };
    return { ok: true };
  }
  if (body.enrolled) return { ok: false, code: 'DEVICE_ID_MISMATCH', message: `the server says it enrolled a new device (${body.deviceId}) although this device authenticated as ${ctx.sent.deviceId}` };
  if (body.deviceId !== ctx.sent.deviceId) return { ok: false, code: 'DEVICE_ID_MISMATCH', message: `the server welcomed device ${body.deviceId}; this device is ${ctx.sent.deviceId}` };
  return { ok: true };
}

/** agent.hello for this device. */
export function agentHello(deviceKey: string, nonce: string, agentVersion: string, now: number, pinnedKeys: readonly string[] = []): Frame<'agent.hello'> {
  return makeFrame('agent.hello', { protocol: PROTOCOL_VERSION, nonce, deviceKey, agentVersion: agentVersion.slice(0, 64), ...(pinnedKeys.length ? { pinnedKeys: pinnedKeys.slice(-16) } : {}) }, now);
}

/**
 * The keys a device pins after a verified server.hello. Keys the server no longer lists as active are retired
 * (also the one a lost key.rotate would have retired, and any key slipped in by someone who held a retired one);
 * after following endorsements only the presented key is pinned: its ancestors are retired by definition. Pure.
 */
export function pinsAfterHello(pinned: readonly string[], hello: BodyOf<'server.hello'>, followedChain: boolean): string[] {
  let pins = followedChain ? [hello.serverKey] : [...pinned];
  // A key newer than the presented one is never dropped: the server retires keys oldest first, so only the holder
  // of an older (retired) key would ask for it.
  const at = pins.indexOf(hello.serverKey);
  if (hello.activeKeys) pins = pins.filter((k, i) => hello.activeKeys!.includes(k) || (at >= 0 && i > at));
  if (!pins.includes(hello.serverKey)) pins.push(hello.serverKey);
  return pins;
}

/** auth, signed by the device key, answering a verified server.hello. */
export function authFrame(args: { deviceId: string; serverNonce: string; channel: Channel; facts: DeviceFacts; devicePrivateKeyPem: string; now: number }): Frame<'auth'> {
  return signFrame(makeFrame('auth', { deviceId: args.deviceId, serverNonce: args.serverNonce, channel: args.channel, facts: args.facts }, args.now), args.devicePrivateKeyPem);
}

/** enroll, signed by the new device key (proof of possession), answering a verified server.hello. */
export function enrollFrame(args: { token: string; publicKey: string; serverNonce: string; channel: Channel; facts: DeviceFacts; devicePrivateKeyPem: string; now: number }): Frame<'enroll'> {
  return signFrame(makeFrame('enroll', { token: args.token, publicKey: args.publicKey, serverNonce: args.serverNonce, channel: args.channel, facts: args.facts }, args.now), args.devicePrivateKeyPem);
}

// ---- server side -----------------------------------------------------------------------------------------

/** server.hello answering `hello`, signed with the server key. */
export function serverHello(args: {
  hello: BodyOf<'agent.hello'>;
  nonce: string;
  channel: Channel;
  serverKey: { publicKey: string; privateKeyPem: string };
  endorsements?: Endorsement[];
  /** Keys not retired (the presented one among them); omitted = the device keeps its pins. */
  activeKeys?: string[];
  now: number;
}): Frame<'server.hello'> {
  const body: BodyOf<'server.hello'> = {
    protocol: PROTOCOL_VERSION, agentNonce: args.hello.nonce, deviceKey: args.hello.deviceKey, nonce: args.nonce, serverTime: args.now,
    serverKey: args.serverKey.publicKey, channel: args.channel, ...(args.endorsements?.length ? { endorsements: args.endorsements } : {}),
    // More active keys than a device pins: say nothing (devices keep their pins) rather than a partial list.
    ...(args.activeKeys?.length && args.activeKeys.length <= MAX_PINNED_KEYS ? { activeKeys: args.activeKeys } : {}),
  };
  return signFrame(makeFrame('server.hello', body, args.now), args.serverKey.privateKeyPem);
}

/** welcome, signed with the same key as server.hello. */
export function welcomeFrame(args: { agentNonce: string; deviceId: string; enrolled: boolean; heartbeatSec: number; lastSeq: number; serverKey: { privateKeyPem: string }; now: number }): Frame<'welcome'> {
  const body: BodyOf<'welcome'> = { agentNonce: args.agentNonce, deviceId: args.deviceId, enrolled: args.enrolled, heartbeatSec: args.heartbeatSec, lastSeq: args.lastSeq };
  return signFrame(makeFrame('welcome', body, args.now), args.serverKey.privateKeyPem);
}

export interface AgentProofContext {
  /** The nonce this server sent in server.hello. */
  serverNonce: string;
  /** What the server sees of the channel. */
  channel: Channel;
  /** The key the frame must be signed with: the device's registered key (auth), the enrolling key (enroll). */
  publicKey: string;
}

/**
 * Whether an auth or enroll frame proves the device key for this session: signed by it, over this server's nonce
 * and — when the server sees the TLS channel itself — over the same channel. Pure.
 */
export function checkAgentProof(frame: Frame<'auth'> | Frame<'enroll'>, ctx: AgentProofContext): Verdict {
  const fail = (message: string) => ({ ok: false as const, code: (frame.type === 'auth' ? 'AUTH_FAILED' : 'ENROLLMENT_REFUSED') as ErrorCode, message });
  if (!frame.sig || !verifyBytes(ctx.publicKey, signedBytes(frame), frame.sig)) return fail(`${frame.type} is not signed by the device key`);
  if (frame.body.serverNonce !== ctx.serverNonce) return fail(`${frame.type} answers another session (relayed or replayed)`);
  if (ctx.channel.kind === 'tls-exporter' && !sameChannel(frame.body.channel, ctx.channel)) return fail(`${frame.type} was made for another TLS channel (relayed through a third party)`);
  return { ok: true };
}
