// Simulated agents for the fleet benchmark, many per process, loopback only. Each enrolls with the
// reference server over its own WebSocket, sends one status report, answers heartbeats (ws answers pings)
// and stays until this process is told to stop. Prints JSON lines: progress, then ready.
//   node build/bench/fleet-worker.mjs --url ws://127.0.0.1:PORT/agent --token T --count N [--concurrency 50]
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { WebSocket } from 'ws';
import { encodeFrame, makeFrame, parseFrame, SERVER_TO_AGENT } from '../src/protocol/frames.js';
import { generateKeyPair } from '../src/protocol/sign.js';

const { values } = parseArgs({ options: { url: { type: 'string' }, token: { type: 'string' }, count: { type: 'string' }, concurrency: { type: 'string' }, 'timeout-ms': { type: 'string' } }, strict: true });
const url = values.url!;
if (!/^ws:\/\/(127\.0\.0\.1|\[::1\]):\d+\//.test(url)) throw new Error('loopback only');
const count = Math.min(20_000, Number(values.count ?? 10));
const concurrency = Number(values.concurrency ?? 50);
const deadline = Date.now() + Number(values['timeout-ms'] ?? 300_000);
const sockets: WebSocket[] = [];
let connected = 0;
let failed = 0;
const emit = (event: string, extra: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ event, connected, failed, ...extra })}\n`);

function oneAgent(i: number): Promise<void> {
  return new Promise((resolve) => {
    const key = generateKeyPair();
    const ws = new WebSocket(url);
    sockets.push(ws);
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (ok) connected += 1;
      else failed += 1;
      resolve();
    };
    const timer = setTimeout(() => finish(false), 30_000);
    ws.on('message', (raw) => {
      const parsed = parseFrame(raw.toString(), { accept: SERVER_TO_AGENT });
      if (!parsed.ok) return;
      const f = parsed.frame;
      if (f.type === 'hello') {
        const facts = { hostname: `${hostname()}-sim-${i}`, platform: 'linux', arch: 'x64', osRelease: 'bench', agentVersion: '0.0.0-bench', alias: null, teamviewer: null };
        ws.send(encodeFrame(makeFrame('enroll', { token: values.token!, publicKey: key.publicKey, facts })));
      } else if (f.type === 'welcome') {
        const data = { uptimeSec: 1, load: { cpuPercent: 1, avg1: 0.1 }, memory: { totalBytes: 1e9, usedBytes: 5e8, usedPercent: 50 }, os: {}, disks: [], network: [], hardware: {} };
        ws.send(encodeFrame(makeFrame('report', { seq: 1, kind: 'status', at: Date.now(), data })));
      } else if (f.type === 'report.ack') finish(true);
      else if (f.type === 'error' && f.body.fatal) finish(false);
    });
    ws.on('error', () => finish(false));
    ws.on('close', () => finish(false));
  });
}

async function main(): Promise<void> {
  let next = 0;
  let lastEmit = Date.now();
  const lane = async () => {
    while (next < count && Date.now() < deadline) {
      await oneAgent(next++);
      if (Date.now() - lastEmit > 1_000) {
        lastEmit = Date.now();
        emit('progress');
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  emit('ready', { memoryMb: process.memoryUsage().rss / 1024 / 1024 });
  const stop = () => {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  setTimeout(stop, Math.max(1_000, deadline - Date.now() + 60_000)); // never outlive the bench
}

void main();
