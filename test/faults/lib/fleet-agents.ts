// A worker process holding many lightweight simulated agents built from the agent's real parts
// (registerDevice, identity store, outbox, replay guard, createConnection), each in its own state folder.
// Bundled by the fleet test and started with fork(); talks to the test over the IPC channel:
//   <- {type:'ready', connected, failed}        once every agent is enrolled (or failed), bounded in time
//   -> {type:'since', at} <- {type:'since', times}  first connect time of each agent after `at` (null: not yet)
//   -> {type:'stop'}                             stops every connection (bounded) and exits
import path from 'node:path';
import { configSchema } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/log.js';
import { systemClock } from '../../../src/system/clock.js';
import { createCommandRunner } from '../../../src/system/exec.js';
import { createConnection } from '../../../src/agent/connection.js';
import { createIdentityStore, registerDevice } from '../../../src/agent/identity.js';
import { createOutbox } from '../../../src/agent/outbox.js';
import { createReplayGuard } from '../../../src/agent/replay.js';
import type { Connection } from '../../../src/agent/contracts.js';

interface Args { url: string; token: string; serverKey: string; work: string; first: number; count: number; concurrency: number; deadlineMs: number; lifeMs: number }
const args = JSON.parse(process.argv[2]!) as Args;
if (!/^ws:\/\/127\.0\.0\.1:\d+\//.test(args.url)) throw new Error('loopback only');
const send = (m: unknown) => process.send?.(m);
const logger = silentLogger();
const runner = createCommandRunner();
const clock = systemClock;
const connections: Connection[] = [];
/** Every time each agent reached 'connected'. */
const connectedAt: number[][] = [];
const statusData = { uptimeSec: 1, load: { cpuPercent: 1, avg1: 0.1 }, memory: { totalBytes: 1e9, usedBytes: 5e8, usedPercent: 50 }, os: {}, disks: [], network: [], hardware: {} };

async function oneAgent(i: number): Promise<boolean> {
  const n = args.first + i;
  const stateDir = path.join(args.work, `agent-${n}`);
  const machineId = `fleet-${n}`;
  connectedAt[i] = [];
  await registerDevice({ stateDir, machineId, serverUrl: args.url, token: args.token, serverKey: args.serverKey, clock });
  // The shipped connection settings (backoff base 1 s, cap 5 min, full jitter): what a real fleet would do.
  const config = configSchema().parse({ stateDir, logDir: stateDir, machineId, teamviewer: { required: false } });
  const identity = createIdentityStore({ stateDir, machineId, clock, logger });
  const outbox = createOutbox({ dir: path.join(stateDir, 'outbox'), maxBytes: 64 * 1024, clock, logger });
  await outbox.open();
  const replay = createReplayGuard({ file: path.join(stateDir, 'replay.json'), windowMs: config.connection.commandWindowSec * 1000, clock });
  await replay.open();
  const facts = { hostname: `fleet-${n}`, platform: 'linux', arch: 'x64', osRelease: 'faults', agentVersion: '0.0.0-faults', alias: null, teamviewer: null };
  const connection = createConnection({ context: { config, logger, runner, clock }, identity, outbox, replay, onCommand: async () => ({ status: 'done' }), deviceFacts: async () => facts });
  connection.onStatus((s) => { if (s.phase === 'connected') connectedAt[i]!.push(Date.now()); });
  connections.push(connection);
  connection.start();
  await outbox.append('status', statusData);
  const until = Math.min(args.deadlineMs, Date.now() + 60_000);
  while (Date.now() < until && outbox.stats().lastAckedSeq < 1) await new Promise((r) => setTimeout(r, 50));
  return outbox.stats().lastAckedSeq >= 1;
}

async function main(): Promise<void> {
  let next = 0;
  let connected = 0;
  let failed = 0;
  const lane = async () => {
    while (next < args.count && Date.now() < args.deadlineMs) {
      const ok = await oneAgent(next++).catch(() => false);
      if (ok) connected += 1;
      else failed += 1;
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, lane));
  send({ type: 'ready', connected, failed, rssMb: Math.round(process.memoryUsage().rss / 1048576) });
}

const stop = () => {
  const bounded = new Promise((r) => setTimeout(r, 5_000));
  void Promise.race([Promise.all(connections.map((c) => c.stop())), bounded]).then(() => process.exit(0));
};
process.on('message', (m: { type: string; at?: number }) => {
  if (m.type === 'since') send({ type: 'since', times: connectedAt.map((ts) => ts.find((t) => t >= m.at!) ?? null) });
  if (m.type === 'stop') stop();
});
process.on('disconnect', stop);
// Never outlive the test.
setTimeout(stop, args.lifeMs).unref();
void main();
