// 2. Start-up: process start -> IPC status "connected" and -> first report acknowledged (outbox.lastAckedSeq >= 1),
// cold (fresh registration: the device enrolls on this first connection) and warm (restart of the same state).
// Baseline: the same runtime running an empty script to its exit.
import type { BenchContext, Figure, SuiteResult } from '../lib/context.js';
import { agentHome, agentLauncher, enroll, firstReportAcked, FLAVOUR_LABEL, FLAVOUR_RUNTIME, flavoursOf, pollStatus, runAgent } from '../lib/agent.js';
import { runProc } from '../lib/child.js';
import { cpuMsOf } from '../lib/proc.js';
import { benchServer, newToken } from '../lib/scenario.js';
import { median, ratio } from '../lib/stats.js';

interface Times {
  connected: number[];
  acked: number[];
  /** CPU time the agent used from its start to "connected" (robust to a busy machine, unlike wall time). */
  cpu: number[];
}

export async function startup(ctx: BenchContext): Promise<SuiteResult> {
  const runs = ctx.quick ? 1 : 5;
  const notes: string[] = [];
  const figures: Figure[] = [];
  const floors = { node: [] as number[], seaNode: [] as number[] };
  for (let i = 0; i < runs; i++) {
    floors.node.push((await runProc([ctx.runtimes.node], ['-e', '0'], {})).ms);
    if (ctx.runtimes.seaNode) floors.seaNode.push((await runProc([ctx.runtimes.seaNode], ['-e', '0'], {})).ms);
  }
  const floorName = { node: `node ${ctx.runtimes.nodeVersion} -e 0`, seaNode: `node ${ctx.runtimes.seaNodeVersion} -e 0` };
  figures.push({ name: `${floorName.node} (floor)`, unit: 'ms', runs: floors.node, value: median(floors.node) });
  if (floors.seaNode.length) figures.push({ name: `${floorName.seaNode} (floor)`, unit: 'ms', runs: floors.seaNode, value: median(floors.seaNode) });

  const server = await benchServer(ctx, 'startup-server');
  try {
    for (const flavour of flavoursOf(ctx.runtimes, ctx.quick)) {
      const label = FLAVOUR_LABEL[flavour];
      const launcher = agentLauncher(ctx.root, flavour, ctx.runtimes);
      const cold: Times = { connected: [], acked: [], cpu: [] };
      const warm: Times = { connected: [], acked: [], cpu: [] };
      const version: number[] = [];
      const enrollMs: number[] = [];
      try {
        for (let i = 0; i < runs; i++) {
          version.push((await runProc(launcher, ['version'], { PATH: process.env.PATH ?? '' })).ms);
          const home = agentHome(ctx.work, `startup-${flavour}-${i}`);
          const t = performance.now();
          await enroll(launcher, home, { agentUrl: server.agentUrl, serverKey: server.serverKey, token: await newToken(server) });
          enrollMs.push(performance.now() - t);
          for (const times of [cold, warm]) {
            const t0 = performance.now();
            const proc = runAgent(launcher, home);
            try {
              // The agent prints {"event":"connected"} on stdout: no polling that would cost the agent CPU meanwhile.
              await proc.waitForEvent('connected', 30_000);
              times.connected.push(performance.now() - t0);
              times.cpu.push(cpuMsOf(proc.pid));
              times.acked.push(await pollStatus(home.ipcPath, firstReportAcked, t0, 30_000, 2));
            } finally {
              await proc.stop();
            }
          }
        }
      } catch (err) {
        notes.push(`${label}: ${(err as Error).message.split('\n')[0]}`);
      }
      const base = { baseline: floorName[FLAVOUR_RUNTIME[flavour]], floor: median(floors[FLAVOUR_RUNTIME[flavour]]) };
      const add = (name: string, values: number[], note?: string) =>
        figures.push({ name: `${name}, ${label}`, unit: 'ms', runs: values, value: median(values), baseline: base.baseline, ratio: ratio(median(values), base.floor), ...(note ? { note } : {}) });
      add('rmagent version (start to exit)', version);
      add('rmagent enroll (local registration, start to exit)', enrollMs);
      add('cold start -> connected', cold.connected, 'fresh state; enrolls on this connection');
      add('cold start -> first report acked', cold.acked);
      add('warm start -> connected', warm.connected, 'restart of the same state');
      add('warm start -> first report acked', warm.acked);
      const addCpu = (name: string, values: number[]) => figures.push({ name: `${name}, ${label}`, unit: 'ms CPU', runs: values, value: median(values) });
      addCpu('CPU used, cold start -> connected', cold.cpu);
      addCpu('CPU used, warm start -> connected', warm.cpu);
    }
  } finally {
    await server.stop();
  }
  return {
    id: 'startup',
    title: `Start-up on loopback (${runs} runs each; "connected" = the agent's {"event":"connected"} stdout line, "first report acked" = IPC status polled every 2 ms)`,
    commands: [
      'rmagent version; rmagent enroll --server AGENTURL --token T --server-key K --state-dir S',
      'rmagent run --state-dir S --log-dir L, timed from spawn to its stdout line {"event":"connected"}, then to {"method":"status"} on S/rmagent.sock answering outbox.lastAckedSeq >= 1',
      'cold = first run after enroll (enrollment handshake on connect); warm = second run of the same state',
    ],
    figures,
    notes,
  };
}
