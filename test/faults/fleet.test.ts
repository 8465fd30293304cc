// Fleet reconnection: a few thousand simulated agents (the agent's real connection code, many per worker
// process) held by one reference server process; the server restarts and the test measures how the
// reconnections spread over time (full-jitter backoff) and how long until every agent is back.
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnNode, waitForEvent, type Spawned } from '../../src/cli/processes.js';
import { SERVER_JS, assertBuilt, tempDir } from '../e2e/harness.js';
import { sleep } from './lib/enrolled.js';

const AGENTS = Number(process.env.RMAGENT_FAULTS_FLEET ?? 3000);
const WORKERS = 2;
const ENROLL_BUDGET_MS = 180_000;
const BACK_BUDGET_MS = 120_000;

interface Listening { httpUrl: string; agentUrl: string; port: number }

async function startServer(dataDir: string, port = 0): Promise<{ proc: Spawned } & Listening> {
  // A long server heartbeat: the test measures reconnection, not ping load. All 3,000 agents come from 127.0.0.1,
  // over the default per-address cap (1,000): lifted, as for the fleet benchmark (docs/scaling.md).
  const proc = spawnNode(SERVER_JS, ['--listen', `127.0.0.1:${port}`, '--data', dataDir, '--heartbeat-sec', '30', '--log-level', 'error', '--max-agent-connections-per-address', '0']);
  return { proc, ...(await waitForEvent<Listening>(proc, 'listening', 60_000)) };
}

function ask<T>(worker: ChildProcess, message: unknown, type: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker gave no "${type}" within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: { type: string }) => {
      if (m.type !== type) return;
      clearTimeout(timer);
      worker.off('message', onMessage);
      resolve(m as T);
    };
    worker.on('message', onMessage);
    if (message) worker.send(message as never);
  });
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

describe('fleet of simulated agents across a server restart', () => {
  const workers: ChildProcess[] = [];
  let server: { proc: Spawned } & Listening;
  let work: string | undefined;

  afterAll(async () => {
    for (const w of workers) if (w.connected) w.send({ type: 'stop' });
    await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))));
    await server?.proc.stop();
    // Thousands of agent state folders: not left behind in the temp folder.
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it(`${AGENTS} agents all come back, spread over time`, async () => {
    assertBuilt();
    work = tempDir('fleet');
    const bundle = path.join(work, 'fleet-agents.cjs');
    await build({ entryPoints: [path.join(__dirname, 'lib/fleet-agents.ts')], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: bundle, logLevel: 'warning' });
    const dataDir = path.join(work, 'server');
    server = await startServer(dataDir);
    const ownerToken = readFileSync(path.join(dataDir, 'owner.token'), 'utf8').trim();
    const serverKey = readFileSync(path.join(dataDir, 'server-key.pub'), 'utf8').trim();
    const res = await fetch(`${server.httpUrl}/api/v1/enrollment-tokens`, {
      method: 'POST', headers: { authorization: `Bearer ${ownerToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ expiresInSec: 3600, maxUses: AGENTS }),
    });
    const { token } = (await res.json()) as { token: string };

    const enrollStart = Date.now();
    const per = Math.ceil(AGENTS / WORKERS);
    const readies = [];
    for (let w = 0; w < WORKERS; w++) {
      const args = { url: server.agentUrl, token, serverKey, work: path.join(work, `w${w}`), first: w * per, count: Math.min(per, AGENTS - w * per), concurrency: 40, deadlineMs: Date.now() + ENROLL_BUDGET_MS, lifeMs: ENROLL_BUDGET_MS + BACK_BUDGET_MS + 60_000 };
      const worker = fork(bundle, [JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      workers.push(worker);
      readies.push(ask<{ connected: number; failed: number; rssMb: number }>(worker, null, 'ready', ENROLL_BUDGET_MS + 30_000));
    }
    const ready = await Promise.all(readies);
    const held = ready.reduce((n, r) => n + r.connected, 0);
    const enrollSec = (Date.now() - enrollStart) / 1000;
    expect(held).toBe(AGENTS);

    // The restart: SIGTERM, then the same port and data again.
    const stoppedAt = Date.now();
    await server.proc.stop('SIGTERM');
    server = await startServer(dataDir, server.port);
    const upAt = Date.now();
    let times: Array<number | null> = [];
    const deadline = Date.now() + BACK_BUDGET_MS;
    while (Date.now() < deadline) {
      const answers = await Promise.all(workers.map((w) => ask<{ times: Array<number | null> }>(w, { type: 'since', at: stoppedAt }, 'since', 10_000)));
      times = answers.flatMap((a) => a.times);
      if (times.every((t) => t !== null)) break;
      await sleep(500);
    }
    const back = times.filter((t): t is number => t !== null);
    const delays = back.map((t) => t - upAt).sort((a, b) => a - b);
    const histogram = new Map<number, number>();
    for (const d of delays) histogram.set(Math.floor(Math.max(0, d) / 1000), (histogram.get(Math.floor(Math.max(0, d) / 1000)) ?? 0) + 1);
    const allBackMs = delays.at(-1) ?? NaN;
    console.log(
      `[fleet] agents=${AGENTS} (${WORKERS} workers, rss ${ready.map((r) => r.rssMb).join('/')} MB) enrolled in ${enrollSec.toFixed(1)} s; server down ${upAt - stoppedAt} ms; ` +
        `reconnect delay after the server was back p50=${percentile(delays, 50)} ms p90=${percentile(delays, 90)} ms max=${allBackMs} ms; back ${back.length}/${AGENTS}\n` +
        `[fleet] reconnections per 1 s after restart: ${[...histogram.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}s:${n}`).join(' ')}`,
    );
    expect(back.length).toBe(AGENTS);
    // Full jitter: the fleet does not come back in one burst.
    const busiest = Math.max(...histogram.values());
    expect(busiest).toBeLessThan(AGENTS * 0.9);
    expect(allBackMs).toBeLessThan(BACK_BUDGET_MS);
  });
});
