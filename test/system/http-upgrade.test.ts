// The upgrade-only `http` of the agent's single executables (src/system/http-upgrade.ts): `ws` bundled with it in
// place of Node's http and https, as installer/sea/build.sh bundles the agent, talks to a real wss:// server (TLS with
// a test certificate), and Node's HTTP stack is never loaded. What the server answers instead of a 101 (another
// status, garbage, an endless head, a hang-up) fails the connection with a reason, as with Node's http.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { MAX_HEAD_BYTES, parseResponseHead, requestHead } from '../../src/system/http-upgrade.js';

const ROOT = path.resolve(__dirname, '../..');
const run = promisify(execFile);
let dir: string;
let bundle: string;
let cert: string;
let server: Server;
let wssUrl: string;
const raw: net.Server[] = [];

/** A TCP server answering every connection with `answer` (or nothing, when null) after reading the request head. */
async function rawServer(answer: ((socket: net.Socket) => void) | null): Promise<string> {
  const s = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => answer?.(socket));
  });
  raw.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `ws://127.0.0.1:${(s.address() as AddressInfo).port}/agent`;
}

/** Runs the bundled client against `url` (a child: the servers here keep running); what happened and which HTTP modules Node loaded. */
async function client(url: string, ca?: string): Promise<{ outcome: string; httpLoaded: string[] }> {
  const { stdout } = await run(process.execPath, [bundle, url, ca ?? ''], { encoding: 'utf8', timeout: 20_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as { outcome: string; httpLoaded: string[] };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'rmagent-http-upgrade-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore', timeout: 20_000 });
  cert = path.join(dir, 'cert.pem');
  server = createHttpsServer({ cert: readFileSync(cert), key: readFileSync(path.join(dir, 'key.pem')) });
  const wss = new WebSocketServer({ server, path: '/agent', handleProtocols: (p) => (p.has('test.v1') ? 'test.v1' : false) });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo ${m.toString()}`)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  wssUrl = `wss://127.0.0.1:${(server.address() as AddressInfo).port}/agent`;
  // The client: ws with http and https aliased to the upgrade-only module, bundled as build.sh bundles the agent.
  const entry = path.join(dir, 'client.cjs');
  writeFileSync(entry, `const WebSocket = require('ws'); const fs = require('fs');
const [url, ca] = process.argv.slice(2);
const done = (outcome) => { console.log(JSON.stringify({ outcome, httpLoaded: process.moduleLoadList.filter((m) => /^NativeModule (https?|_http_\\w+)$/.test(m)) })); process.exit(0); };
const ws = new WebSocket(url, ['test.v1'], { ...(ca ? { ca: fs.readFileSync(ca) } : {}), handshakeTimeout: 3000 });
ws.on('upgrade', (res) => { if (!res.socket) done('no socket on the upgrade response'); });
ws.on('open', () => ws.send('hello'));
ws.on('message', (m) => { ws.close(); done(\`\${ws.protocol}: \${m.toString()}\`); });
ws.on('error', (err) => done(\`error: \${err.message}\`));`);
  bundle = path.join(dir, 'client.bundle.cjs');
  const shim = path.join(ROOT, 'src/system/http-upgrade.ts');
  execFileSync(path.join(ROOT, 'node_modules/.bin/esbuild'), [entry, '--bundle', '--platform=node', '--format=cjs', `--alias:http=${shim}`, `--alias:https=${shim}`, `--outfile=${bundle}`, '--log-level=warning'], { timeout: 60_000, env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') } });
});
afterAll(async () => {
  for (const s of [server, ...raw]) await new Promise<void>((r) => { (s as net.Server & { closeAllConnections?: () => void }).closeAllConnections?.(); s.close(() => r()); });
});

describe('the upgrade-only http of the agent executables', () => {
  it('ws over it: wss:// with a CA, the subprotocol chosen, messages both ways, and Node\'s HTTP stack never loaded', async () => {
    expect(await client(wssUrl, cert)).toEqual({ outcome: 'test.v1: echo hello', httpLoaded: [] });
  });

  it('the certificate is still verified: without the CA the connection fails', async () => {
    expect((await client(wssUrl)).outcome).toMatch(/^error: .*self[- ]signed/i);
  });

  it('another status, a non-HTTP answer, an endless head and a hang-up each fail the connection with a reason', async () => {
    expect((await client(await rawServer((s) => s.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n')))).outcome).toBe('error: Unexpected server response: 403');
    expect((await client(await rawServer((s) => s.end('SSH-2.0-OpenSSH_9.2\r\n\r\n')))).outcome).toMatch(/^error: Parse Error/);
    expect((await client(await rawServer((s) => s.write(`HTTP/1.1 101 Switching Protocols\r\nX: ${'a'.repeat(MAX_HEAD_BYTES)}`)))).outcome).toMatch(/^error: response head over/);
    expect((await client(await rawServer((s) => s.destroy()))).outcome).toMatch(/^error: socket hang up/);
    expect((await client(await rawServer(null))).outcome).toBe('error: Opening handshake has timed out');
  });

  it('request head: Host with the port unless default, the caller\'s headers, none that could split the request', () => {
    const head = requestHead({ createConnection: () => undefined, host: '::1', port: 8443, defaultPort: 443, path: '/agent?x=1', headers: { Upgrade: 'websocket', 'X-Bad': 'a\r\nInjected: 1', 'Bad Name': 'x' } });
    expect(head).toBe('GET /agent?x=1 HTTP/1.1\r\nHost: [::1]:8443\r\nUpgrade: websocket\r\n\r\n');
    expect(requestHead({ createConnection: () => undefined, host: 'example.org', port: 443, defaultPort: 443 })).toBe('GET / HTTP/1.1\r\nHost: example.org\r\n\r\n');
  });

  it('response head: status and lower-cased headers, repeated ones joined; anything else is not a response', () => {
    expect(parseResponseHead('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-A: 1\r\nx-a: 2')).toEqual({ httpVersion: '1.1', statusCode: 101, statusMessage: 'Switching Protocols', headers: { upgrade: 'websocket', 'x-a': '1, 2' } });
    expect(parseResponseHead('HTTP/2 200')).toBeNull();
    expect(parseResponseHead('HTTP/1.1 101 OK\r\nno colon here')).toBeNull();
  });
});
