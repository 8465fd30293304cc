// The edge for system samples: static facts (OS, hardware) read once and cached, samples for every
// Monitoring check and status report from node:os, /proc and statfs (sysinfo-linux.ts); systeminformation
// only where those do not suffice (sysinfo-si.ts), loaded on first use, so a Linux agent never loads it.
// Median cost of one call, Linux VM with 2 vCPUs and ~80 processes: cpuPercent 0.05 ms (os.cpus),
// memory 0.13 ms (/proc/meminfo), disks 0.14 ms (/proc/self/mounts, statfs), processes ~15-20 ms for ~100
// processes when a name is missing (the exe link and an asynchronous cmdline read each: exact names cost more than
// the 1.1 ms of comm alone, which cut names and called Node "MainThread"), statusSnapshot 0.4 ms once the facts are cached. systeminformation took: currentLoad
// ~560 ms on the first call, mem 0.6 ms, fsSize ~39 ms (runs df), processLoad ~85 ms (runs ps), snapshot ~49 ms.
import { fsAsync as fs } from './fs-async.js';
import os from 'node:os';
import { busyPercent, cpuTimes, type CpuTimes } from './cpu-load.js';
import { readLogChunk, type LogChunk, type LogPosition, type LogReadOptions } from './log-file.js';
import type { ProcessMatchBy } from './process-match.js';
import { createLinuxDiskReader, readLinuxMemory, readLinuxProcesses } from './sysinfo-linux.js';
import { siDiskHolding, siDisks, siMemory, siProcesses, siStaticFacts } from './sysinfo-si.js';
import type { StatusReportData } from '../protocol/frames.js';

export interface MemorySample {
  totalBytes: number;
  usedBytes: number;
  usedPercent: number;
}
export interface DiskSample {
  mount: string;
  fs: string;
  sizeBytes: number;
  usedBytes: number;
  availableBytes: number;
  usedPercent: number;
}

export interface Sysinfo {
  /** Busy % of all CPUs since this instance's previous call (the first call: since it was created). */
  cpuPercent(): Promise<number>;
  /** The CPU time counters of all CPUs (ms since boot); null where the OS gives none. */
  cpuCounters(): CpuTimes | null;
  memory(): Promise<MemorySample>;
  /** Every mounted local disk (no virtual, scratch or network filesystem). */
  disks(): Promise<DiskSample[]>;
  /** The filesystem holding a path, whatever its type; throws ENOENT/EACCES, ENOSIZE (no size), ETIMEDOUT. */
  diskOf(target: string): Promise<DiskSample>;
  /** Which wanted entries run, matched exactly against executable names or command lines (process-match.ts); throws ENOPROC. */
  processes(wanted: readonly string[], by: ProcessMatchBy): Promise<Record<string, boolean>>;
  /** A network interface other than loopback is up with an address. */
  online(): boolean;
  /** New bytes of a log file (log-file.ts: no links another account can change, regular files only, no private folder). */
  readLog(file: string, from: LogPosition | null, maxBytes: number, options?: LogReadOptions): Promise<LogChunk>;
  statusSnapshot(): Promise<StatusReportData>;
}

// OS version and hardware change with an upgrade or a reboot at most: re-read a few times a day.
const STATIC_TTL_MS = 6 * 60 * 60_000;
const pct = (n: number) => Math.min(100, Math.max(0, Number.isFinite(n) ? n : 0));

const toMemory = (m: { totalBytes: number; usedBytes: number }): MemorySample => ({ ...m, usedPercent: pct(m.totalBytes ? (m.usedBytes / m.totalBytes) * 100 : 0) });
const toDisk = (d: { mount: string; source: string; sizeBytes: number; usedBytes: number; availableBytes: number; usePercent?: number }): DiskSample => ({
  mount: d.mount,
  fs: d.source,
  sizeBytes: d.sizeBytes,
  usedBytes: d.usedBytes,
  availableBytes: d.availableBytes,
  // As df's Use%: of the space a user can fill (used + available), so a disk whose root-reserved blocks are all
  // that is left reads 100 %, not ~95 % (ext4 reserves 5 %); an alert threshold means what df shows.
  usedPercent: pct(d.usedBytes + d.availableBytes > 0 ? (d.usedBytes / (d.usedBytes + d.availableBytes)) * 100 : (d.usePercent ?? 0)),
});

export function createSysinfo(): Sysinfo {
  const linux = process.platform === 'linux';
  let staticFacts: { at: number; value: Promise<StaticFacts> } | null = null;
  // CPU busy % is the share since the previous call of this instance; the first call compares with the
  // counters read here, when the sysinfo was created (a 0-tick gap repeats the last figure).
  let cpuSample = cpuTimes(os.cpus());
  let lastCpuPercent = 0;
  const linuxDisks = linux ? createLinuxDiskReader() : null;

  const facts = () => {
    if (!staticFacts || Date.now() - staticFacts.at > STATIC_TTL_MS) {
      const value = readStaticFacts();
      staticFacts = { at: Date.now(), value };
      value.catch(() => { staticFacts = null; });
    }
    return staticFacts.value;
  };

  const cpuPercent = async () => {
    const next = cpuTimes(os.cpus());
    lastCpuPercent = busyPercent(cpuSample, next) ?? lastCpuPercent;
    cpuSample = next;
    return lastCpuPercent;
  };

  const memory = async (): Promise<MemorySample> => {
    if (linux) return toMemory(readLinuxMemory());
    if (process.platform === 'win32') return toMemory({ totalBytes: os.totalmem(), usedBytes: os.totalmem() - os.freemem() });
    // macOS (and the BSDs): os.freemem() leaves out inactive pages, which the system hands back at once.
    return toMemory(await siMemory());
  };

  const disks = async (): Promise<DiskSample[]> => (await (linuxDisks ? linuxDisks.all() : siDisks())).map(toDisk);

  return {
    cpuPercent,
    cpuCounters() {
      const cpus = os.cpus();
      return cpus.length ? cpuTimes(cpus) : null;
    },
    memory,
    disks,
    async diskOf(target) {
      return toDisk(await (linuxDisks ? linuxDisks.holding(target) : siDiskHolding(target)));
    },
    async processes(wanted, by) {
      if (!wanted.length) return {};
      return linux ? readLinuxProcesses(wanted, by) : siProcesses(wanted, by);
    },
    online() {
      return Object.values(os.networkInterfaces()).some((list) => (list ?? []).some((a) => !a.internal && a.address));
    },
    readLog: readLogChunk,
    async statusSnapshot() {
      // A report without disks beats no report (e.g. /proc/self/mounts unreadable in a sandbox).
      const [stat, cpu, mem, disk] = await Promise.all([facts(), cpuPercent(), memory(), disks().catch(() => [])]);
      return {
        ...stat,
        uptimeSec: Math.max(0, os.uptime()),
        load: { cpuPercent: cpu, avg1: process.platform === 'win32' ? null : os.loadavg()[0]! },
        memory: mem,
        disks: disks256(disk),
        network: networkInterfaces(),
      };
    },
  };
}

function disks256(list: DiskSample[]): StatusReportData['disks'] {
  return list.slice(0, 256).map(({ mount, fs: f, sizeBytes, usedBytes, usedPercent }) => ({ mount, fs: f, sizeBytes, usedBytes, usedPercent }));
}

type StaticFacts = Pick<StatusReportData, 'os' | 'hardware'>;

// On Linux the static facts come from files (no child process): systeminformation's osInfo/system/cpu run
// about ten commands, several with execSync, which blocked the event loop ~1.7 s at every start (bench/).
async function readStaticFacts(): Promise<StaticFacts> {
  return process.platform === 'linux' ? readLinuxFacts() : siStaticFacts();
}

async function readLinuxFacts(): Promise<StaticFacts> {
  const read = (file: string) => fs.readFile(file, 'utf8').then((t) => t.trim(), () => '');
  const [release, vendor, product, serial] = await Promise.all([
    read('/etc/os-release'),
    read('/sys/class/dmi/id/sys_vendor'),
    read('/sys/class/dmi/id/product_name'),
    read('/sys/class/dmi/id/product_serial'), // readable by root only
  ]);
  const field = (name: string) => new RegExp(`^${name}="?([^"\\n]*)"?`, 'm').exec(release)?.[1] ?? '';
  return {
    os: { platform: 'linux', distro: field('PRETTY_NAME') || field('NAME'), release: field('VERSION_ID'), arch: os.arch(), hostname: os.hostname() },
    hardware: { manufacturer: vendor, model: product, ...(serial ? { serial } : {}), cpu: os.cpus()[0]?.model ?? '', cores: os.availableParallelism() },
  };
}

/** Interfaces with an address, from node:os (no child process, cheap enough for every report). */
function networkInterfaces(): StatusReportData['network'] {
  return Object.entries(os.networkInterfaces())
    .filter(([, list]) => (list ?? []).some((a) => !a.internal))
    .slice(0, 256)
    .map(([iface, list = []]) => ({ iface, ip4: list.find((a) => a.family === 'IPv4')?.address ?? '', ip6: list.find((a) => a.family === 'IPv6')?.address ?? '', mac: list[0]?.mac ?? '' }));
}
