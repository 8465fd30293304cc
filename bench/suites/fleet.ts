// 5. Fleet scale. (a) One server process on SQLite: simulated agents (bare protocol clients, many per worker
// process: build/bench/fleet-worker.mjs --mode raw) rise by levels to 10,000; per level the enroll rate (enroll +
// first report acknowledged), server memory per connection (RSS delta / N) and the server's CPU per heartbeat round;
// at the top level a report phase measures durable report commits per second (each agent sends its next report when
// the previous one was acknowledged, i.e. committed with the WAL fsynced). (b) The same on two server nodes sharing a
// PostgreSQL cluster (fsync on) behind Debian's nginx, when both are installed. Loopback only; every phase bounded.
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { BenchContext, Figure, SuiteResult } from '../lib/context.js';
import { startProc, type Proc } from '../lib/child.js';
import { cpuMsOf, memoryOf } from '../lib/proc.js';
import { benchServer, newToken } from '../lib/scenario.js';
import { startServer, type RunningServer } from '../lib/server.js';
import { sleep } from '../lib/stats.js';
import { findPostgres, startPgCluster, type PgCluster } from '../../test/server/pg-cluster.js';
import { NGINX, startNginx } from '../../test/e2e/nginx.js';

const HEARTBEAT_SEC = 5;
const LEVEL_BUDGET_MS = 180_000;
const AGENTS_PER_WORKER = 2_500;
const REPORT_MS = 10_000;
// Given to every node once: the owner's token and the secret the command keys are sealed with in the database.
const KEY_FILES = ['owner.token', 'key-encryption.secret'];

interface Target {
  agentUrl: string;
  token: string;
  serverKey: string;
  /** Server processes whose memory and CPU are measured (one node, or every node). */
  pids: number[];
}

const cpuOf = (pids: number[]) => pids.reduce((n, pid) => n + cpuMsOf(pid), 0);
const rssKbOf = (pids: number[]) => pids.reduce((n, pid) => n + memoryOf(pid).rssKb, 0);

/** Starts `count` raw agents over as many worker processes as needed; resolves when all are connected or failed. */
async function addAgents(ctx: BenchContext, target: Target, count: number, tag: string, workers: Proc[], extra: string[] = []): Promise<{ connected: number; failed: number; memoryMb: number; sec: number; serverCpuMs: number }> {
  const started = Date.now();
  const cpu0 = cpuOf(target.pids);
  const batch: Proc[] = [];
  for (let done = 0, i = 0; done < count; i++) {
    const n = Math.min(AGENTS_PER_WORKER, count - done);
    done += n;
    const work = path.join(ctx.work, `fleet-${tag}-${i}`);
    mkdirSync(work, { recursive: true });
    const w = startProc([process.execPath, path.join(ctx.root, 'build/bench/fleet-worker.mjs')], ['--mode', 'raw', '--url', target.agentUrl, '--token', target.token, '--server-key', target.serverKey, '--work', work, '--count', String(n), '--concurrency', '100', '--timeout-ms', String(LEVEL_BUDGET_MS), ...extra], { PATH: process.env.PATH ?? '' });
    workers.push(w);
    batch.push(w);
  }
  const ready = await Promise.all(batch.map((w) => w.waitForEvent<{ connected: number; failed: number; memoryMb: number }>('ready', LEVEL_BUDGET_MS + 30_000)));
  return {
    connected: ready.reduce((n, r) => n + r.connected, 0),
    failed: ready.reduce((n, r) => n + r.failed, 0),
    memoryMb: ready.reduce((n, r) => n + r.memoryMb, 0),
    sec: (Date.now() - started) / 1000,
    serverCpuMs: cpuOf(target.pids) - cpu0,
  };
}

/** Levels of held agents, then a report phase; pushes figures named with `label`. Returns the highest level held. */
async function scale(ctx: BenchContext, target: Target, label: string, levels: number[], reporters: number, figures: Figure[], notes: string[]): Promise<number> {
  const workers: Proc[] = [];
  const beats = ctx.quick ? 1 : 2;
  try {
    await sleep(1_000);
    const idleKb = rssKbOf(target.pids);
    figures.push({ name: `${label}: server RSS, no agents`, unit: 'MB', runs: [idleKb / 1024], value: idleKb / 1024 });
    let held = 0;
    let maxHeld = 0;
    let heldNow = 0;
    for (const level of levels) {
      const add = level - held;
      let r;
      try {
        r = await addAgents(ctx, target, add, `${label.replace(/\W+/g, '-')}-${level}`, workers);
      } catch (err) {
        notes.push(`${label}, level ${level}: workers did not finish: ${(err as Error).message.split('\n')[0]}`);
        break;
      }
      held += r.connected;
      heldNow = held;
      await sleep(2_000);
      const kb = rssKbOf(target.pids);
      const c0 = cpuOf(target.pids);
      await sleep(HEARTBEAT_SEC * 1000 * beats);
      const cpuPerBeat = (cpuOf(target.pids) - c0) / beats;
      const perConnKb = (kb - idleKb) / Math.max(1, held);
      const enrollCpu = r.serverCpuMs / (r.sec * 1000);
      ctx.log(`fleet ${label}: ${held} agents held (${r.failed} failed); ${add} enrolled in ${r.sec.toFixed(1)} s (${Math.round(r.connected / r.sec)}/s, server CPU ${(enrollCpu * 100).toFixed(0)} % of a core); RSS ${(kb / 1024).toFixed(0)} MB; ${cpuPerBeat.toFixed(0)} ms CPU per heartbeat`);
      figures.push({ name: `${label}: server RSS with ${held} agents`, unit: 'MB', runs: [kb / 1024], value: kb / 1024, baseline: 'no agents', ratio: kb / idleKb });
      figures.push({ name: `${label}: server memory per connection at ${held}`, unit: 'kB', runs: [perConnKb], value: perConnKb });
      figures.push({ name: `${label}: server CPU per heartbeat period at ${held}`, unit: 'ms', runs: [cpuPerBeat], value: cpuPerBeat, note: `${((cpuPerBeat / (HEARTBEAT_SEC * 1000)) * 100).toFixed(2)} % of one core at ${HEARTBEAT_SEC} s heartbeat; ${((cpuPerBeat * 1000) / Math.max(1, held)).toFixed(1)} µs per agent` });
      figures.push({ name: `${label}: enroll rate, ${add} agents (enroll + first report acknowledged)`, unit: 'agents/s', runs: [r.connected / r.sec], value: r.connected / r.sec, note: `${r.sec.toFixed(1)} s; server CPU ${(enrollCpu * 100).toFixed(0)} % of one core meanwhile; ${r.failed} failed` });
      figures.push({ name: `${label}: simulated-agent process RSS per agent at ${add}`, unit: 'kB', runs: [(r.memoryMb * 1024) / Math.max(1, r.connected)], value: (r.memoryMb * 1024) / Math.max(1, r.connected), note: 'bare protocol client: key pair, handshake, one report, heartbeats' });
      if (r.failed > 0 || r.connected < add) {
        notes.push(`${label}, level ${level}: ${r.failed} of ${add} agents failed to connect; stopping here`);
        break;
      }
      maxHeld = held;
    }
    figures.push({ name: `${label}: agents held (highest level passed)`, unit: 'agents', runs: [maxHeld], value: maxHeld, note: `levels ${levels.join(', ')}` });

    // Durable report commits: `reporters` more agents send reports back to back while the others stay connected.
    const cpu0 = cpuOf(target.pids);
    const t0 = Date.now();
    const w = startProc([process.execPath, path.join(ctx.root, 'build/bench/fleet-worker.mjs')], ['--mode', 'raw', '--url', target.agentUrl, '--token', target.token, '--server-key', target.serverKey, '--work', path.join(ctx.work, `fleet-${label.replace(/\W+/g, '-')}-reporters`), '--count', String(reporters), '--concurrency', '100', '--timeout-ms', String(LEVEL_BUDGET_MS), '--report-ms', String(REPORT_MS)], { PATH: process.env.PATH ?? '' });
    workers.push(w);
    try {
      await w.waitForEvent('ready', LEVEL_BUDGET_MS);
      const enrolledAt = Date.now();
      const cpuAtStart = cpuOf(target.pids);
      const reported = await w.waitForEvent<{ acked: number; ms: number }>('reported', REPORT_MS + 60_000);
      const perSec = reported.acked / (reported.ms / 1000);
      const cpuShare = (cpuOf(target.pids) - cpuAtStart) / (Date.now() - enrolledAt);
      ctx.log(`fleet ${label}: ${reporters} reporters: ${Math.round(perSec)} durable report commits/s (server CPU ${(cpuShare * 100).toFixed(0)} % of a core) with ${heldNow} more agents connected`);
      figures.push({ name: `${label}: durable report commits per second (${reporters} agents reporting back to back, ${heldNow} more connected)`, unit: 'reports/s', runs: [perSec], value: perSec, note: `each acknowledged after its commit; server process(es) used ${(cpuShare * 100).toFixed(0)} % of one core (summed) over ${(reported.ms / 1000).toFixed(0)} s` });
    } catch (err) {
      notes.push(`${label}: report phase did not finish: ${(err as Error).message.split('\n')[0]} (after ${((Date.now() - t0) / 1000).toFixed(0)} s; server CPU ${cpuOf(target.pids) - cpu0} ms)`);
    }
    return maxHeld;
  } finally {
    for (const w of workers) await w.stop();
  }
}

export async function fleet(ctx: BenchContext): Promise<SuiteResult> {
  const levels = ctx.quick ? [20] : [1_000, 5_000, 10_000];
  const reporters = ctx.quick ? 10 : 1_000;
  const notes: string[] = [];
  const figures: Figure[] = [];
  const commands: string[] = [];

  // (a) One node, SQLite.
  // Every simulated agent connects from 127.0.0.1: the per-address cap (default 1,000) is lifted.
  const server = await benchServer(ctx, 'fleet-server', ['--heartbeat-sec', String(HEARTBEAT_SEC), '--max-agent-connections-per-address', '0']);
  try {
    const target = { agentUrl: server.agentUrl, token: await newToken(server, 1_000_000), serverKey: server.serverKey, pids: [server.proc.pid] };
    await scale(ctx, target, 'one node, SQLite', levels, reporters, figures, notes);
  } finally {
    await server.stop();
  }
  commands.push(`rmagent-server --listen 127.0.0.1:0 --data D --log-level error --heartbeat-sec ${HEARTBEAT_SEC} --max-agent-connections-per-address 0`);

  // (b) Two nodes on PostgreSQL behind nginx.
  const postgres = await findPostgres();
  if ('missing' in postgres || !NGINX) {
    notes.push(`two-node run skipped: ${'missing' in postgres ? postgres.missing : 'nginx is not installed'}`);
  } else {
    let cluster: PgCluster | null = null;
    const nodes: RunningServer[] = [];
    let nginx: Awaited<ReturnType<typeof startNginx>> | null = null;
    try {
      cluster = await startPgCluster(postgres, { durable: true });
      const url = await cluster.createDatabase('rmagent_bench');
      const args = ['--heartbeat-sec', String(HEARTBEAT_SEC), '--database', url, '--api-rps-per-address', '0', '--max-agent-connections-per-address', '0'];
      nodes.push(await startServer(ctx.root, path.join(ctx.work, 'fleet-node-a'), args));
      const dirB = path.join(ctx.work, 'fleet-node-b');
      mkdirSync(dirB, { recursive: true, mode: 0o700 });
      for (const f of KEY_FILES) copyFileSync(path.join(nodes[0]!.dataDir, f), path.join(dirB, f));
      nodes.push(await startServer(ctx.root, dirB, args));
      const nginxDir = path.join(ctx.work, 'fleet-nginx');
      mkdirSync(nginxDir, { recursive: true });
      nginx = await startNginx(nodes.map((n) => Number(new URL(n.httpUrl).port)), nginxDir, { connections: Math.max(...levels) + reporters + 100 });
      const target = { agentUrl: `ws://127.0.0.1:${nginx.port}/agent`, token: await newToken(nodes[0]!, 1_000_000), serverKey: nodes[0]!.serverKey, pids: nodes.map((n) => n.proc.pid) };
      await scale(ctx, target, 'two nodes, PostgreSQL, nginx', levels, reporters, figures, notes);
      commands.push(`initdb + pg_ctl start (PostgreSQL ${path.basename(path.dirname(postgres.bin))}, fsync on, synchronous_commit on); two × rmagent-server --database postgres://… --api-rps-per-address 0 --max-agent-connections-per-address 0 (node B with node A's owner.token and key-encryption.secret); nginx (test/e2e/nginx.ts: upstream of both, WebSocket upgrade)`);
    } catch (err) {
      notes.push(`two-node run failed: ${(err as Error).message.split('\n')[0]}`);
    } finally {
      await nginx?.stop();
      for (const n of nodes) await n.stop();
      await cluster?.stop();
    }
  }
  commands.push(
    'node build/bench/fleet-worker.mjs --mode raw --url AGENTURL --token T --server-key K --count N (≤ 2,500 per process; per agent: key pair, handshake, enroll, one status report acknowledged, then heartbeats) [--report-ms 10000: reports back to back, each after the previous one\'s ack]',
    'server memory: /proc/PID/smaps_rollup Rss (summed over the nodes); CPU: /proc/PID/stat',
  );
  return {
    id: 'fleet',
    title: `Fleet scale: one node on SQLite, two nodes on PostgreSQL behind nginx (simulated agents, heartbeat every ${HEARTBEAT_SEC} s)`,
    commands,
    figures,
    notes,
  };
}
