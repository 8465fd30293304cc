// systeminformation where node:os and /proc do not suffice (macOS, Windows, the BSDs), loaded on first use:
// loading it costs ~10 MB of RSS and ~65 ms of CPU, which a Linux agent never pays.
import { fsAsync } from './fs-async.js';
const { realpath } = fsAsync;
import type { StatusReportData } from '../protocol/frames.js';
import { loadSeaModule } from './sea-module.js';
import { loadOnce } from './load-once.js';
import { processMatches, type ProcessIdentity, type ProcessMatchBy } from './process-match.js';

type Systeminformation = typeof import('systeminformation');

// Loaded once: later calls cost a resolved promise. The single executable carries it as an asset (sea-module.ts).
export const loadSysteminformation: () => Promise<Systeminformation> = loadOnce(
  async () => (await loadSeaModule<Systeminformation>('systeminformation.cjs')) ?? (await import('systeminformation')).default,
);

export interface SiDisk {
  mount: string;
  source: string;
  sizeBytes: number;
  usedBytes: number;
  availableBytes: number;
  /** df's own percentage, for a filesystem that reports no size. */
  usePercent: number;
}

/** Total and used memory; "active" leaves out the page cache (macOS: inactive pages), which is not pressure. */
export async function siMemory(): Promise<{ totalBytes: number; usedBytes: number }> {
  const m = await (await loadSysteminformation()).mem();
  return { totalBytes: m.total, usedBytes: m.active || m.used };
}

export async function siDisks(): Promise<SiDisk[]> {
  const list = await (await loadSysteminformation()).fsSize();
  return list.map((d) => ({ mount: d.mount, source: d.fs, sizeBytes: d.size, usedBytes: d.used, availableBytes: d.available, usePercent: d.use }));
}

/** The disk holding a path: the longest mount point above it (drive letters and paths compared without case on Windows). */
export async function siDiskHolding(target: string): Promise<SiDisk> {
  const windows = process.platform === 'win32';
  const fold = (p: string) => (windows ? p.toLowerCase().replace(/\//g, '\\') : p);
  const resolved = fold(await realpath(target));
  const holds = (mount: string) => {
    const m = fold(mount);
    return resolved === m || resolved.startsWith(/[\\/]$/.test(m) ? m : `${m}${windows ? '\\' : '/'}`) || (!windows && m === '/');
  };
  const owner = (await siDisks()).filter((d) => holds(d.mount)).sort((a, b) => b.mount.length - a.mount.length)[0];
  if (!owner) throw Object.assign(new Error(`no mounted disk holds ${target}`), { code: 'ENOENT' });
  return owner;
}

/** Which wanted entries run (process-match.ts), from systeminformation's process list (ps on macOS, WMI on Windows). */
export async function siProcesses(wanted: readonly string[], by: ProcessMatchBy): Promise<Record<string, boolean>> {
  const { list } = await (await loadSysteminformation()).processes();
  const windows = process.platform === 'win32';
  const identities: ProcessIdentity[] = list.map((p) => {
    const exe = p.path ? `${p.path.replace(/[\\/]$/, '')}${windows ? '\\' : '/'}${p.name}` : p.name;
    return { exe, argv: [p.command || exe, ...(p.params ? p.params.split(' ') : [])], comm: null };
  });
  return Object.fromEntries(wanted.map((name) => [name, identities.some((p) => processMatches(name, by, p, windows))]));
}

export async function siStaticFacts(): Promise<Pick<StatusReportData, 'os' | 'hardware'>> {
  const si = await loadSysteminformation();
  const [osInfo, system, cpu] = await Promise.all([si.osInfo(), si.system(), si.cpu()]);
  return {
    os: { platform: osInfo.platform, distro: osInfo.distro, release: osInfo.release, arch: osInfo.arch, hostname: osInfo.hostname },
    hardware: {
      manufacturer: system.manufacturer,
      model: system.model,
      ...(system.serial && system.serial !== '-' ? { serial: system.serial } : {}),
      cpu: `${cpu.manufacturer} ${cpu.brand}`.trim(),
      cores: cpu.cores,
    },
  };
}
