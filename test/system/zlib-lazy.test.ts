// The lazy zlib of the agent's single executables (installer/sea/shims/zlib-lazy.cjs): `ws` bundled with it as
// installer/sea/build.sh bundles the agent. Against a server that does not offer permessage-deflate (ours), Node's
// zlib is never loaded; against one that does, messages are compressed both ways exactly as with Node's zlib.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';

const ROOT = path.resolve(__dirname, '../..');
const run = promisify(execFile);
let bundle: string;
const servers: WebSocketServer[] = [];

/** An echo server on loopback; with `deflate`, permessage-deflate on every message (threshold 0). */
async function echoServer(deflate: boolean): Promise<{ url: string; extensions: string[] }> {
  const extensions: string[] = [];
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: deflate ? { threshold: 0 } : false });
  servers.push(wss);
  wss.on('connection', (ws) => {
    extensions.push(ws.extensions);
    ws.on('message', (m) => ws.send(`echo ${m.toString()}`));
  });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/agent`, extensions };
}

async function client(url: string): Promise<{ outcome: string; zlibLoaded: boolean; sameKeys: boolean }> {
  const { stdout } = await run(process.execPath, [bundle, url], { encoding: 'utf8', timeout: 20_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as { outcome: string; zlibLoaded: boolean; sameKeys: boolean };
}

beforeAll(() => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-zlib-lazy-'));
  const entry = path.join(dir, 'client.cjs');
  writeFileSync(entry, `const WebSocket = require('ws');
const url = process.argv[2];
const loaded = () => process.moduleLoadList.includes('NativeModule zlib');
const done = (outcome) => {
  const zlibLoaded = loaded();
  // Read after the verdict above: enumerating the stand-in loads the real module.
  const sameKeys = JSON.stringify(Object.keys(require('zlib'))) === JSON.stringify(Object.keys(require('node:zlib')));
  console.log(JSON.stringify({ outcome, zlibLoaded, sameKeys }));
  process.exit(0);
};
const ws = new WebSocket(url, { handshakeTimeout: 3000 });
ws.on('open', () => ws.send('hello '.repeat(200).trim()));
ws.on('message', (m) => { ws.close(); done(\`\${ws.extensions || 'none'}: \${m.toString().length}\`); });
ws.on('error', (err) => done(\`error: \${err.message}\`));`);
  bundle = path.join(dir, 'client.bundle.cjs');
  const upgrade = path.join(ROOT, 'src/system/http-upgrade.ts');
  execFileSync(path.join(ROOT, 'node_modules/.bin/esbuild'), [entry, '--bundle', '--platform=node', '--format=cjs', `--alias:http=${upgrade}`, `--alias:https=${upgrade}`,
    `--alias:zlib=${path.join(ROOT, 'installer/sea/shims/zlib-lazy.cjs')}`, `--outfile=${bundle}`, '--log-level=warning'], { timeout: 60_000, env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') } });
});
afterAll(async () => {
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
});

describe('the lazy zlib of the agent executables', () => {
  it('a server without permessage-deflate: messages both ways, Node\'s zlib never loaded', async () => {
    const server = await echoServer(false);
    expect(await client(server.url)).toEqual({ outcome: `none: ${'echo '.length + 'hello '.repeat(200).trim().length}`, zlibLoaded: false, sameKeys: true });
    expect(server.extensions).toEqual(['']);
  });

  it('a server with permessage-deflate: negotiated, messages compressed both ways through the real zlib', async () => {
    const server = await echoServer(true);
    const r = await client(server.url);
    expect(r.outcome).toBe(`permessage-deflate: ${'echo '.length + 'hello '.repeat(200).trim().length}`);
    expect(r.zlibLoaded).toBe(true);
    expect(server.extensions[0]).toMatch(/^permessage-deflate/);
  });
});
