// Crash safety: the real agent, kept busy by the real server (policy versions, status requests, reports), is
// killed with SIGKILL at random points a few hundred times. After each kill every state file must parse and
// the outbox must be one ordered run; at the end the server must hold every report once, in order, and no
// command may have taken effect twice (a replayed command id is refused).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnNode, waitForEvent, type Spawned } from '../../src/cli/processes.js';
import { journalPathOf, parseJournal } from '../../src/agent/replay.js';
import { AGENT_JS, startServer, type AgentHome, type ServerProcess } from '../e2e/harness.js';
import { checkStateDir } from './lib/state-check.js';
import { commandsOf, reportsAfter, serverAndAgent, sleep } from './lib/enrolled.js';

const KILLS = Number(process.env.RMAGENT_FAULTS_KILLS ?? 200);
const KILL_BUDGET_MS = 270_000;

describe('SIGKILL at random points', () => {
  let server: ServerProcess;
  let home: AgentHome;
  let serverData: string;
  let agent: Spawned | undefined;

  afterAll(async () => {
    await agent?.stop('SIGKILL');
    await server?.stop();
  });

  it(`survives ${KILLS} kills with whole state files, every report once and no command twice`, async () => {
    ({ server, home, serverData } = await serverAndAgent('crash', { RMAGENT_HEARTBEAT_SEC: '1', RMAGENT_BACKOFF_BASE_MS: '50', RMAGENT_BACKOFF_MAX_MS: '300' }));
    agent = await home.start();
    const first = await home.waitFor('enrolled', (s) => s.connection.state === 'connected' && s.registration.enrolled);
    const deviceId = first.registration.deviceId!;
    const policy = await server.api<{ id: string }>('POST', '/policies', {
      name: 'crash', service: 'monitoring', settings: { checks: [{ type: 'memory', threshold: 99, intervalSec: 60, severity: 'warning' }] },
    });
    expect((await server.api('POST', '/services/monitoring/activate', { deviceIds: [deviceId], policyId: policy.body.id })).status).toBe(200);

    // Load: new policy versions and status requests, while the server's reports are collected before it trims them.
    const seen = new Map<number, number>();
    let collectedTo = 0;
    const collect = async () => {
      for (const r of await reportsAfter(server, deviceId, collectedTo)) {
        seen.set(r.seq, (seen.get(r.seq) ?? 0) + 1);
        collectedTo = Math.max(collectedTo, r.seq);
      }
    };
    let busy = true;
    let version = 1;
    let issued = 0;
    const loadErrors: string[] = [];
    const step = async (i: number) => {
      if (i % 2 === 0) {
        version += 1;
        await server.api('PUT', `/policies/${policy.body.id}`, { settings: { checks: [{ type: 'memory', threshold: 50 + (version % 49), intervalSec: 60, severity: 'warning' }] } });
      } else {
        const r = await server.api('POST', `/devices/${deviceId}/commands`, { type: 'status.request' });
        if (r.status === 202) issued += 1;
      }
      if (i % 10 === 0) await collect();
    };
    const load = (async () => {
      for (let i = 0; busy && i < 100_000; i++) {
        await step(i).catch((err: unknown) => loadErrors.push(String(err)));
        await sleep(40 + Math.random() * 80);
      }
    })();

    let kills = 0;
    let statesVerified = 0;
    const failures: string[] = [];
    const started = Date.now();
    await agent.stop('SIGKILL');
    agent = undefined;
    while (kills < KILLS && Date.now() - started < KILL_BUDGET_MS) {
      // Short random delays land the kill in start-up (state loading), the handshake, flushing and converging.
      if (Math.random() < 0.5) {
        agent = spawnNode(AGENT_JS, ['run'], home.env);
        await sleep(200 + Math.random() * 1_300);
      } else {
        agent = await startAgent(home);
        await sleep(Math.random() * 500);
      }
      const child = agent.child;
      if (child.exitCode !== null) failures.push(`run ${kills + 1}: the agent exited by itself (${child.exitCode}): ${agent.output().slice(-500)}`);
      else {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      agent = undefined;
      kills += 1;
      const check = checkStateDir(home.stateDir);
      statesVerified += check.files;
      if (check.problems.length) failures.push(`kill ${kills}: ${check.problems.join('; ')}`);
    }
    busy = false;
    await load;

    agent = await startAgent(home);
    await home.waitFor('drained', (s) => s.connection.state === 'connected' && s.outbox.pending === 0, 60_000);
    // A few commands on a steady connection, so some certainly took effect; queued ones are delivered too.
    const steady: string[] = [];
    for (let i = 0; i < 3; i++) steady.push((await server.api<{ id: string }>('POST', `/devices/${deviceId}/commands`, { type: 'status.request' })).body.id);
    for (const id of steady) await waitForCommand(server, deviceId, id, (c) => c.status === 'done');
    await home.waitFor('drained again', (s) => s.outbox.pending === 0, 30_000);
    await collect();
    const commands = await commandsOf(server, deviceId);
    console.log(`[crash] kills=${kills} stateFilesVerified=${statesVerified} reports=${seen.size} statusRequests=${issued} commandsTracked=${commands.length} in ${Math.round((Date.now() - started) / 1000)} s`);

    expect(failures).toEqual([]);
    expect(loadErrors.slice(0, 3)).toEqual([]);
    expect(kills).toBeGreaterThanOrEqual(Math.min(KILLS, 100));
    const seqs = [...seen.keys()].sort((a, b) => a - b);
    expect(seqs.length).toBeGreaterThan(kills / 4);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect([...seen.values()].every((n) => n === 1)).toBe(true);

    // Every command the device took on is remembered, so it cannot take effect again.
    // The journal is read as the agent's next start reads it (a torn last line is dropped); replay.json is gone.
    const replay = parseJournal(readFileSync(journalPathOf(path.join(home.stateDir, 'replay.json')), 'utf8')).seen;
    expect(existsSync(path.join(home.stateDir, 'replay.json'))).toBe(false);
    const taken = commands.filter((c) => c.status === 'done' || c.status === 'accepted' || c.status === 'failed');
    expect(taken.length).toBeGreaterThan(0);
    for (const c of taken) expect([...replay.keys()], `command ${c.id} (${c.status})`).toContain(c.id);

    // A replay through the real path: the server is made to deliver a command it already delivered.
    await agent.stop('SIGTERM');
    agent = undefined;
    await server.stop();
    const db = new DatabaseSync(path.join(serverData, 'rmagent.db'));
    const victim = db.prepare("SELECT id FROM commands WHERE status = 'done' ORDER BY created_at DESC LIMIT 1").get() as { id: string };
    db.prepare("UPDATE commands SET status = 'queued' WHERE id = ?").run(victim.id);
    db.close();
    server = await startServer(serverData, server.port);
    agent = await startAgent(home);
    const replayed = await waitForCommand(server, deviceId, victim.id, (c) => c.status !== 'queued' && c.status !== 'sent');
    // The agent refuses it as replayed; the server records that the device had taken it before (docs/server-api.md).
    expect(replayed).toMatchObject({ status: 'interrupted', reason: { code: 'COMMAND_INTERRUPTED', message: expect.stringContaining('COMMAND_REPLAYED') } });
  });
});

async function startAgent(home: AgentHome): Promise<Spawned> {
  const proc = spawnNode(AGENT_JS, ['run'], home.env);
  await waitForEvent(proc, 'started', 30_000);
  return proc;
}

async function waitForCommand(server: ServerProcess, deviceId: string, id: string, done: (c: { status: string }) => boolean) {
  for (let i = 0; i < 200; i++) {
    const c = (await commandsOf(server, deviceId)).find((x) => x.id === id);
    if (c && done(c)) return c;
    await sleep(100);
  }
  throw new Error(`command ${id} never settled`);
}
