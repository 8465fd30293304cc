// The test vectors of docs/protocol.md ("Test vectors"): fixed keys (RFC 8032 seeds), fixed frames, their canonical
// bytes (RFC 8785) and Ed25519 signatures. Ed25519 signatures are deterministic, so a third party's implementation
// must produce exactly these strings.
import { createPrivateKey } from 'node:crypto';
import { makeFrame, type Frame } from '../../src/protocol/frames.js';
import { endorsementBytes } from '../../src/protocol/key-chain.js';
import { canonicalJson, publicKeyOfPrivate, signBytes, signedBytes, signFrame } from '../../src/protocol/sign.js';

// PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows it.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export function keyFromSeed(seedHex: string): { seedHex: string; publicKey: string; privateKeyPem: string } {
  const der = Buffer.concat([PKCS8_PREFIX, Buffer.from(seedHex, 'hex')]);
  const privateKeyPem = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString();
  return { seedHex, publicKey: publicKeyOfPrivate(privateKeyPem), privateKeyPem };
}

const hexRange = (from: number) => Buffer.from(Array.from({ length: 32 }, (_, i) => from + i)).toString('hex');
const b64Range = (from: number) => Buffer.from(Array.from({ length: 32 }, (_, i) => from + i)).toString('base64');

export const SERVER_SEED = hexRange(0x00);
export const DEVICE_SEED = hexRange(0x20);
export const NEXT_SERVER_SEED = hexRange(0x40);

const at = <F extends Frame>(frame: F, id: string, ts: number): F => ({ ...frame, id, ts });

/** The vectors as the docs print them. */
export function protocolVectors() {
  const server = keyFromSeed(SERVER_SEED);
  const device = keyFromSeed(DEVICE_SEED);
  const next = keyFromSeed(NEXT_SERVER_SEED);
  const agentNonce = b64Range(0x60);
  const serverNonce = b64Range(0x80);
  const ts = 1_767_225_600_000; // 2026-01-01T00:00:00Z
  const facts = { hostname: 'pc-01', platform: 'linux', arch: 'x64', osRelease: '6.8', agentVersion: '0.1.0', alias: null, teamviewer: null };
  const frames: Record<string, Frame> = {
    'agent.hello': at(makeFrame('agent.hello', { protocol: 2, nonce: agentNonce, deviceKey: device.publicKey, agentVersion: '0.1.0' }), 'ah-1', ts),
    'server.hello': signFrame(at(makeFrame('server.hello', { protocol: 2, agentNonce, deviceKey: device.publicKey, nonce: serverNonce, serverTime: ts + 5, serverKey: server.publicKey, channel: { kind: 'none' } }), 'sh-1', ts + 5), server.privateKeyPem),
    auth: signFrame(at(makeFrame('auth', { deviceId: 'dev-0123456789abcdef', serverNonce, channel: { kind: 'none' }, facts }), 'au-1', ts + 10), device.privateKeyPem),
    welcome: signFrame(at(makeFrame('welcome', { agentNonce, deviceId: 'dev-0123456789abcdef', enrolled: false, heartbeatSec: 30, lastSeq: 41 }), 'we-1', ts + 15), server.privateKeyPem),
    desired: signFrame(at(makeFrame('desired', {
      deviceId: 'dev-0123456789abcdef', actor: 'alice@example.com',
      state: { revision: 7, services: { monitoring: { policy: { id: 'pol-1', name: 'Zürich €', service: 'monitoring', version: 3, settings: { b: 1, B: 2, a: [0.5, 1e21, -0, 100] } } } } },
    }), 'de-1', ts + 20), server.privateKeyPem),
  };
  const endorsement = { key: next.publicKey, signedBy: server.publicKey, sig: signBytes(server.privateKeyPem, endorsementBytes(next.publicKey, server.publicKey)) };
  return {
    keys: { server: { seedHex: server.seedHex, publicKey: server.publicKey }, device: { seedHex: device.seedHex, publicKey: device.publicKey }, nextServer: { seedHex: next.seedHex, publicKey: next.publicKey } },
    frames: Object.fromEntries(Object.entries(frames).map(([name, f]) => [name, { wire: JSON.stringify(f), signedBytes: signedBytes(f).toString('utf8'), sig: f.sig ?? null }])),
    endorsement: { bytes: endorsementBytes(next.publicKey, server.publicKey).toString('utf8'), ...endorsement },
    canonicalExample: { input: '{"b":1,"B":2,"a":[0.5,1e21,-0,100],"é":"\\u20ac"}', canonical: canonicalJson(JSON.parse('{"b":1,"B":2,"a":[0.5,1e21,-0,100],"é":"\\u20ac"}')) },
  };
}

/** The vectors block of docs/protocol.md, exactly. */
export function vectorsMarkdown(): string {
  const v = protocolVectors();
  const lines: string[] = [];
  lines.push('Keys (seed hex → public key base64):', '', '| key | seed (hex) | public key |', '|---|---|---|');
  for (const [name, k] of Object.entries(v.keys)) lines.push(`| ${name} | \`${k.seedHex}\` | \`${k.publicKey}\` |`);
  lines.push('', 'Nonces: the agent nonce is the bytes 0x60..0x7f, the server nonce 0x80..0x9f (base64 below). The device id is `dev-0123456789abcdef`.');
  for (const [name, f] of Object.entries(v.frames)) {
    lines.push('', `**${name}**${f.sig ? '' : ' (not signed; shown for its canonical form)'}`, '', 'wire:', '', '```json', f.wire, '```', '', 'signature input:', '', '```', f.signedBytes, '```');
    if (f.sig) lines.push('', `sig: \`${f.sig}\``);
  }
  lines.push('', '**endorsement** of the next server key by the server key:', '', '```', v.endorsement.bytes, '```', '', `sig: \`${v.endorsement.sig}\``);
  return lines.join('\n');
}
