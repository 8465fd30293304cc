// systeminformation where node:os and /proc do not suffice (macOS, Windows, the BSDs), loaded on first use:
// loading it costs ~10 MB of RSS and ~65 ms of CPU, which a Linux agent never pays.
import type { StatusReportData } from '../protocol/frames.js';
import { loadSeaModule } from './sea-module.js';
import { loadOnce } from './load-once.js';

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

/** Which named processes run (systeminformation: case-insensitive, the name within the command name). */
export async function siProcesses(names: readonly string[]): Promise<Record<string, boolean>> {
  const found = await (await loadSysteminformation()).processLoad(names.join(', '));
  return Object.fromEntries(names.map((name) => [name, found.some((p) => p.proc === name && p.pids.length > 0)]));
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
