// The pure parts of the agent connection limits: whose address a connection counts for (trusted proxies only; an
// IPv6 client by its /64), the caps' verdicts, the socket bounds, how refusals are logged, and the pre-auth payload
// limit against the largest enroll frame the protocol allows.
import { describe, expect, it } from 'vitest';
import { addressGroupOf, decideClientAddress, normalizeAddress, parseTrustedProxies } from '../../src/server/client-address.js';
import { admitSocket, createConnectionCounter, createRefusalLog, decideAdmission, decideSocket, defaultNonAgentSockets } from '../../src/server/connection-caps.js';
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

describe('address group (the key per-address bounds count under)', () => {
  it('puts every address of one IPv6 /64 under one key: an attacker with a /64 is one client, not 2^64', () => {
    const group = addressGroupOf('2001:db8:1:2::1');
    expect(group).toBe('2001:db8:1:2::/64');
    for (const same of ['2001:db8:1:2::2', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0DB8:0001:0002:0:0:0:5', '2001:db8:1:2:a:b:c:d']) expect(addressGroupOf(same)).toBe(group);
    expect(addressGroupOf('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64'); // the next /64 is another client
    expect(addressGroupOf('::1')).toBe('::/64');
    expect(addressGroupOf('fe80::1%eth0')).toBe('fe80::/64');
    expect(addressGroupOf('1:2:0:0:5::')).toBe('1:2::/64');
    expect(addressGroupOf('64:ff9b::192.0.2.1')).toBe('64:ff9b::/64');
  });

  it('keeps IPv4 (also IPv4-mapped IPv6, dotted or hex) one address per client: mapped addresses share a /64 but are distinct hosts', () => {
    expect(addressGroupOf('192.0.2.1')).toBe('192.0.2.1');
    expect(addressGroupOf('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(addressGroupOf('::FFFF:192.0.2.2')).toBe('192.0.2.2');
    expect(addressGroupOf('::ffff:c000:201')).toBe('192.0.2.1');
    expect(addressGroupOf('unknown')).toBe('unknown');
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

describe('decideSocket', () => {
  const caps = { total: 0, perAddress: 100, nonAgentSockets: 50 };
  it('refuses a socket once the node holds its bound of sockets that are not agent connections, whoever sends it', () => {
    expect(decideSocket(caps, { sockets: 49, agentConnections: 0 }, { sockets: 1, agentConnections: 0 })).toEqual({ ok: true });
    expect(decideSocket(caps, { sockets: 50, agentConnections: 0 }, { sockets: 1, agentConnections: 0 })).toEqual({ ok: false, bound: 'node' });
    expect(decideSocket(caps, { sockets: 50, agentConnections: 0 }, null)).toEqual({ ok: false, bound: 'node' }); // a trusted proxy too
    expect(decideSocket(caps, { sockets: 10_049, agentConnections: 10_000 }, null)).toEqual({ ok: true }); // agent connections do not count
    expect(decideSocket(caps, { sockets: 10, agentConnections: 0 }, { sockets: 100, agentConnections: 0 })).toEqual({ ok: false, bound: 'address' });
    expect(decideSocket({ ...caps, nonAgentSockets: 0 }, { sockets: 1e9, agentConnections: 0 }, null)).toEqual({ ok: true });
  });

  it('defaults the node-wide bound to a fifth of the agent cap, at least 1,024 (10,000 with no agent cap)', () => {
    expect(defaultNonAgentSockets(50_000)).toBe(10_000);
    expect(defaultNonAgentSockets(100)).toBe(1_024);
    expect(defaultNonAgentSockets(0)).toBe(10_000);
    expect(decideSocket({ total: 100, perAddress: 0 }, { sockets: 1_023, agentConnections: 0 }, null).ok).toBe(true);
    expect(decideSocket({ total: 100, perAddress: 0 }, { sockets: 1_024, agentConnections: 0 }, null).ok).toBe(false);
  });
});

describe('createRefusalLog', () => {
  it('writes the first refusal at once, then at most one line per interval per message, counting what it left out', () => {
    const lines: Array<[string, Record<string, unknown>]> = [];
    let now = 1_000;
    const log = createRefusalLog((message, meta) => lines.push([message, meta]), () => now, 60_000);
    for (let i = 0; i < 500; i++) log('full', { bound: 5 });
    log('other');
    expect(lines).toEqual([['full', { bound: 5, refusedSinceLastLine: 1 }], ['other', { refusedSinceLastLine: 1 }]]);
    now += 59_999;
    log('full', { bound: 5 });
    expect(lines).toHaveLength(2);
    now += 1;
    log('full', { bound: 5 });
    expect(lines.at(-1)).toEqual(['full', { bound: 5, refusedSinceLastLine: 501 }]);
  });
});
