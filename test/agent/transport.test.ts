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

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-tls-'));
  caFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyFile, '-out', caFile], { stdio: 'ignore', timeout: 20_000 });
  const cert = readFileSync(caFile);
  pin = createHash('sha256').update(new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
  server = createServer({ cert, key: readFileSync(keyFile) });
  new WebSocketServer({ server, path: '/agent' });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `wss://127.0.0.1:${(server.address() as AddressInfo).port}/agent`;
});
afterAll(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));

function connect(connection: Record<string, unknown>, learned: LearnedPins | null = null): Promise<string> {
  const config = configSchema().parse({ stateDir: '/tmp/x', logDir: '/tmp/x', connection });
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { ...tlsOptions(config, learned), handshakeTimeout: 5_000 });
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
});
