// 1b. Footprint as deployed: the single executable in the configuration users run, against the bare Node 24
// runtime it is made of, measured side by side in the same run, in both page-cache states.
//   - TeamViewer present (a simulated Host: its Linux tree and stand-in `teamviewer`, `dpkg`, `systemctl`), required
//     (the default); the four supported services activated with their default policies (settings `{}`), and the
//     process measured after its first inventory and patch scan (what a device has done within minutes of any
//     start: the defaults schedule both with at most 10 minutes of jitter); `wss://` through a test CA
//     (RMAGENT_CA_FILE); the packaged configuration file (installer/linux/config.json: log level info) and the
//     environment the systemd unit gives the daemon (its Environment= lines: the journald log target, malloc's mmap
//     threshold).
//   - Both processes run a private copy of their executable (a new file: no page is shared with any other
//     process, so PSS is the process's own), written to disk and dropped from the page cache before the cold
//     start; the warm start is a restart of the same copies right after the cold window (the page cache holds what
//     the first processes read, as after a service restart or a crash).
// Package updates and refreshes never touch this machine: `apt-get`, `apt` and `systemd-run` are stand-ins too.
import { readFileSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BenchContext, Figure, SuiteResult } from '../lib/context.js';
import { agentHome, enroll, ipcStatus, isConnected, pollStatus, runAgent, type AgentHome, type AgentStatusView } from '../lib/agent.js';
import { startProc, type Launcher, type Proc } from '../lib/child.js';
import { memoryOf } from '../lib/proc.js';
import { median, ratio, sleep } from '../lib/stats.js';
import { newToken } from '../lib/scenario.js';
import { startServer, type RunningServer } from '../lib/server.js';
import { makeTestTls } from '../lib/tls.js';
import { cachedKb, privateColdCopy } from '../lib/page-cache.js';
import { simulateTeamViewerHost } from '../../src/cli/simulated-teamviewer.js';

const FLOOR_SCRIPT = 'setInterval(() => {}, 1000)';
const SERVICES = ['monitoring', 'assets', 'patches', 'backup'] as const;
const STATES = ['cold', 'warm'] as const;
type CacheState = (typeof STATES)[number];

interface Peak {
  rssKb: number;
  pssKb: number;
  anonKb: number;
}

/** The V8 flags the single executable runs the agent with (installer/sea/build.sh AGENT_FLAGS), for the stand-in. */
function agentFlags(root: string): string[] {
  const m = /^AGENT_FLAGS=\(([^)]*)\)/m.exec(readFileSync(path.join(root, 'installer/sea/build.sh'), 'utf8'));
  return m ? m[1]!.trim().split(/\s+/) : [];
}

/** The Environment= lines of the packaged systemd unit (installer/linux/rmagent.service), as the daemon gets them. */
export function unitEnvironment(root: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of readFileSync(path.join(root, 'installer/linux/rmagent.service'), 'utf8').matchAll(/^Environment=([A-Za-z_][A-Za-z0-9_]*)=(.*)$/gm)) env[m[1]!] = m[2]!;
  return env;
}

/** Stand-ins for the package tools Patch Management calls, so a scan never refreshes or changes this machine. */
function packageStandIns(root: string, binDir: string): void {
  const upgradable = path.join(root, 'test/fixtures/packages/apt-upgradable.txt');
  const tools: Record<string, string> = {
    'apt-get': 'exit 0',
    apt: `[ "$1" = list ] && [ "$2" = --upgradable ] && { cat '${upgradable}'; exit 0; }\nexit 1`,
    'systemd-run': 'echo "systemd-run: bench stand-in, nothing run" >&2\nexit 1',
  };
  for (const [name, body] of Object.entries(tools)) {
    writeFileSync(path.join(binDir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(path.join(binDir, name), 0o755);
  }
}

async function deployedHome(ctx: BenchContext, name: string, caFile: string): Promise<AgentHome> {
  const tv = await simulateTeamViewerHost(path.join(ctx.work, name, 'teamviewer'));
  packageStandIns(ctx.root, tv.binDir);
  const home = agentHome(ctx.work, name, {
    RMAGENT_LOG_LEVEL: '', // from the packaged config file below
    ...unitEnvironment(ctx.root), // RMAGENT_LOG_TARGET=journald, MALLOC_MMAP_THRESHOLD_
    RMAGENT_TEAMVIEWER_REQUIRED: '', // the default: required
    RMAGENT_TEAMVIEWER_ROOT: tv.root,
    RMAGENT_TEAMVIEWER_PATH: tv.binDir,
    RMAGENT_CA_FILE: caFile,
  });
  writeFileSync(path.join(home.dir, 'config.json'), readFileSync(path.join(ctx.root, 'installer/linux/config.json')));
  return home;
}

const allRunning = (s: AgentStatusView) => SERVICES.every((n) => (s.services ?? []).some((x) => x.name === n && x.phase === 'running'));

async function deviceIdOf(home: AgentHome): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const id = (await ipcStatus(home.ipcPath))?.registration?.deviceId;
    if (id) return id;
    try {
      const fromFile = (JSON.parse(readFileSync(path.join(home.stateDir, 'registration.json'), 'utf8')) as { deviceId?: string | null }).deviceId;
      if (fromFile) return fromFile;
    } catch {
      /* being written */
    }
    await sleep(100);
  }
  throw new Error('the connected agent has no device id');
}

/** Sends the first inventory and patch scan as console commands and waits until the agent has answered both. */
async function runJobs(server: RunningServer, deviceId: string, timeoutMs: number): Promise<string[]> {
  const sent: Array<{ id: string; type: string }> = [];
  for (const type of ['inventory.request', 'patches.scan']) {
    const c = await server.api<{ id: string }>('POST', `/devices/${deviceId}/commands`, { type, body: {} });
    sent.push({ id: c.id, type });
  }
  const ends = await Promise.all(sent.map((c) => commandEnd(server, deviceId, c.id, timeoutMs)));
  return sent.flatMap((c, k) => (ends[k]!.status === 'done' ? [] : [`${c.type} ${ends[k]!.status}: ${ends[k]!.reason?.message ?? ''}`]));
}

/** Peak RSS/PSS/anonymous of each process, sampled every ~5 s over the window. */
async function peakOver(pids: number[], windowMs: number): Promise<Peak[]> {
  const peak = pids.map(() => ({ rssKb: 0, pssKb: 0, anonKb: 0 }));
  const steps = Math.max(1, Math.round(windowMs / 5_000));
  for (let i = 0; i < steps; i++) {
    await sleep(windowMs / steps);
    pids.forEach((pid, k) => {
      const m = memoryOf(pid);
      peak[k] = { rssKb: Math.max(peak[k]!.rssKb, m.rssKb), pssKb: Math.max(peak[k]!.pssKb, m.pssKb), anonKb: Math.max(peak[k]!.anonKb, m.anonKb) };
    });
  }
  return peak;
}

/** The subject: the single executable, or without it (CI's smoke runs before packaging) its stand-in, the bundle on
 * the same Node 24 runtime with the executable's flags. */
export function deployedSubject(ctx: BenchContext): { exe: string; standIn: boolean; label: string; launcherOf: (exe: string) => Launcher } {
  const standIn = !ctx.runtimes.sea;
  if (standIn && !ctx.runtimes.seaNode) throw new Error('neither the single executable nor the Node 24 runtime it is made of is available');
  return {
    exe: standIn ? ctx.runtimes.seaNode! : ctx.runtimes.sea!,
    standIn,
    label: standIn ? 'agent (stand-in: esbuild bundle on Node 24 with the executable\'s flags)' : 'agent, single executable',
    launcherOf: (exe) => (standIn ? [exe, ...agentFlags(ctx.root), path.join(ctx.root, 'build/bench/rmagent.cjs')] : [exe]),
  };
}

export interface DeployedScene {
  server: RunningServer;
  home: AgentHome;
  deviceId: string;
}

/** A TLS server and an enrolled agent home holding the four services (a set-up run of `launcher`, stopped again). */
export async function deployedScene(ctx: BenchContext, dir: string, launcher: Launcher): Promise<DeployedScene> {
  mkdirSync(dir, { recursive: true });
  const tls = makeTestTls(dir);
  const server = await startServer(ctx.root, path.join(dir, 'server'), [], tls);
  try {
    if (!server.agentUrl.startsWith('wss://')) throw new Error(`the server's agent URL is ${server.agentUrl}, not wss://`);
    const home = await deployedHome(ctx, path.relative(ctx.work, path.join(dir, 'agent')), tls.caFile);
    await enroll(launcher, home, { agentUrl: server.agentUrl, serverKey: server.serverKey, token: await newToken(server) });
    // Enrolls on its first connection and gets the four services; later starts find them in its state.
    const setup = runAgent(launcher, home);
    try {
      await pollStatus(home.ipcPath, isConnected, performance.now(), 30_000, 50);
      const deviceId = await deviceIdOf(home);
      for (const service of SERVICES) {
        const policy = await server.api<{ id: string }>('POST', '/policies', { name: `${service} default`, service, settings: {} });
        await server.api('POST', `/services/${service}/activate`, { deviceIds: [deviceId], policyId: policy.id });
      }
      await pollStatus(home.ipcPath, allRunning, performance.now(), 60_000, 200);
      return { server, home, deviceId };
    } finally {
      await setup.stop();
    }
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/** Starts the agent of a scene, waits until it is connected with the four services running and has answered its first jobs. */
export async function startDeployedAgent(scene: DeployedScene, launcher: Launcher, notes: Set<string>, jobs = true): Promise<Proc> {
  const agent = runAgent(launcher, scene.home);
  try {
    await agent.waitForEvent('connected', 30_000);
    await pollStatus(scene.home.ipcPath, allRunning, performance.now(), 60_000, 200);
    if (jobs) for (const problem of await runJobs(scene.server, scene.deviceId, 120_000)) notes.add(problem);
    return agent;
  } catch (err) {
    await agent.stop();
    throw err;
  }
}

export async function deployed(ctx: BenchContext): Promise<SuiteResult> {
  const runs = ctx.quick ? 1 : 3;
  // After V8's memory reducer has run its one-time GCs (~25 s after start, footprint.ts) and the jobs are done.
  const settleMs = ctx.quick ? 1_000 : 30_000;
  const windowMs = ctx.quick ? 1_000 : 30_000;
  const { runtimes } = ctx;
  if (!runtimes.seaNode) throw new Error('the Node 24 runtime the single executable is made of is not available (no floor)');
  const floorNode = runtimes.seaNode;
  const { exe: subject, standIn, label, launcherOf } = deployedSubject(ctx);
  const notes = new Set<string>();
  const samples = { agent: { cold: [] as Peak[], warm: [] as Peak[] }, floor: { cold: [] as Peak[], warm: [] as Peak[] } };
  const ratios: Record<CacheState, { rss: number[]; pss: number[] }> = { cold: { rss: [], pss: [] }, warm: { rss: [], pss: [] } };
  const loads: string[] = [];

  for (let run = 0; run < runs; run++) {
    const dir = path.join(ctx.work, `deployed-${run}`);
    const scene = await deployedScene(ctx, dir, launcherOf(subject));
    const procs: Proc[] = [];
    try {
      const exe = privateColdCopy(subject, path.join(dir, standIn ? 'agent-node' : 'rmagent'));
      const floorExe = privateColdCopy(floorNode, path.join(dir, 'floor-node'));
      for (const state of STATES) {
        const resident = [exe, floorExe].map(cachedKb);
        if (state === 'cold' && resident.some((kb) => kb !== null && kb > 0)) notes.add(`cold start with ${resident.map((kb) => `${Math.round(kb ?? 0)} kB`).join(' / ')} of the agent's / floor's executable already cached`);
        const floor = startProc([floorExe], ['-e', FLOOR_SCRIPT], {});
        procs.push(floor);
        const agent = await startDeployedAgent(scene, launcherOf(exe), notes);
        procs.push(agent);
        await sleep(settleMs);
        const [a, f] = await peakOver([agent.pid, floor.pid], windowMs);
        samples.agent[state].push(a!);
        samples.floor[state].push(f!);
        ratios[state].rss.push(a!.rssKb / f!.rssKb);
        ratios[state].pss.push(a!.pssKb / f!.pssKb);
        loads.push(`${state} ${os.loadavg()[0]!.toFixed(1)}`);
        // The warm start follows right away: a restart of the same two copies.
        await agent.stop();
        await floor.stop();
      }
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await scene.server.stop();
    }
  }

  const mb = (xs: Peak[], field: keyof Peak) => xs.map((x) => x[field] / 1024);
  const figures: Figure[] = [];
  const floorName = (state: CacheState) => `bare node ${runtimes.seaNodeVersion}, ${state}`;
  for (const state of STATES) {
    const spread = (xs: number[]) => `per run ${xs.map((x) => x.toFixed(3)).join(', ')}`;
    for (const [field, name] of [['rssKb', 'RSS'], ['pssKb', 'PSS']] as const) {
      const floor = mb(samples.floor[state], field);
      const agent = mb(samples.agent[state], field);
      figures.push({ name: `${name}, ${floorName(state)} (floor)`, unit: 'MB', runs: floor, value: median(floor) });
      figures.push({
        name: `${name}, ${label}, ${state}`, unit: 'MB', runs: agent, value: median(agent), baseline: floorName(state),
        ratio: ratio(median(agent), median(floor)), note: spread(ratios[state][field === 'rssKb' ? 'rss' : 'pss']),
      });
    }
    const anonAgent = mb(samples.agent[state], 'anonKb');
    const anonFloor = mb(samples.floor[state], 'anonKb');
    figures.push({ name: `anonymous memory (heap, malloc, stacks), agent, ${state}`, unit: 'MB', runs: anonAgent, value: median(anonAgent), note: `floor ${anonFloor.map((x) => x.toFixed(1)).join(', ')}` });
    const fileAgent = samples.agent[state].map((p) => (p.rssKb - p.anonKb) / 1024);
    const fileFloor = samples.floor[state].map((p) => (p.rssKb - p.anonKb) / 1024);
    figures.push({ name: `file pages mapped (executable, libraries), agent, ${state}`, unit: 'MB', runs: fileAgent, value: median(fileAgent), note: `floor ${fileFloor.map((x) => x.toFixed(1)).join(', ')}` });
  }
  notes.add(`1-minute load average at the end of each window: ${loads.join('; ')}`);
  return {
    id: 'deployed',
    title: `Idle footprint as deployed (TeamViewer present, Monitoring + Asset + Patch Management + Backup on default policies, wss:// through a test CA, packaged config; ${settleMs / 1000} s after the first inventory and patch scan, ${windowMs / 1000} s window; ${runs} runs × cold, warm)`,
    commands: [
      'rmagent-server --tls-cert server.pem --tls-key server.key (a test CA made by openssl); POST /api/v1/policies {service, settings: {}} and POST /api/v1/services/SERVICE/activate for monitoring, assets, patches, backup',
      `RMAGENT_CA_FILE=ca.pem RMAGENT_CONFIG=config.json (= installer/linux/config.json) the unit's Environment= (${Object.entries(unitEnvironment(ctx.root)).map(([k, v]) => `${k}=${v}`).join(' ')}) RMAGENT_TEAMVIEWER_ROOT/PATH=simulated Host; rmagent enroll --server wss://127.0.0.1:PORT/agent …; a set-up run receives the four services`,
      'cold: cp EXE COPY; fsync; dd if=COPY iflag=nocache count=0 (same for NODE24 → FLOORCOPY); FLOORCOPY -e \'setInterval(() => {}, 1000)\' and COPY run, side by side',
      'each start: POST /api/v1/devices/ID/commands inventory.request and patches.scan, wait until both are answered, then the settle and the window',
      'warm: both stopped and started again from the same copies right after the cold window',
      'memory: peak of /proc/PID/smaps_rollup Rss, Pss, Anonymous sampled every 5 s over the window',
    ],
    figures,
    notes: [...notes],
  };
}

export interface AgentAcrossBackups {
  /** Peak over the window before any backup, then after each backup the agent ran. */
  before: Peak;
  after: Peak[];
  settleMs: number;
  windowMs: number;
  notes: string[];
}

/**
 * The deployed agent's memory before and after backups it runs through the server (issue 22: a backup's work is
 * its job's, so the agent's own RSS must not grow with it): the scene above, Backup assigned a policy that backs
 * `folder` up into `destination`, two `backup.run` commands from the console (a full backup, then one with
 * nothing changed), each settled and followed by the same settle and window as the idle footprint.
 */
export async function agentAcrossBackups(ctx: BenchContext, folder: string, destination: string): Promise<AgentAcrossBackups> {
  const settleMs = ctx.quick ? 1_000 : 30_000;
  const windowMs = ctx.quick ? 1_000 : 30_000;
  const { exe, launcherOf } = deployedSubject(ctx);
  const launcher = launcherOf(exe);
  const notes = new Set<string>();
  const scene = await deployedScene(ctx, path.join(ctx.work, 'deployed-backups'), launcher);
  try {
    const agent = await startDeployedAgent(scene, launcher, notes);
    try {
      await sleep(settleMs);
      const [before] = await peakOver([agent.pid], windowMs);
      const { server, deviceId } = scene;
      // Due at once after the assignment, then daily: the schedule has nothing more to do after the first backup.
      const policy = await server.api<{ id: string }>('POST', '/policies', { name: 'bench backup', service: 'backup', settings: { folders: [folder], destination, schedule: { everyHours: 24 }, maxJitterSec: 0 } });
      await server.api('POST', '/services/backup/activate', { deviceIds: [deviceId], policyId: policy.id });
      const after: Peak[] = [];
      for (const what of ['full backup', 'backup with nothing changed']) {
        const t0 = performance.now();
        const final = await commandEnd(server, deviceId, (await server.api<{ id: string }>('POST', `/devices/${deviceId}/commands`, { type: 'backup.run', body: {} })).id, 900_000);
        if (final.status !== 'done') throw new Error(`backup.run (${what}) ended ${final.status}: ${final.reason?.message ?? ''}`);
        notes.add(`${what} through the agent: command done after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        await sleep(settleMs);
        after.push((await peakOver([agent.pid], windowMs))[0]!);
      }
      return { before: before!, after, settleMs, windowMs, notes: [...notes] };
    } finally {
      await agent.stop();
    }
  } finally {
    await scene.server.stop();
  }
}

/** The command's view once it has ended (any final status), polled from the console API. */
async function commandEnd(server: RunningServer, deviceId: string, id: string, timeoutMs: number): Promise<{ status: string; reason?: { message?: string } | null }> {
  const final = new Set(['done', 'failed', 'rejected', 'interrupted', 'expired', 'cancelled']);
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const { commands } = await server.api<{ commands: Array<{ id: string; status: string; reason?: { message?: string } | null }> }>('GET', `/devices/${deviceId}/commands`);
    const view = commands.find((c) => c.id === id);
    if (view && final.has(view.status)) return view;
    await sleep(200);
  }
  throw new Error(`command ${id} not ended within ${timeoutMs} ms`);
}
