// 5. Fleet scale: how many simulated agents one reference server process holds here, server memory per
// connection (RSS delta / N) and the server's CPU per heartbeat round. Agents run in worker processes
// (build/bench/fleet-worker.mjs), loopback only; levels rise until one fails, is slow, or the bound is hit.
import path from 'node:path';
import type { BenchContext, Figure, SuiteResult } from '../lib/context.js';
import { startProc, type Proc } from '../lib/child.js';
import { cpuMsOf, memoryOf } from '../lib/proc.js';
import { benchServer, newToken } from '../lib/scenario.js';
import { sleep } from '../lib/stats.js';

const HEARTBEAT_SEC = 5;
const LEVEL_BUDGET_MS = 120_000;

export async function fleet(ctx: BenchContext): Promise<SuiteResult> {
  const levels = ctx.quick ? [20] : [200, 1_000, 3_000];
  const beats = ctx.quick ? 1 : 3;
  const notes: string[] = [];
  const figures: Figure[] = [];
  const server = await benchServer(ctx, 'fleet-server', ['--heartbeat-sec', String(HEARTBEAT_SEC)]);
  const workers: Proc[] = [];
  try {
    await sleep(1_000);
    const pid = server.proc.pid;
    const idleCpu0 = cpuMsOf(pid);
    await sleep(HEARTBEAT_SEC * 1000 * beats);
    const idleCpuPerBeat = (cpuMsOf(pid) - idleCpu0) / beats;
    const idle = memoryOf(pid); // after the window: start-up garbage has mostly been collected
    figures.push({ name: 'server RSS, no agents', unit: 'MB', runs: [idle.rssKb / 1024], value: idle.rssKb / 1024 });
    figures.push({ name: 'server CPU per heartbeat period, no agents', unit: 'ms', runs: [idleCpuPerBeat], value: idleCpuPerBeat });
    const token = await newToken(server, 1_000_000);
    let held = 0;
    let maxHeld = 0;
    for (const level of levels) {
      const add = level - held;
      const started = Date.now();
      const worker = startProc([process.execPath, path.join(ctx.root, 'build/bench/fleet-worker.mjs')], ['--url', server.agentUrl, '--token', token, '--server-key', server.serverKey, '--work', path.join(ctx.work, `fleet-agents-${level}`), '--count', String(add), '--timeout-ms', String(LEVEL_BUDGET_MS)], { PATH: process.env.PATH ?? '' });
      workers.push(worker);
      let ready: { connected: number; failed: number; memoryMb: number };
      try {
        ready = await worker.waitForEvent('ready', LEVEL_BUDGET_MS + 30_000);
      } catch (err) {
        notes.push(`level ${level}: worker did not finish: ${(err as Error).message.split('\n')[0]}`);
        break;
      }
      const connectSec = (Date.now() - started) / 1000;
      held += ready.connected;
      await sleep(2_000);
      const mem = memoryOf(pid);
      const c0 = cpuMsOf(pid);
      await sleep(HEARTBEAT_SEC * 1000 * beats);
      const cpuPerBeat = (cpuMsOf(pid) - c0) / beats;
      const perConnKb = (mem.rssKb - idle.rssKb) / Math.max(1, held);
      ctx.log(`fleet: ${held} agents held (${ready.failed} failed) in ${connectSec.toFixed(1)} s; server RSS ${(mem.rssKb / 1024).toFixed(1)} MB; ${cpuPerBeat.toFixed(1)} ms CPU per heartbeat`);
      figures.push({ name: `server RSS with ${held} agents`, unit: 'MB', runs: [mem.rssKb / 1024], value: mem.rssKb / 1024, baseline: 'no agents', ratio: mem.rssKb / idle.rssKb });
      figures.push({ name: `server memory per connection at ${held}`, unit: 'kB', runs: [perConnKb], value: perConnKb });
      figures.push({ name: `server CPU per heartbeat period at ${held}`, unit: 'ms', runs: [cpuPerBeat], value: cpuPerBeat, note: `${((cpuPerBeat / (HEARTBEAT_SEC * 1000)) * 100).toFixed(2)} % of one core at ${HEARTBEAT_SEC} s heartbeat; ${((cpuPerBeat * 1000) / Math.max(1, held)).toFixed(1)} µs per agent` });
      figures.push({ name: `enroll + first report of ${add} agents`, unit: 's', runs: [connectSec], value: connectSec, note: `${Math.round(ready.connected / connectSec)} agents/s; ${ready.failed} failed` });
      figures.push({ name: `simulated-agent process RSS per agent at ${add}`, unit: 'kB', runs: [(ready.memoryMb * 1024) / Math.max(1, ready.connected)], value: (ready.memoryMb * 1024) / Math.max(1, ready.connected), note: 'real connection, identity, outbox and replay guard per agent' });
      if (ready.failed > 0 || ready.connected < add) {
        notes.push(`level ${level}: ${ready.failed} of ${add} agents failed to connect; stopping here`);
        break;
      }
      maxHeld = held;
    }
    figures.push({ name: 'agents held by one server process (highest level passed)', unit: 'agents', runs: [maxHeld], value: maxHeld, note: `levels ${levels.join(', ')}; bound by this benchmark, not necessarily by the server` });
  } finally {
    for (const w of workers) await w.stop();
    await server.stop();
  }
  return {
    id: 'fleet',
    title: `Fleet scale on one reference server (simulated agents, heartbeat every ${HEARTBEAT_SEC} s)`,
    commands: [
      `rmagent-server --listen 127.0.0.1:0 --data D --log-level error --heartbeat-sec ${HEARTBEAT_SEC}`,
      'node build/bench/fleet-worker.mjs --url AGENTURL --token T --server-key K --work DIR --count N (per agent: registerDevice, createConnection with its identity store, outbox and replay guard; one status report through the outbox; then heartbeats)',
      'server memory: /proc/PID/smaps_rollup Rss; CPU: /proc/PID/stat over heartbeat periods',
    ],
    figures,
    notes,
  };
}
