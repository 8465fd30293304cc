// 4. Report cost: wall and CPU time (with waited-for children) of one status report snapshot and of a full
// inventory, and how they grow with installed packages (stand-in dpkg-query on PATH printing N packages)
// and running processes (N extra sleeping processes). Measured in this process, first call apart.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchContext, Figure, SuiteResult } from '../lib/context.js';
import { cpuMsOf } from '../lib/proc.js';
import { median, ratio, sleep } from '../lib/stats.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import si from 'systeminformation';
import { staticFactsLite } from '../lib/static-facts-lite.js';
import { createCommandRunner } from '../../src/system/exec.js';
import { readInstalledSoftware, readSystemFacts, type SystemFacts } from '../../src/system/packages.js';
import { buildInventory } from '../../src/services/assets/inventory.js';

const EMPTY_FACTS: SystemFacts = { system: {}, bios: {}, os: {}, cpu: {}, memory: {}, disks: [], network: [] };

interface Timing {
  wall: number;
  cpu: number;
  /** Longest stall of the event loop during the call (execSync and friends): heartbeats and commands wait that long. */
  blocked: number;
}

async function timed(fn: () => Promise<unknown>): Promise<Timing> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const c0 = cpuMsOf(process.pid);
  const t0 = performance.now();
  await fn();
  const t = { wall: performance.now() - t0, cpu: cpuMsOf(process.pid) - c0 };
  h.disable();
  return { ...t, blocked: h.count ? Math.max(0, h.max / 1e6 - 5) : t.wall };
}

async function repeat(fn: () => Promise<unknown>, n: number): Promise<{ first: Timing; wall: number[]; cpu: number[]; blocked: number[] }> {
  const first = await timed(fn);
  const wall: number[] = [];
  const cpu: number[] = [];
  const blocked: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = await timed(fn);
    wall.push(t.wall);
    cpu.push(t.cpu);
    blocked.push(t.blocked);
  }
  return { first, wall, cpu, blocked };
}

/** dpkg-query stand-in printing `count` installed packages in the agent's format. */
function dpkgStandIn(dir: string, count: number): void {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'dpkg-query');
  writeFileSync(file, `#!/bin/sh\nawk 'BEGIN { for (i = 0; i < ${count}; i++) printf "bench-package-%d\\t1.%d.0-1\\tamd64\\tinstalled\\tBench Maintainer <bench@example.invalid>\\n", i, i }'\n`);
  chmodSync(file, 0o755);
}

type Snapshot = () => Promise<unknown>;

/** statusSnapshot from build/src/system/sysinfo.js (loaded at run time: it may not be built yet). */
async function loadStatusSnapshot(root: string): Promise<Snapshot | string> {
  try {
    const mod = (await import(pathToFileURL(path.join(root, 'build/src/system/sysinfo.js')).href)) as Record<string, unknown>;
    if (typeof mod.statusSnapshot === 'function') return mod.statusSnapshot as Snapshot;
    if (typeof mod.createSysinfo === 'function') {
      const s = (mod.createSysinfo as () => Record<string, unknown>)();
      if (typeof s.statusSnapshot === 'function') return () => (s.statusSnapshot as Snapshot)();
      return `createSysinfo() has no statusSnapshot (has ${Object.keys(s).join(', ')})`;
    }
    return `build/src/system/sysinfo.js exports ${Object.keys(mod).join(', ')}`;
  } catch (err) {
    return `build/src/system/sysinfo.js not available: ${(err as Error).message.split('\n')[0]}`;
  }
}

export async function reportCost(ctx: BenchContext): Promise<SuiteResult> {
  const n = ctx.quick ? 2 : 9;
  const packageCounts = ctx.quick ? [100, 2_000] : [0, 1_000, 5_000, 20_000];
  const processCounts = ctx.quick ? [0, 50] : [0, 250, 1_000];
  const notes: string[] = [];
  const figures: Figure[] = [];
  const add = (name: string, r: Awaited<ReturnType<typeof repeat>>, base?: { name: string; wall: number | null }) => {
    figures.push({ name: `${name}: wall, first call`, unit: 'ms', runs: [r.first.wall], value: r.first.wall });
    figures.push({ name: `${name}: wall`, unit: 'ms', runs: r.wall, value: median(r.wall), ...(base ? { baseline: base.name, ratio: ratio(median(r.wall), base.wall) } : {}) });
    figures.push({ name: `${name}: CPU`, unit: 'ms', runs: r.cpu, value: median(r.cpu) });
    figures.push({ name: `${name}: event loop blocked, first call`, unit: 'ms', runs: [r.first.blocked], value: r.first.blocked });
  };

  // Status snapshot, and its growth with the number of processes.
  const snapshot = await loadStatusSnapshot(ctx.root);
  if (typeof snapshot === 'string') notes.push(`status report not measured: ${snapshot}`);
  else {
    let base: { name: string; wall: number | null } | undefined;
    for (const count of processCounts) {
      const sleepers: ChildProcess[] = [];
      try {
        for (let i = 0; i < count; i++) sleepers.push(spawn('sleep', ['120'], { stdio: 'ignore' }));
        await sleep(count ? 500 : 0);
        const r = await repeat(snapshot, n);
        const name = `status snapshot, +${count} processes`;
        add(name, r, base);
        base ??= { name, wall: median(r.wall) };
      } finally {
        for (const s of sleepers) s.kill('SIGKILL');
      }
    }
  }

  // Static facts of a status report (cached 10 min by src/system/sysinfo.ts): today's systeminformation calls
  // against the proposal in bench/lib/static-facts-lite.ts. Run in fresh order so neither warms the other's cache.
  const siStatic = () => Promise.all([si.osInfo(), si.system(), si.cpu(), si.networkInterfaces()]);
  const today = await repeat(siStatic, n);
  add('status static facts today (si.osInfo+system+cpu+networkInterfaces)', today);
  add('status static facts proposed (node:os, /etc/os-release, /sys/class/dmi/id)', await repeat(staticFactsLite, n), { name: 'today', wall: median(today.wall) });

  // Full inventory on this machine (hardware facts + real package list), then software only with N packages.
  const real = createCommandRunner();
  const fullInventory = async () => {
    const [facts, sw] = await Promise.all([readSystemFacts(), readInstalledSoftware({ runner: real, root: '/', platform: 'linux' })]);
    return buildInventory(facts, sw.outputs);
  };
  const inv = await fullInventory();
  notes.push(`full inventory on this machine: ${inv.software.length} packages, ${JSON.stringify(inv).length} bytes of JSON`);
  add('full inventory (this machine)', await repeat(fullInventory, n));
  add('hardware/OS/network facts only (systeminformation)', await repeat(readSystemFacts, n));

  let base: { name: string; wall: number | null } | undefined;
  for (const count of packageCounts) {
    const dir = path.join(ctx.work, `dpkg-${count}`);
    dpkgStandIn(dir, count);
    const runner = createCommandRunner({ path: dir });
    const softwareOnly = async () => buildInventory(EMPTY_FACTS, (await readInstalledSoftware({ runner, root: '/', platform: 'linux' })).outputs);
    const r = await repeat(softwareOnly, n);
    const name = `software inventory, ${count} packages`;
    add(name, r, base);
    base ??= { name, wall: median(r.wall) };
  }
  notes.push('disks were not varied: adding block devices needs privileges this benchmark does not take');
  return {
    id: 'report',
    title: `Report cost (in process; ${n} calls after a first one)`,
    commands: [
      'status: statusSnapshot() of build/src/system/sysinfo.js, with N extra `sleep 120` processes running',
      'inventory: readSystemFacts() + readInstalledSoftware({root:"/"}) + buildInventory() (what Asset Management collects)',
      'packages: a stand-in dpkg-query first on PATH printing N installed packages',
      'CPU: /proc/self/stat utime+stime+cutime+cstime (includes the commands it runs)',
    ],
    figures,
    notes,
  };
}
