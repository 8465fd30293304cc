// Attacks on the built `rmagent-server` (a real child process) before any authentication:
// (1) one address opens far more agent connections than its cap: refused at the HTTP upgrade (429 with
//     Retry-After) beyond the cap, the node's total cap answers 503, other addresses are still served, and the
//     server's RSS stays bounded;
// (2) many sockets each announce a 2,000,000-byte frame and stream it: closed from the frame header (1009), so the
//     server never buffers them (RSS stays bounded; before the pre-auth limit it buffered ~2 MB per socket).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { spawnNode, waitForEvent, type Spawned } from '../../src/cli/processes.js';
import { agentHello, newNonce, SUBPROTOCOL } from '../../src/protocol/handshake.js';
import { encodeFrame } from '../../src/protocol/frames.js';
import { generateKeyPair } from '../../src/protocol/sign.js';
import { tempDir } from './helpers.js';

const script = path.resolve('build/src/cli/rmagent-server.js');
const MB = 1024 * 1024;

beforeAll(async () => {
  await promisify(execFile)('npm', ['run', 'build'], { timeout: 120_000 }).catch(() => undefined);
  expect(existsSync(script), 'npm run build did not produce the server entry').toBe(true);
}, 130_000);

const running: Spawned[] = [];
const sockets: Array<WebSocket | net.Socket> = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) {
    if (s instanceof WebSocket) s.terminate();
    else s.destroy();
  }
  for (const proc of running.splice(0)) await proc.stop('SIGTERM', 15_000);
});

async function serverProcess(args: string[]) {
  const proc = spawnNode(script, ['--listen', '127.0.0.1:0', '--data', await tempDir(), '--log-level', 'error', ...args]);
  running.push(proc);
  const line = await waitForEvent<{ agentUrl: string; port: number }>(proc, 'listening');
  const memory = (field: 'VmRSS' | 'VmHWM') => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${proc.child.pid}/status`, 'utf8'))![1]) * 1024;
  return { ...line, memory };
}

type Outcome = { open: true; ws: WebSocket } | { open: false; status: number; retryAfter: number };

/** One upgrade from `localAddress`: open, or the HTTP status and Retry-After it was refused with. */
function attempt(agentUrl: string, localAddress: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(agentUrl, [SUBPROTOCOL], { localAddress, handshakeTimeout: 10_000 });
    sockets.push(ws);
    ws.once('open', () => resolve({ open: true, ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ open: false, status: res.statusCode ?? 0, retryAfter: Number(res.headers['retry-after']) });
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

async function attempts(agentUrl: string, localAddress: string, count: number): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (let i = 0; i < count; i += 100) out.push(...(await Promise.all(Array.from({ length: Math.min(100, count - i) }, () => attempt(agentUrl, localAddress)))));
  return out;
}

/** The server answers agent.hello on this socket (it is really served, not just upgraded). */
async function served(ws: WebSocket): Promise<boolean> {
  const answer = new Promise<boolean>((resolve) => {
    ws.once('message', (raw) => resolve(raw.toString().includes('"server.hello"')));
    setTimeout(() => resolve(false), 5_000);
  });
  ws.send(encodeFrame(agentHello(generateKeyPair().publicKey, newNonce(), '0.1.0', Date.now())));
  return answer;
}

describe('agent connections before authentication', () => {
  it('one address opening 1,000 connections gets 100 (its cap), the rest 429 + Retry-After; another address is still served; the node cap answers 503', async () => {
    const { agentUrl, memory } = await serverProcess(['--max-agent-connections-per-address', '100', '--max-agent-connections', '150']);
    const idle = memory('VmRSS');
    const started = Date.now();

    const flood = await attempts(agentUrl, '127.0.0.1', 1_000);
    const opened = flood.filter((o) => o.open);
    const refused = flood.filter((o): o is Extract<Outcome, { open: false }> => !o.open);
    expect(opened).toHaveLength(100);
    expect(refused).toHaveLength(900);
    expect(new Set(refused.map((r) => r.status))).toEqual(new Set([429]));
    for (const r of refused) expect(r.retryAfter).toBeGreaterThanOrEqual(30);

    // Another address: served while the first one is at its cap.
    const other = await attempts(agentUrl, '127.0.0.2', 50);
    expect(other.every((o) => o.open)).toBe(true);
    expect(await served((other[0] as { ws: WebSocket }).ws)).toBe(true);
    // 150 held: the node is full, for every address.
    const third = await attempt(agentUrl, '127.0.0.3');
    expect(third).toMatchObject({ open: false, status: 503 });
    expect(Date.now() - started, 'all of the above within the 10 s handshake timeout').toBeLessThan(10_000);

    // Closing frees the slots: the first address is served again.
    for (const o of opened) (o as { ws: WebSocket }).ws.close();
    const again = await new Promise<Outcome>((resolve) => setTimeout(() => resolve(attempt(agentUrl, '127.0.0.1')), 500));
    expect(again.open).toBe(true);

    const peak = memory('VmHWM');
    console.log(`connection caps: 1,000 attempts from one address: ${opened.length} open, ${refused.length} × 429; RSS idle ${(idle / MB).toFixed(0)} MB, peak ${(peak / MB).toFixed(0)} MB`);
    expect(peak - idle).toBeLessThan(60 * MB);
  }, 60_000);

  it('300 sockets announcing a 2,000,000-byte frame are closed from the header (1009): the server buffers none of it', async () => {
    const { port, memory } = await serverProcess(['--max-agent-connections-per-address', '0']);
    const idle = memory('VmRSS');
    const SOCKETS = 300;
    const CHUNK = Buffer.alloc(64 * 1024, 0x78);
    let streamed = 0;
    const closes = await Promise.all(Array.from({ length: SOCKETS }, () => new Promise<{ code: number | null; sent: number }>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      sockets.push(socket);
      let sent = 0;
      let code: number | null = null;
      let buffered = Buffer.alloc(0);
      socket.on('error', () => undefined);
      socket.on('close', () => resolve({ code, sent }));
      socket.on('data', (d) => {
        buffered = Buffer.concat([buffered, d]);
        const head = buffered.indexOf('\r\n\r\n');
        if (head < 0 || !buffered.toString('latin1', 0, 12).startsWith('HTTP/1.1 101')) return;
        if (sent === 0) {
          // Upgraded: a text frame header announcing 2,000,000 bytes (masked), then its payload, 64 KiB at a time,
          // never finished, as fast as the socket takes it.
          socket.write(Buffer.from([0x81, 0xff, 0, 0, 0, 0, 0, 0x1e, 0x84, 0x80, 1, 2, 3, 4]));
          const pump = () => {
            while (sent < 1_900_000 && !socket.destroyed) {
              sent += CHUNK.length;
              streamed += CHUNK.length;
              if (!socket.write(CHUNK)) return void socket.once('drain', pump);
            }
          };
          pump();
        }
        // A close frame from the server: 0x88, length, then the 2-byte code.
        const frames = buffered.subarray(head + 4);
        if (frames.length >= 4 && frames[0] === 0x88) code = frames.readUInt16BE(2);
      });
      socket.write(['GET /agent HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Protocol: ${SUBPROTOCOL}`, '', ''].join('\r\n'), (err) => err && reject(err));
      setTimeout(() => socket.destroy(), 20_000).unref();
    })));
    const peak = memory('VmHWM');
    const by1009 = closes.filter((c) => c.code === 1009).length;
    console.log(`pre-auth flood: ${SOCKETS} sockets, ${(streamed / MB).toFixed(0)} MB streamed, ${by1009} closed 1009; RSS idle ${(idle / MB).toFixed(0)} MB, peak ${(peak / MB).toFixed(0)} MB (+${((peak - idle) / MB).toFixed(0)} MB)`);
    expect(by1009).toBe(SOCKETS);
    expect(peak - idle).toBeLessThan(100 * MB);
  }, 60_000);
});
