// What the checks measure on this machine (issue 21): a service check where systemd is not PID 1, disk checks on
// real tmpfs and loop mounts, processes with similar names, a CPU load of known average.
import { describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createSysinfo, type Sysinfo } from '../../../src/system/sysinfo.js';
import { onCleanup, setup, sleep, tempDir, waitFor } from './harness.js';

const run = promisify(execFile);
const linux = process.platform === 'linux';
const root = linux && process.getuid?.() === 0;
const systemdIsInit = linux && readFileSync('/proc/1/comm', 'utf8').trim() === 'systemd';
const hasSystemctl = ['/usr/bin/systemctl', '/bin/systemctl'].some((p) => existsSync(p));

/** A mounted filesystem of `sizeMiB` in a temp folder (tmpfs, or ext4 on a loop device), unmounted after the test. */
async function mounted(type: 'tmpfs' | 'loop', sizeMiB: number): Promise<string> {
  const dir = await tempDir('rmagent-mnt-');
  const mnt = path.join(dir, 'mnt');
  await mkdir(mnt);
  if (type === 'tmpfs') await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', mnt]);
  else {
    const image = path.join(dir, 'disk.img');
    await run('truncate', ['-s', `${sizeMiB}M`, image]);
    await run('mkfs.ext4', ['-q', '-m', '0', image]);
    await run('mount', ['-o', 'loop', image, mnt]);
  }
  onCleanup(() => run('umount', [mnt]));
  return mnt;
}

const fill = (file: string, mib: number) => writeFile(file, Buffer.alloc(mib * 1024 * 1024, 1));

describe('checks on this machine', () => {
  it.runIf(linux && hasSystemctl && !systemdIsInit)('service check without systemd as PID 1: "cannot check" with the reason, no alert', async () => {
    const h = await setup();
    await h.apply({ checks: [{ type: 'service', id: 'cron', name: 'cron', intervalSec: 1 }] });
    const problems = await waitFor('the problem', () => h.service.problems().length && h.service.problems());
    expect(problems).toEqual([{ code: 'CHECK_SOURCE_UNAVAILABLE', message: expect.stringContaining('check cron: systemctl cannot answer: System has not been booted with systemd'), fix: expect.any(String) }]);
    await sleep(1_200);
    expect(h.raised()).toEqual([]);
  });

  it.runIf(root)('disk check on a tmpfs path watches that tmpfs (not /), raises and clears with the right words', async () => {
    const mnt = await mounted('tmpfs', 20);
    await mkdir(path.join(mnt, 'spool'));
    await fill(path.join(mnt, 'spool', 'big'), 16); // 80 %
    const h = await setup();
    await h.apply({ checks: [{ type: 'disk', id: 'scratch', threshold: 50, mounts: [path.join(mnt, 'spool')], intervalSec: 1, hysteresis: 5 }] });
    const raised = await waitFor('the tmpfs alert', () => h.raised()[0]);
    expect(raised.data).toMatchObject({ key: `monitoring/scratch/used:${mnt}`, message: `Disk ${mnt} is 80% full (threshold 50%)`, value: 80 });
    await rm(path.join(mnt, 'spool', 'big'));
    const cleared = await waitFor('the clear', () => h.cleared()[0]);
    expect(cleared.data.message).toBe(`Disk ${mnt} is back to normal: 0% full (threshold 50%)`);
    expect(h.raised()).toHaveLength(1);
    expect(h.service.problems()).toEqual([]);
  });

  it.runIf(root)('disk check on a loop-mounted ext4 and its free bytes, equal to what statfs and df say', async () => {
    const mnt = await mounted('loop', 24);
    await fill(path.join(mnt, 'big'), 12);
    // ext4 allocates on write-back: until it is flushed, the free count still moves by a block or so.
    await run('sync', ['-f', mnt]);
    const { stdout } = await run('df', ['-B1', '--output=avail', mnt]);
    const avail = Number(stdout.trim().split('\n').at(-1));
    const h = await setup();
    await h.apply({ checks: [{ type: 'disk', id: 'data', minFreeBytes: avail + 1024 * 1024, mounts: [mnt], intervalSec: 1 }] });
    const raised = await waitFor('the loop alert', () => h.raised()[0]);
    expect(raised.data).toMatchObject({ key: `monitoring/data/free:${mnt}`, value: avail, message: `Disk ${mnt} has ${avail} bytes free (minimum ${avail + 1024 * 1024})` });
  });

  it('disk check on a path that does not exist or a filesystem without a size: "cannot check", / is not watched instead', async () => {
    const h = await setup();
    const missing = path.join(h.dir, 'no', 'such', 'folder');
    await h.apply({ checks: [{ type: 'disk', id: 'd', threshold: 0, mounts: [missing, ...(linux ? ['/proc/self'] : [])], intervalSec: 1 }] });
    const problems = await waitFor('the problems', () => h.service.problems().length === (linux ? 2 : 1) && h.service.problems());
    expect(problems[0]).toMatchObject({ code: 'CHECK_SOURCE_MISSING', message: expect.stringContaining(`check d: ${missing} does not exist`) });
    if (linux) expect(problems[1]).toMatchObject({ code: 'CHECK_SOURCE_UNAVAILABLE', message: expect.stringContaining('proc filesystem without a size') });
    await sleep(1_200);
    expect(h.raised()).toEqual([]);
  });

  it.runIf(linux)('process check: names match exactly, never a process with a similar name', async () => {
    const dir = await tempDir();
    await symlink('/bin/sleep', path.join(dir, 'rmh13sleep'));
    const child = spawn(path.join(dir, 'rmh13sleep'), ['30'], { stdio: 'ignore' });
    onCleanup(async () => child.kill());
    await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
    const h = await setup();
    await h.apply({
      checks: [
        { type: 'process', id: 'p', names: ['h13sl', 'rmh13sleep', 'rmh13sleep*'], intervalSec: 1 },
        { type: 'process', id: 'c', match: 'commandLine', names: [`${dir}/rmh13sleep 30`, 'rmh13sleep 30'], intervalSec: 1 },
      ],
    });
    const raised = await waitFor('two alerts', () => h.raised().length >= 2 && h.raised());
    await sleep(1_200);
    expect(h.raised().map((r) => r.data.message).sort()).toEqual(['No process runs with the command line rmh13sleep 30', 'Process h13sl is not running']);
    expect(raised).toHaveLength(2);
    child.kill();
    await waitFor('the exact names to alert once it ended', () => h.raised().length === 5);
  });

  it('cpu check: the average covers exactly the window it names (a load of known average)', async () => {
    // Each sample's interval gets the next load of the list, on 2 CPUs: the last 3 s average exactly 96 % when the
    // check raises; one sample more (the old window) would have said 82 %.
    const loads = [0, 40, 40, 40, 96, 96, 96, 0, 0, 0, 0, 0];
    let calls = 0;
    let last = Date.now();
    const counters = { busy: 0, total: 0 };
    const real = createSysinfo();
    const sysinfo: Sysinfo = {
      ...real,
      cpuCounters() {
        const now = Date.now();
        const dt = now - last;
        last = now;
        const load = loads[Math.min(calls++, loads.length - 1)]!;
        counters.busy += (load / 100) * dt * 2;
        counters.total += dt * 2;
        return { ...counters };
      },
    };
    const h = await setup({ sysinfo });
    await h.apply({ checks: [{ type: 'cpu', id: 'cpu', threshold: 80, durationSec: 3, intervalSec: 1, hysteresis: 5 }] });
    const raised = await waitFor('the cpu alert', () => h.raised()[0], 12_000);
    expect(raised.data.value as number).toBeCloseTo(96, 0);
    expect(raised.data.message).toMatch(/^CPU usage averaged 9[56](\.\d+)?% over the last 3s \(threshold 80%\)$/);
    const cleared = await waitFor('the clear', () => h.cleared()[0], 12_000);
    expect(cleared.data.message).toMatch(/^CPU usage is back to normal: averaged 6[34](\.\d+)?% over the last 3s \(threshold 80%\)$/);
  });

  it.runIf(linux)('cpu check under a real load that fills every CPU reports that load', async () => {
    const burners = os.cpus().map(() => spawn(process.execPath, ['-e', 'const end = Date.now() + 6000; while (Date.now() < end);'], { stdio: 'ignore' }));
    onCleanup(async () => burners.forEach((b) => b.kill()));
    const h = await setup();
    await h.apply({ checks: [{ type: 'cpu', id: 'cpu', threshold: 50, durationSec: 2, intervalSec: 1 }] });
    const raised = await waitFor('the cpu alert', () => h.raised()[0], 6_000);
    expect(raised.data.value as number).toBeGreaterThan(90);
    expect(raised.data.message).toContain('over the last 2s (threshold 50%)');
  });
});
