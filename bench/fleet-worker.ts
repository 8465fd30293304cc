// Simulated agents for the fleet benchmark, many per process, loopback only. Each enrolls with the
// reference server, sends one status report, answers heartbeats and stays until this process is told to
// stop. Prints JSON lines: progress, then ready.
//   --mode real (default): the agent's own connection code (createConnection with its identity store,
//     outbox and replay guard in a private state folder per agent), as `rmagent run` uses it;
//   --mode raw: a bare protocol client (src/protocol helpers over ws), the lightest possible agent.
//   --report-ms N (raw): once all are connected, every agent sends status reports back to back (the next when the
//     previous one's report.ack came, i.e. once it was committed) for N ms; prints {"event":"reported","acked":..}.
//   node build/bench/fleet-worker.mjs --url ws://127.0.0.1:PORT/agent --token T --server-key K --work DIR --count N
import path from 'node:path';
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { WebSocket } from 'ws';
import { encodeFrame, makeFrame, parseFrame, SERVER_TO_AGENT } from '../src/protocol/frames.js';
import { generateKeyPair } from '../src/protocol/sign.js';
import { agentHello, enrollFrame, newNonce, SUBPROTOCOL } from '../src/protocol/handshake.js';
import { configSchema } from '../src/config/schema.js';
import { silentLogger } from '../src/log.js';
import { systemClock } from '../src/system/clock.js';
import { createCommandRunner } from '../src/system/exec.js';
import { createConnection } from '../src/agent/connection.js';
import { createIdentityStore, registerDevice } from '../src/agent/identity.js';
import { createOutbox } from '../src/agent/outbox.js';
import { createReplayGuard } from '../src/agent/replay.js';
import type { Connection } from '../src/agent/contracts.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' }, token: { type: 'string' }, 'server-key': { type: 'string' }, work: { type: 'string' }, mode: { type: 'string' },
    count: { type: 'string' }, concurrency: { type: 'string' }, 'timeout-ms': { type: 'string' }, 'report-ms': { type: 'string' },
  },
  strict: true,
});
const url = values.url!;
if (!/^ws:\/\/(127\.0\.0\.1|\[::1\]):\d+\//.test(url)) throw new Error('loopback only');
const reportMs = Number(values['report-ms'] ?? 0);
/** Raw agents in the report phase: the next report goes out when the previous one was acknowledged. */
let reporting = false;
let acked = 0;
const count = Math.min(20_000, Number(values.count ?? 10));
const concurrency = Number(values.concurrency ?? 50);
const deadline = Date.now() + Number(values['timeout-ms'] ?? 300_000);
const sockets: WebSocket[] = [];
const connections: Connection[] = [];
const logger = silentLogger();
const runner = createCommandRunner();
const statusData = () => ({ uptimeSec: 1, load: { cpuPercent: 1, avg1: 0.1 }, memory: { totalBytes: 1e9, usedBytes: 5e8, usedPercent: 50 }, os: {}, disks: [], network: [], hardware: {} });
let connected = 0;
let failed = 0;
const emit = (event: string, extra: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ event, connected, failed, ...extra })}\n`);

/** One agent made of the agent's real parts, connected and with its first report acknowledged. */
async function realAgent(i: number): Promise<void> {
  const stateDir = path.join(values.work!, `agent-${i}`);
  const machineId = `fleet-${i}`;
  const clock = systemClock;
  try {
    await registerDevice({ stateDir, machineId, serverUrl: url, token: values.token!, serverKey: values['server-key']!, clock });
    const config = configSchema().parse({ stateDir, logDir: stateDir, machineId, teamviewer: { required: false } });
    const identity = createIdentityStore({ stateDir, machineId, clock, logger });
    const outbox = createOutbox({ dir: path.join(stateDir, 'outbox'), maxBytes: 64 * 1024, clock, logger });
    await outbox.open();
    const replay = createReplayGuard({ file: path.join(stateDir, 'replay.json'), windowMs: config.connection.commandWindowSec * 1000, clock });
    await replay.open();
    const facts = { hostname: `${hostname()}-sim-${i}`, platform: 'linux', arch: 'x64', osRelease: 'bench', agentVersion: '0.0.0-bench', alias: null, teamviewer: null };
    const connection = createConnection({ context: { config, logger, runner, clock }, identity, outbox, replay, onCommand: async () => ({ status: 'done' }), deviceFacts: async () => facts });
    connections.push(connection);
    connection.start();
    await outbox.append('status', statusData());
    const until = Math.min(deadline, Date.now() + 30_000);
    while (Date.now() < until && outbox.stats().lastAckedSeq < 1) await new Promise((r) => setTimeout(r, 50));
    if (outbox.stats().lastAckedSeq >= 1) connected += 1;
    else failed += 1;
  } catch (err) {
    failed += 1;
    if (failed <= 3) process.stderr.write(`agent ${i}: ${(err as Error).message}\n`);
  }
}

function oneAgent(i: number): Promise<void> {
  return new Promise((resolve) => {
    const key = generateKeyPair();
    const ws = new WebSocket(url, [SUBPROTOCOL]);
    sockets.push(ws);
    ws.on('open', () => ws.send(encodeFrame(agentHello(key.publicKey, newNonce(), '0.0.0-bench', Date.now()))));
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
    let seq = 1;
    ws.on('message', (raw) => {
      const parsed = parseFrame(raw.toString(), { accept: SERVER_TO_AGENT });
      if (!parsed.ok) return;
      const f = parsed.frame;
      if (f.type === 'server.hello') {
        const facts = { hostname: `${hostname()}-sim-${i}`, platform: 'linux', arch: 'x64', osRelease: 'bench', agentVersion: '0.0.0-bench', alias: null, teamviewer: null };
        ws.send(encodeFrame(enrollFrame({ token: values.token!, publicKey: key.publicKey, serverNonce: f.body.nonce, channel: { kind: 'none' }, facts, devicePrivateKeyPem: key.privateKeyPem, now: Date.now() })));
      } else if (f.type === 'welcome') {
        ws.send(encodeFrame(makeFrame('report', { seq: 1, kind: 'status', at: Date.now(), data: statusData() })));
      } else if (f.type === 'report.ack') {
        if (!done) return finish(true);
        if (!reporting || f.body.upTo < seq) return;
        acked += 1;
        ws.send(encodeFrame(makeFrame('report', { seq: ++seq, kind: 'status', at: Date.now(), data: statusData() })));
      }
      else if (f.type === 'error' && f.body.fatal) finish(false);
    });
    ws.on('error', () => finish(false));
    ws.on('close', () => finish(false));
    reportStarters.push(() => {
      if (ws.readyState === WebSocket.OPEN) ws.send(encodeFrame(makeFrame('report', { seq: ++seq, kind: 'status', at: Date.now(), data: statusData() })));
    });
  });
}
const reportStarters: Array<() => void> = [];

async function main(): Promise<void> {
  let next = 0;
  let lastEmit = Date.now();
  const lane = async () => {
    while (next < count && Date.now() < deadline) {
      await (values.mode === 'raw' ? oneAgent(next++) : realAgent(next++));
      if (Date.now() - lastEmit > 1_000) {
        lastEmit = Date.now();
        emit('progress');
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  emit('ready', { memoryMb: process.memoryUsage().rss / 1024 / 1024 });
  if (reportMs > 0) {
    reporting = true;
    const t0 = Date.now();
    for (const start of reportStarters) start();
    await new Promise((r) => setTimeout(r, reportMs));
    reporting = false;
    emit('reported', { acked, ms: Date.now() - t0 });
  }
  const stop = () => {
    for (const ws of sockets) ws.terminate();
    void Promise.race([Promise.all(connections.map((c) => c.stop())), new Promise((r) => setTimeout(r, 3_000))]).then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  setTimeout(stop, Math.max(1_000, deadline - Date.now() + 60_000)); // never outlive the bench
}

void main();
