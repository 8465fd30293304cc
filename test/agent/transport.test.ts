// TLS for real: a wss:// server on loopback with a self-signed certificate made by openssl; the agent's TLS
// options trust it through caFile and accept or refuse it by its SPKI pin.
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { spkiSha256, tlsOptions } from '../../src/agent/transport.js';
import type { LearnedPins } from '../../src/agent/tls-pins.js';
import { configSchema } from '../../src/config/schema.js';

let server: Server;
let url: string;
let caFile: string;
let pin: string;
// A second server whose self-signed certificate is not the caFile's: it stands for a public CA's server in the
// fallback test (its certificate is passed as the "bundled roots").
let otherServer: Server;
let otherUrl: string;
let otherCert: string;

function selfSigned(dir: string, name: string): { cert: Buffer; key: Buffer; file: string } {
  const file = path.join(dir, `${name}.pem`);
  const keyFile = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyFile, '-out', file], { stdio: 'ignore', timeout: 20_000 });
  return { cert: readFileSync(file), key: readFileSync(keyFile), file };
}

async function wssServer(cert: Buffer, key: Buffer): Promise<{ server: Server; url: string }> {
  const s = createServer({ cert, key });
  new WebSocketServer({ server: s, path: '/agent' });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return { server: s, url: `wss://127.0.0.1:${(s.address() as AddressInfo).port}/agent` };
}

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-tls-'));
  const own = selfSigned(dir, 'cert');
  caFile = own.file;
  pin = createHash('sha256').update(new X509Certificate(own.cert).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  ({ server, url } = await wssServer(own.cert, own.key));
  const other = selfSigned(dir, 'other');
  otherCert = other.cert.toString();
  ({ server: otherServer, url: otherUrl } = await wssServer(other.cert, other.key));
});
afterAll(async () => {
  for (const s of [server, otherServer]) await new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); });
});

function connect(connection: Record<string, unknown>, learned: LearnedPins | null = null, to = url, roots?: string[]): Promise<string> {
  const config = configSchema().parse({ stateDir: '/tmp/x', logDir: '/tmp/x', connection });
  return new Promise((resolve) => {
    const ws = new WebSocket(to, { ...tlsOptions(config, learned, undefined, roots), handshakeTimeout: 5_000 });
    ws.on('open', () => { ws.close(); resolve('open'); });
    ws.on('error', (err) => resolve(err.message));
  });
}

describe('TLS options', () => {
  it('refuses an unknown self-signed certificate, accepts it with caFile', async () => {
    expect(await connect({})).toMatch(/self[- ]signed/i);
    expect(await connect({ caFile })).toBe('open');
  });

  it('accepts the pinned public key and refuses any other pin', async () => {
    expect(spkiSha256({ raw: new X509Certificate(readFileSync(caFile)).raw })).toBe(pin);
    expect(await connect({ caFile, pinSha256: pin })).toBe('open');
    const wrong = createHash('sha256').update('another key').digest('base64');
    expect(await connect({ caFile, pinSha256: wrong })).toContain('does not match the pinned');
  });

  it('enforces the pins learned over the config pin: any pin of the set opens, a set without this key refuses', async () => {
    const other = createHash('sha256').update('another key').digest('base64');
    // Learned over the config pin `other`: the set [other, pin] is in force although the config pin alone would refuse.
    expect(await connect({ caFile, pinSha256: other }, { tlsPins: [other, pin], tlsPinsBase: other })).toBe('open');
    expect(await connect({ caFile, pinSha256: pin }, { tlsPins: [other], tlsPinsBase: pin })).toContain('does not match the pinned');
    // Without a config pin the learned set is not used at all.
    expect(await connect({ caFile }, { tlsPins: [other], tlsPinsBase: other })).toBe('open');
  });

  it('with caFile, trusts the bundled roots too: a server the caFile\'s CA did not sign connects when a root signed it', async () => {
    // The caFile's CA is tried alone first; the other server's chain leads to a "root" only, so the roots + caFile step opens.
    expect(await connect({ caFile }, null, otherUrl, [otherCert])).toBe('open');
    expect(await connect({ caFile }, null, url, [otherCert])).toBe('open');
  });

  it('with caFile, a server neither the caFile\'s CA nor any root signed is refused (no step skips verification)', async () => {
    expect(await connect({ caFile }, null, otherUrl, [])).toMatch(/self[- ]signed/i);
    expect(await connect({ caFile }, null, otherUrl)).toMatch(/self[- ]signed/i);
    // A pin is checked on the fallback step too.
    const wrong = createHash('sha256').update('another key').digest('base64');
    expect(await connect({ caFile, pinSha256: wrong }, null, otherUrl, [otherCert])).toContain('does not match the pinned');
  });

  it('a server that is not there fails as unreachable, once, without a second attempt hiding the cause', async () => {
    const closed = url.replace(/:\d+\//, ':1/');
    expect(await connect({ caFile }, null, closed)).toMatch(/ECONNREFUSED/);
  });
});
