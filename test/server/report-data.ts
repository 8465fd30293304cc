// Report data of the kinds the server checks, as the agent's services build them (protocol/report-data.ts).
import type { ReportData } from '../../src/protocol/frames.js';

type FullInventory = Extract<ReportData<'inventory'>, { full: true }>;

export function inventoryData(serial = 'CN0X42', software: Array<{ name: string; version: string }> = [{ name: 'openssl', version: '3.0.15' }]): FullInventory {
  return {
    full: true,
    collectedAt: 1_700_000_000_000,
    inventory: {
      hardware: { system: { manufacturer: 'Dell Inc.', model: 'OptiPlex 7090', serial }, bios: {}, cpu: { brand: 'Core i5', cores: 12 }, memory: { totalBytes: 16 * 2 ** 30 }, disks: [{ device: '/dev/nvme0n1', sizeBytes: 512 * 2 ** 30 }] },
      os: { distro: 'Debian GNU/Linux', release: '12', arch: 'x64' },
      network: [],
      software: software.map((s) => ({ ...s, source: 'dpkg' as const })),
    },
    counts: { software: software.length, omitted: 0 },
  };
}

export function patchesData(pending: Array<{ name: string; version: string }> = [{ name: 'openssl', version: '3.0.16' }]): ReportData<'patches'> {
  return { event: 'scan', manager: 'apt', scannedAt: 1_700_000_000_000, count: pending.length, bySeverity: { security: pending.length }, pending: pending.map((p) => ({ ...p, severity: 'security' as const, origin: 'Debian-Security' })) };
}

export function backupData(snapshot = 's-1'): ReportData<'backup'> {
  return {
    event: 'snapshot', snapshot, createdAt: 1_700_000_000_000, files: 10, bytesRead: 1000, bytesStored: 500, durationMs: 20, skipped: 0, dirs: 2, skippedPaths: [],
    verified: null, pruned: { snapshots: [], packs: 0, bytes: 0, unusedBytes: 0 }, peakRssBytes: 40_000_000,
  };
}
