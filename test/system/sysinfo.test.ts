// The systeminformation edge on this machine: the snapshot matches the wire schema and the hot path stays cheap.
import { describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile, appendFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createSysinfo } from '../../src/system/sysinfo.js';
import { StatusReportDataSchema } from '../../src/protocol/frames.js';

describe('sysinfo', () => {
  it('builds a status snapshot that validates against StatusReportDataSchema, static facts cached', async () => {
    const sysinfo = createSysinfo();
    let started = performance.now();
    const first = await sysinfo.statusSnapshot();
    const firstMs = performance.now() - started;
    expect(StatusReportDataSchema.safeParse(first).success).toBe(true);
    expect(first.os.platform).toBe(os.platform() === 'win32' ? 'Windows' : os.platform());
    expect(first.memory.totalBytes).toBeGreaterThan(0);
    expect(first.disks.length).toBeGreaterThan(0);
    started = performance.now();
    const second = await sysinfo.statusSnapshot();
    const ms = performance.now() - started;
    expect(StatusReportDataSchema.safeParse(second).success).toBe(true);
    // The cached path costs mem + fsSize + currentLoad only, not osInfo/system/cpu/networkInterfaces again.
    expect(ms).toBeLessThan(firstMs);
    expect(second.network).toEqual(first.network);
  });

  it('samples memory, disks, cpu and processes', async () => {
    const sysinfo = createSysinfo();
    const mem = await sysinfo.memory();
    expect(mem.usedPercent).toBeGreaterThan(0);
    expect(mem.usedPercent).toBeLessThanOrEqual(100);
    const disks = await sysinfo.disks();
    expect(disks.some((d) => d.mount === '/' || /^[A-Z]:/i.test(d.mount))).toBe(true);
    const cpu = await sysinfo.cpuPercent();
    expect(cpu).toBeGreaterThanOrEqual(0);
    expect(cpu).toBeLessThanOrEqual(100);
    const procs = await sysinfo.processes(['node', 'no-such-process-rmagent']);
    expect(procs).toEqual({ node: true, 'no-such-process-rmagent': false });
  });

  it('tails a file from its end, then only new bytes, and starts over after truncation', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rmagent-sysinfo-'));
    try {
      const file = path.join(dir, 'app.log');
      await writeFile(file, 'old line\n');
      const sysinfo = createSysinfo();
      const start = await sysinfo.tailFile(file, -1, 1024);
      expect(start).toEqual({ text: '', nextOffset: 9 });
      await appendFile(file, 'new line\n');
      expect(await sysinfo.tailFile(file, start.nextOffset, 1024)).toEqual({ text: 'new line\n', nextOffset: 18 });
      await writeFile(file, 'x\n');
      expect(await sysinfo.tailFile(file, 18, 1024)).toEqual({ text: 'x\n', nextOffset: 2 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
