// The system-sample edge on this machine: the snapshot matches the wire schema, the samples agree with
// df and node:os, and the hot path stays cheap (on Linux: no child process, no systeminformation).
import { describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile, appendFile, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createSysinfo } from '../../src/system/sysinfo.js';
import { siDisks, siMemory, siProcesses } from '../../src/system/sysinfo-si.js';
import { REPORT_DATA_SCHEMAS } from '../../src/protocol/frames.js';

// A process surely running under a known name (Node 24 names its own main thread "MainThread", so the test
// runner's process is no such process).
async function startSleeper() {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
  return child;
}

describe('sysinfo', () => {
  it('builds a status snapshot that validates against the status report schema, static facts cached', async () => {
    const sysinfo = createSysinfo();
    let started = performance.now();
    const first = await sysinfo.statusSnapshot();
    const firstMs = performance.now() - started;
    expect(REPORT_DATA_SCHEMAS.status!.safeParse(first).success).toBe(true);
    expect(first.os.platform).toBe(os.platform() === 'win32' ? 'Windows' : os.platform());
    expect(first.memory.totalBytes).toBeGreaterThan(0);
    expect(first.disks.length).toBeGreaterThan(0);
    const second = await sysinfo.statusSnapshot();
    expect(REPORT_DATA_SCHEMAS.status!.safeParse(second).success).toBe(true);
    expect(second.network).toEqual(first.network);
    // Cached facts: later snapshots cost the samples only (on Linux no child process: ~1 ms; df alone took ~30 ms).
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      started = performance.now();
      await sysinfo.statusSnapshot();
      times.push(performance.now() - started);
    }
    expect(Math.min(...times)).toBeLessThan(process.platform === 'linux' ? 15 : firstMs);
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
    const sleeper = await startSleeper();
    try {
      expect(await sysinfo.processes(['sleep', 'no-such-process-rmagent'], 'name')).toEqual({ sleep: true, 'no-such-process-rmagent': false });
    } finally {
      sleeper.kill();
    }
  });

  it('reads a log from its end, then only new bytes, and starts over after truncation or rotation', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rmagent-sysinfo-'));
    try {
      const file = path.join(dir, 'app.log');
      await writeFile(file, 'old line\n');
      const sysinfo = createSysinfo();
      const start = await sysinfo.readLog(file, null, 1024);
      expect(start).toMatchObject({ start: 9, size: 9 });
      expect(start.bytes.length).toBe(0);
      await appendFile(file, 'new line\n');
      const next = await sysinfo.readLog(file, { offset: 9, ino: start.ino }, 1024);
      expect([next.bytes.toString(), next.start]).toEqual(['new line\n', 9]);
      await writeFile(file, 'x\n');
      const truncated = await sysinfo.readLog(file, { offset: 18, ino: start.ino }, 1024);
      expect([truncated.bytes.toString(), truncated.start]).toEqual(['x\n', 0]);
      // Rotated: another file at the path, already longer than the old offset, is read from its start.
      await rename(file, `${file}.1`);
      await writeFile(file, 'first line of the new file\n');
      const rotated = await sysinfo.readLog(file, { offset: 2, ino: start.ino }, 1024);
      expect([rotated.bytes.toString(), rotated.start]).toEqual(['first line of the new file\n', 0]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.runIf(process.platform !== 'win32')('refuses at once what is not a regular file: a FIFO without a writer, a folder, a link, nothing', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rmagent-sysinfo-'));
    try {
      const fifo = path.join(dir, 'fifo.log');
      await run('mkfifo', [fifo]);
      const sysinfo = createSysinfo();
      const started = performance.now();
      await expect(sysinfo.readLog(fifo, null, 1024)).rejects.toMatchObject({ code: 'ENOTREG', message: expect.stringContaining('is a FIFO') });
      await expect(sysinfo.readLog(fifo, { offset: 0 }, 1024)).rejects.toMatchObject({ code: 'ENOTREG' });
      expect(performance.now() - started).toBeLessThan(1000);
      await expect(sysinfo.readLog(dir, null, 1024)).rejects.toMatchObject({ code: 'ENOTREG', message: expect.stringContaining('is a folder') });
      await writeFile(path.join(dir, 'secret'), 'root only\n');
      await symlink(path.join(dir, 'secret'), path.join(dir, 'link.log'));
      await expect(sysinfo.readLog(path.join(dir, 'link.log'), { offset: 0 }, 1024)).rejects.toMatchObject({ code: 'ELOOP' });
      await expect(sysinfo.readLog(path.join(dir, 'none.log'), null, 1024)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const run = promisify(execFile);

/** `df -kPT <path>`: the filesystem holding path, as df sees it (sizes in bytes). */
async function df(target: string) {
  const { stdout } = await run('df', ['-kPT', target], { env: { ...process.env, LC_ALL: 'C' }, timeout: 10_000 });
  const m = /^(.+?)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(.+)$/.exec(stdout.trim().split('\n').at(-1)!)!;
  return { source: m[1]!, type: m[2]!, sizeBytes: Number(m[3]) * 1024, usedBytes: Number(m[4]) * 1024, usePercent: Number(m[6]), mount: m[7]! };
}

describe.runIf(process.platform === 'linux')('sysinfo on Linux (/proc, statfs)', () => {
  it('lists the root filesystem with the size and use df reports, and the filesystem of the temp folder', async () => {
    const disks = await createSysinfo().disks();
    const root = disks.find((d) => d.mount === '/');
    const dfRoot = await df('/');
    expect(root).toBeDefined();
    expect(Math.abs(root!.sizeBytes - dfRoot.sizeBytes) / dfRoot.sizeBytes).toBeLessThan(0.01);
    expect(Math.abs(root!.usedBytes - dfRoot.usedBytes) / dfRoot.sizeBytes).toBeLessThan(0.01);
    expect(root!.availableBytes).toBeGreaterThan(0);
    // The percentage an alert compares is df's Use% (df rounds up).
    expect(Math.abs(Math.ceil(root!.usedPercent) - dfRoot.usePercent)).toBeLessThanOrEqual(1);
    expect(new Set(disks.map((d) => d.mount)).size).toBe(disks.length);
    const tmp = await df(os.tmpdir());
    // A tmpfs /tmp is scratch memory, not a disk (systeminformation left it out as well).
    if (tmp.type === 'tmpfs' && tmp.mount !== '/') expect(disks.some((d) => d.mount === tmp.mount)).toBe(false);
    else expect(disks.some((d) => d.mount === tmp.mount)).toBe(true);
  });

  it('reports the total memory node:os reports and a used share below 100 %', async () => {
    const mem = await createSysinfo().memory();
    expect(Math.abs(mem.totalBytes - os.totalmem())).toBeLessThanOrEqual(1024 * 1024);
    expect(mem.usedBytes).toBeGreaterThan(0);
    expect(mem.usedBytes).toBeLessThan(mem.totalBytes);
  });

  it('measures the CPU this process burns between two calls', async () => {
    const sysinfo = createSysinfo();
    await sysinfo.cpuPercent();
    const until = performance.now() + 400;
    while (performance.now() < until) Math.sqrt(Math.random()); // one core busy for 400 ms
    const busy = await sysinfo.cpuPercent();
    expect(busy).toBeLessThanOrEqual(100);
    // One busy core of n is 100/n %; leave room for the scheduler.
    expect(busy).toBeGreaterThan(50 / os.cpus().length);
  });

  it('finds a process by its exact name, also one longer than the 15 bytes the kernel keeps, and not after it ended', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rmagent-proc-'));
    const long = 'rmagent-test-long-sleeper';
    await symlink('/bin/sleep', path.join(dir, long));
    await symlink('/bin/sleep', path.join(dir, 'rmh13sleep'));
    const children = [spawn(path.join(dir, long), ['30'], { stdio: 'ignore' }), spawn(path.join(dir, 'rmh13sleep'), ['31'], { stdio: 'ignore' })];
    const spawned = Promise.all(children.map((child) => new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject))));
    try {
      await spawned;
      const sysinfo = createSysinfo();
      expect(await sysinfo.processes([long, 'no-such-process-rmagent', 'h13sl', 'rmh13sleep', '*h13sl*'], 'name')).toEqual({ [long]: true, 'no-such-process-rmagent': false, h13sl: false, rmh13sleep: true, '*h13sl*': true });
      expect(await sysinfo.processes([`${dir}/rmh13sleep 31`, 'rmh13sleep', '*/rmh13sleep 3*', '*/rmh13sleep 3'], 'commandLine')).toEqual({ [`${dir}/rmh13sleep 31`]: true, rmh13sleep: false, '*/rmh13sleep 3*': true, '*/rmh13sleep 3': false });
      const exited = new Promise((resolve) => children[0]!.once('exit', resolve));
      children[0]!.kill();
      await exited;
      expect(await sysinfo.processes([long], 'name')).toEqual({ [long]: false });
    } finally {
      for (const child of children) child.kill();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names this Node process by its executable, not by the "MainThread" of /proc/PID/comm', async () => {
    const exe = path.basename(process.execPath);
    expect(readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim()).not.toBe(exe);
    expect(await createSysinfo().processes([exe], 'name')).toEqual({ [exe]: true });
  });

  it('agrees with systeminformation, which macOS and Windows still use, on this machine', async () => {
    const sysinfo = createSysinfo();
    const [ours, theirs, mem, siMem] = await Promise.all([sysinfo.disks(), siDisks(), sysinfo.memory(), siMemory()]);
    // Every block device systeminformation lists is here with the same size (network shares, overlays and ZFS
    // datasets, which it sized with `zfs list`, have no device path; bind mounts of a device are listed once).
    const devices = theirs.filter((t) => t.source.startsWith('/') && !t.source.startsWith('//'));
    expect(devices.length).toBeGreaterThan(0);
    for (const d of devices) expect(ours.find((o) => o.fs === d.source)?.sizeBytes, d.source).toBe(d.sizeBytes);
    expect(mem.totalBytes).toBe(siMem.totalBytes);
    expect(Math.abs(mem.usedBytes - siMem.usedBytes) / mem.totalBytes).toBeLessThan(0.05);
    const sleeper = await startSleeper();
    try {
      expect(await siProcesses(['sleep', 'no-such-process-rmagent'], 'name')).toEqual({ sleep: true, 'no-such-process-rmagent': false });
    } finally {
      sleeper.kill();
    }
  });

  it('never loads systeminformation: not with the daemon\'s modules, not for samples and status snapshots', async () => {
    const build = path.resolve('build/src');
    const script = `
      const { createRequire } = await import('node:module');
      await import(${JSON.stringify(path.join(build, 'cli/run.js'))});
      const { createSysinfo } = await import(${JSON.stringify(path.join(build, 'system/sysinfo.js'))});
      const s = createSysinfo();
      await Promise.all([s.statusSnapshot(), s.cpuPercent(), s.memory(), s.disks(), s.processes(['node'], 'name')]);
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify({ modules: loaded.length, si: loaded.filter((k) => k.includes('systeminformation')) }));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
    const result = JSON.parse(stdout) as { modules: number; si: string[] };
    expect(result.modules).toBeGreaterThan(10); // ws, winston...: the check sees CommonJS modules at all
    expect(result.si).toEqual([]);
  });
});
