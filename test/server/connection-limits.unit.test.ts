// The pure parts of the agent connection limits: whose address a connection counts for (trusted proxies only),
// the caps' verdicts, and the pre-auth payload limit against the largest enroll frame the protocol allows.
import { describe, expect, it } from 'vitest';
import { decideClientAddress, normalizeAddress, parseTrustedProxies } from '../../src/server/client-address.js';
import { admitSocket, createConnectionCounter, decideAdmission } from '../../src/server/connection-caps.js';
import { PRE_AUTH_MAX_PAYLOAD } from '../../src/server/gateway.js';
import { encodeFrame } from '../../src/protocol/frames.js';
import { agentHello, enrollFrame, newNonce } from '../../src/protocol/handshake.js';
import { generateKeyPair } from '../../src/protocol/sign.js';
import type { DeviceFacts } from '../../src/protocol/model.js';

describe('client address', () => {
  const proxies = parseTrustedProxies('10.0.0.5, 10.1.0.0/16,::1');

  it('is the peer address when no proxy is trusted or the peer is not one, whatever X-Forwarded-For says', () => {
    expect(decideClientAddress('203.0.113.7', '198.51.100.1', null)).toBe('203.0.113.7');
    expect(decideClientAddress('203.0.113.7', '198.51.100.1', proxies)).toBe('203.0.113.7');
    expect(decideClientAddress('::ffff:127.0.0.1', undefined, null)).toBe('127.0.0.1');
    expect(decideClientAddress(undefined, undefined, null)).toBe('unknown');
  });

  it('from a trusted proxy: the right-most entry that is not a trusted proxy; what the client wrote further left is ignored', () => {
    expect(decideClientAddress('10.0.0.5', '198.51.100.1', proxies)).toBe('198.51.100.1');
    expect(decideClientAddress('10.0.0.5', '1.2.3.4, 198.51.100.1', proxies)).toBe('198.51.100.1'); // 1.2.3.4: a forged claim
    expect(decideClientAddress('10.0.0.5', ['6.6.6.6, 198.51.100.1', '10.1.2.3'], proxies)).toBe('198.51.100.1'); // two proxies
    expect(decideClientAddress('::ffff:10.0.0.5', '::ffff:198.51.100.9', proxies)).toBe('198.51.100.9');
    expect(decideClientAddress('::1', '2001:DB8::1', proxies)).toBe('2001:db8::1');
  });

  it('from a trusted proxy without a usable header: the last address it vouches for', () => {
    expect(decideClientAddress('10.0.0.5', undefined, proxies)).toBe('10.0.0.5');
    expect(decideClientAddress('10.0.0.5', 'garbage', proxies)).toBe('10.0.0.5');
    expect(decideClientAddress('10.0.0.5', '10.1.0.9', proxies)).toBe('10.1.0.9'); // only proxies: the farthest one
  });

  it('refuses what is not an address or a range', () => {
    for (const bad of ['nginx', '10.0.0.0/33', '10.0.0.0/8/1', '::1/129', '10.0.0.1/x']) expect(() => parseTrustedProxies(bad)).toThrow(/not an IP address or CIDR range/);
    expect(normalizeAddress('::FFFF:192.0.2.1')).toBe('192.0.2.1');
  });
});

describe('connection caps', () => {
  it('503 when the node is full, 429 when the address holds its share, with a spread Retry-After; 0 = no cap', () => {
    expect(decideAdmission({ total: 10, perAddress: 3 }, 9, 2, 0)).toEqual({ ok: true });
    expect(decideAdmission({ total: 10, perAddress: 3 }, 10, 0, 0)).toMatchObject({ ok: false, status: 503, retryAfterSec: 5 });
    expect(decideAdmission({ total: 10, perAddress: 3 }, 5, 3, 0.999)).toMatchObject({ ok: false, status: 429, retryAfterSec: 89 });
    expect(decideAdmission({ total: 0, perAddress: 0 }, 1e9, 1e9, 0)).toEqual({ ok: true });
  });

  it('counts per address and releases once per connection', () => {
    const counter = createConnectionCounter({ total: 3, perAddress: 2 }, () => 0);
    const a1 = counter.take('a');
    const a2 = counter.take('a');
    expect(counter.take('a')).toMatchObject({ ok: false, status: 429 });
    const b1 = counter.take('b');
    expect(counter.take('c')).toMatchObject({ ok: false, status: 503 });
    a1.release!();
    a1.release!(); // a second close of the same socket does not free another slot
    expect(counter.counts()).toEqual({ total: 3 - 1, addresses: 2 });
    expect(counter.take('a').ok).toBe(true);
    a2.release!();
    b1.release!();
    expect(counter.counts()).toEqual({ total: 1, addresses: 1 });
  });
});

describe('pre-auth payload limit', () => {
  it('carries the largest enroll and agent.hello the schemas allow (ASCII) with at least 2x margin', () => {
    const keys = generateKeyPair();
    const s = (n: number) => 'x'.repeat(n);
    const facts: DeviceFacts = {
      hostname: s(256), platform: s(32), arch: s(32), osRelease: s(256), agentVersion: s(64), alias: s(256),
      teamviewer: {
        installed: true, edition: 'host', version: s(64), teamviewerId: '9'.repeat(20), serviceRunning: true, managed: true, managementId: s(128),
        owner: { account: s(256), company: s(256) }, installPath: s(1024), sources: Array.from({ length: 32 }, () => s(256)), warnings: Array.from({ length: 32 }, () => s(512)), detectedAt: Number.MAX_SAFE_INTEGER,
      },
      serverKeys: Array.from({ length: 16 }, () => keys.publicKey),
    };
    const enroll = encodeFrame(enrollFrame({ token: s(256), publicKey: keys.publicKey, serverNonce: newNonce(), channel: { kind: 'none' }, facts, devicePrivateKeyPem: keys.privateKeyPem, now: Date.now() }));
    const hello = encodeFrame(agentHello(keys.publicKey, newNonce(), s(64), Date.now(), Array.from({ length: 16 }, () => keys.publicKey)));
    const largest = Math.max(Buffer.byteLength(enroll), Buffer.byteLength(hello));
    expect(largest).toBeGreaterThan(25_000); // the schema really allows this much
    expect(largest * 2).toBeLessThan(PRE_AUTH_MAX_PAYLOAD);
    console.log(`largest pre-auth frame the schemas allow: ${largest} bytes; limit ${PRE_AUTH_MAX_PAYLOAD}`);
  });
});

describe('admitSocket', () => {
  it('bounds a peer\'s sockets that are not agent connections by the per-address cap (at least 64); 0 = no cap', () => {
    expect(admitSocket(100, 99, 0)).toBe(true);
    expect(admitSocket(100, 100, 0)).toBe(false);
    expect(admitSocket(100, 199, 100)).toBe(true); // 100 agents and 99 other sockets: one more may arrive
    expect(admitSocket(100, 200, 100)).toBe(false);
    expect(admitSocket(1, 63, 1)).toBe(true); // a small cap still leaves 64 for a browser and API clients
    expect(admitSocket(1, 65, 1)).toBe(false);
    expect(admitSocket(0, 1e9, 0)).toBe(true);
  });
});
