// The pure handshake decisions (src/protocol/handshake.ts), case by case: what makes a server.hello, a welcome and
// an agent's auth/enroll acceptable. The socket-level attacks are in test/security/handshake.test.ts.
import { describe, expect, it } from 'vitest';
import { makeFrame, type Channel, type Frame } from '../../src/protocol/frames.js';
import { agentHello, authFrame, checkAgentProof, checkServerHello, checkWelcome, enrollFrame, newNonce, serverHello, welcomeFrame, type ServerHelloContext } from '../../src/protocol/handshake.js';
import { endorseKey } from '../../src/protocol/key-chain.js';
import { generateKeyPair, signFrame } from '../../src/protocol/sign.js';

const server = generateKeyPair();
const device = generateKeyPair();
const other = generateKeyPair();
const now = 1_767_225_600_000;
const tls = (v: string): Channel => ({ kind: 'tls-exporter', value: Buffer.alloc(32, v).toString('base64') });
const facts = { hostname: 'h', platform: 'linux', arch: 'x64', osRelease: '6', agentVersion: '0.1.0', alias: null, teamviewer: null };

function session(channel: Channel = { kind: 'none' }, key = server) {
  const hello = agentHello(device.publicKey, newNonce(), '0.1.0', now);
  const reply = serverHello({ hello: hello.body, nonce: newNonce(), channel, serverKey: key, now });
  const ctx: ServerHelloContext = { agentNonce: hello.body.nonce, deviceKey: device.publicKey, channel, pinned: [server.publicKey], enrolled: true, requireChannelBinding: false };
  return { hello, reply, ctx };
}

describe('checkServerHello', () => {
  it('accepts a proof by the pinned key for this nonce, device and channel', () => {
    const { reply, ctx } = session(tls('a'));
    expect(checkServerHello(reply, { ...ctx, channel: tls('a') })).toEqual({ ok: true, added: [], firstUse: false });
  });
  it('refuses a proof signed by another key than the one presented, or altered after signing', () => {
    const { reply, ctx } = session();
    const forged = serverHello({ hello: { protocol: 2, nonce: ctx.agentNonce, deviceKey: device.publicKey, agentVersion: 'x' }, nonce: newNonce(), channel: { kind: 'none' }, serverKey: other, now });
    expect(checkServerHello({ ...forged, body: { ...forged.body, serverKey: server.publicKey } }, ctx)).toMatchObject({ ok: false, code: 'SERVER_PROOF_INVALID' });
    expect(checkServerHello({ ...reply, body: { ...reply.body, serverTime: now + 1 } }, ctx)).toMatchObject({ ok: false, code: 'SERVER_PROOF_INVALID' });
    expect(checkServerHello({ ...reply, sig: undefined } as Frame<'server.hello'>, ctx)).toMatchObject({ ok: false, code: 'SERVER_PROOF_INVALID' });
  });
  it('refuses a proof for another session or another device', () => {
    const { reply, ctx } = session();
    expect(checkServerHello(reply, { ...ctx, agentNonce: newNonce() })).toMatchObject({ ok: false, code: 'SERVER_PROOF_INVALID', message: expect.stringContaining('another session') });
    expect(checkServerHello(reply, { ...ctx, deviceKey: other.publicKey })).toMatchObject({ ok: false, code: 'SERVER_PROOF_INVALID' });
  });
  it('channel: refuses another TLS channel and a TLS proof on plain ws; accepts none on TLS unless binding is required', () => {
    expect(checkServerHello(session(tls('b')).reply, { ...session(tls('b')).ctx, channel: tls('a') })).toMatchObject({ ok: false });
    const b = session(tls('b'));
    expect(checkServerHello(b.reply, { ...b.ctx, channel: tls('a') })).toMatchObject({ ok: false, code: 'SERVER_PROOF_INVALID', message: expect.stringContaining('another TLS channel') });
    expect(checkServerHello(b.reply, { ...b.ctx, channel: { kind: 'none' } })).toMatchObject({ ok: false, code: 'SERVER_PROOF_INVALID' });
    const n = session({ kind: 'none' });
    expect(checkServerHello(n.reply, { ...n.ctx, channel: tls('a') })).toMatchObject({ ok: true });
    expect(checkServerHello(n.reply, { ...n.ctx, channel: tls('a'), requireChannelBinding: true })).toMatchObject({ ok: false, code: 'SERVER_PROOF_INVALID' });
  });
  it('key trust: an unpinned key is refused; endorsements from a pinned key are followed; no pins is first use only before enrollment', () => {
    const o = session({ kind: 'none' }, other);
    expect(checkServerHello(o.reply, o.ctx)).toMatchObject({ ok: false, code: 'SERVER_KEY_MISMATCH' });
    const endorsed = serverHello({ hello: o.hello.body, nonce: newNonce(), channel: { kind: 'none' }, serverKey: other, endorsements: [endorseKey(other.publicKey, server.publicKey, server.privateKeyPem)], now });
    expect(checkServerHello(endorsed, o.ctx)).toMatchObject({ ok: true, added: [other.publicKey] });
    expect(checkServerHello(o.reply, { ...o.ctx, pinned: [], enrolled: false })).toMatchObject({ ok: true, firstUse: true });
    expect(checkServerHello(o.reply, { ...o.ctx, pinned: [], enrolled: true })).toMatchObject({ ok: false, code: 'SERVER_KEY_MISMATCH' });
  });
});

describe('checkWelcome', () => {
  const nonce = newNonce();
  const welcome = (body: { deviceId: string; enrolled: boolean }, key = server, agentNonce = nonce) => welcomeFrame({ agentNonce, ...body, heartbeatSec: 30, lastSeq: 0, serverKey: key, now });
  const authed = { serverKey: server.publicKey, agentNonce: nonce, sent: { type: 'auth' as const, deviceId: 'dev-1' } };
  const enrolling = { ...authed, sent: { type: 'enroll' as const } };
  it('accepts the own id after auth and a new id after enroll', () => {
    expect(checkWelcome(welcome({ deviceId: 'dev-1', enrolled: false }), authed)).toEqual({ ok: true });
    expect(checkWelcome(welcome({ deviceId: 'dev-9', enrolled: true }), enrolling)).toEqual({ ok: true });
  });
  it('refuses an unsigned, foreign-signed or other-session welcome', () => {
    expect(checkWelcome(makeFrame('welcome', { agentNonce: nonce, deviceId: 'dev-1', enrolled: false, heartbeatSec: 30, lastSeq: 0 }) as Frame<'welcome'>, authed)).toMatchObject({ ok: false, code: 'SERVER_PROOF_INVALID' });
    expect(checkWelcome(welcome({ deviceId: 'dev-1', enrolled: false }, other), authed)).toMatchObject({ ok: false, code: 'SERVER_PROOF_INVALID' });
    expect(checkWelcome(welcome({ deviceId: 'dev-1', enrolled: false }, server, newNonce()), authed)).toMatchObject({ ok: false, code: 'SERVER_PROOF_INVALID' });
  });
  it('re-targeting: another id or enrolled:true after auth is DEVICE_ID_MISMATCH; enrolled:false after enroll is ENROLLMENT_FAILED', () => {
    expect(checkWelcome(welcome({ deviceId: 'dev-2', enrolled: false }), authed)).toMatchObject({ ok: false, code: 'DEVICE_ID_MISMATCH' });
    expect(checkWelcome(welcome({ deviceId: 'dev-2', enrolled: true }), authed)).toMatchObject({ ok: false, code: 'DEVICE_ID_MISMATCH' });
    expect(checkWelcome(welcome({ deviceId: 'dev-1', enrolled: true }), authed)).toMatchObject({ ok: false, code: 'DEVICE_ID_MISMATCH' });
    expect(checkWelcome(welcome({ deviceId: 'dev-2', enrolled: false }), enrolling)).toMatchObject({ ok: false, code: 'ENROLLMENT_FAILED' });
  });
});

describe('checkAgentProof', () => {
  const serverNonce = newNonce();
  const auth = (over: { channel?: Channel; serverNonce?: string; key?: typeof device } = {}) =>
    authFrame({ deviceId: 'dev-1', serverNonce: over.serverNonce ?? serverNonce, channel: over.channel ?? tls('a'), facts, devicePrivateKeyPem: (over.key ?? device).privateKeyPem, now });
  it('accepts the device key over this nonce and channel', () => {
    expect(checkAgentProof(auth(), { serverNonce, channel: tls('a'), publicKey: device.publicKey })).toEqual({ ok: true });
    // A server behind a TLS-terminating proxy sees no channel and cannot compare it.
    expect(checkAgentProof(auth(), { serverNonce, channel: { kind: 'none' }, publicKey: device.publicKey })).toEqual({ ok: true });
  });
  it('refuses another key, another nonce, another TLS channel, a missing signature', () => {
    expect(checkAgentProof(auth({ key: other }), { serverNonce, channel: tls('a'), publicKey: device.publicKey })).toMatchObject({ ok: false, code: 'AUTH_FAILED' });
    expect(checkAgentProof(auth({ serverNonce: newNonce() }), { serverNonce, channel: tls('a'), publicKey: device.publicKey })).toMatchObject({ ok: false, code: 'AUTH_FAILED' });
    expect(checkAgentProof(auth({ channel: tls('b') }), { serverNonce, channel: tls('a'), publicKey: device.publicKey })).toMatchObject({ ok: false, code: 'AUTH_FAILED' });
    expect(checkAgentProof({ ...auth(), sig: undefined } as Frame<'auth'>, { serverNonce, channel: tls('a'), publicKey: device.publicKey })).toMatchObject({ ok: false });
  });
  it('enroll proves possession of the key it enrolls', () => {
    const enroll = enrollFrame({ token: 'token-123456', publicKey: device.publicKey, serverNonce, channel: { kind: 'none' }, facts, devicePrivateKeyPem: other.privateKeyPem, now });
    expect(checkAgentProof(enroll, { serverNonce, channel: { kind: 'none' }, publicKey: enroll.body.publicKey })).toMatchObject({ ok: false, code: 'ENROLLMENT_REFUSED' });
    const good = signFrame({ ...enroll, sig: undefined } as Frame<'enroll'>, device.privateKeyPem);
    expect(checkAgentProof(good, { serverNonce, channel: { kind: 'none' }, publicKey: good.body.publicKey })).toEqual({ ok: true });
  });
});
