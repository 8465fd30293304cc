import { afterEach, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rm, stat, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { createBackupService } from '../../../src/services/backup/service.js';
import { createHeavyJobScheduler } from '../../../src/services/budget.js';
import { makeFrame, type Frame, type CommandType, type BodyOf } from '../../../src/protocol/frames.js';
import type { Policy } from '../../../src/protocol/model.js';
import type { RmService } from '../../../src/agent/contracts.js';
import { serviceRuntime, tempDir } from '../budget/service-runtime.js';
import { BUILT_RMAGENT } from './built-rmagent.js';

type Cmd = Frame & { type: CommandType };
const policy = (settings: Record<string, unknown>): Policy => ({ id: 'backup-p', name: 'Backup', service: 'backup', version: 1, settings });
const run = (actor?: string) => makeFrame('backup.run', { deviceId: 'dev-1', ...(actor ? { actor } : {}) }) as Cmd;
const restore = (body: Omit<BodyOf<'backup.restore'>, 'deviceId'>) => makeFrame('backup.restore', { deviceId: 'dev-1', ...body }) as Cmd;
const install = (actor?: string) => makeFrame('service.install', { deviceId: 'dev-1', service: 'backup', policy: policy({}), ...(actor ? { actor } : {}) }) as Cmd;
const assign = (actor?: string) => makeFrame('policy.assign', { deviceId: 'dev-1', service: 'backup', policy: policy({}), ...(actor ? { actor } : {}) }) as Cmd;

const cleanups: Array<() => Promise<void>> = [];
const services: RmService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  for (const c of cleanups.splice(0)) await c();
});

async function tree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string, rel: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path.join(d, e.name), r);
      else out.set(r, createHash('sha256').update(await readFile(path.join(d, e.name))).digest('hex'));
    }
  };
  await walk(dir, '');
  return out;
}

/** A Backup service with its state at `dir/state/services/backup`, opted in to machine changes unless told otherwise. */
async function setup(settings: Record<string, unknown> = {}, options: { optIn?: boolean } = {}) {
  const { dir, cleanup } = await tempDir('backup');
  cleanups.push(cleanup);
  const data = path.join(dir, 'data');
  const dest = path.join(dir, 'dest');
  await mkdir(path.join(data, 'docs', 'deep'), { recursive: true });
  await mkdir(path.join(data, 'cache'), { recursive: true });
  await writeFile(path.join(data, 'docs', 'report.txt'), 'quarterly numbers\n'.repeat(1000));
  await writeFile(path.join(data, 'docs', 'deep', 'big.bin'), randomBytes(3 * 1024 * 1024 + 123)); // 4 chunks
  await writeFile(path.join(data, 'notes.md'), '# notes\n');
  await writeFile(path.join(data, 'scratch.tmp'), 'temporary');
  await writeFile(path.join(data, 'cache', 'x'), 'cached');
  await writeFile(path.join(data, 'empty'), '');
  await chmod(path.join(data, 'notes.md'), 0o640);
  const { runtime, reports, clock } = serviceRuntime(path.join(dir, 'state', 'services', 'backup'));
  const service = createBackupService({ scheduler: createHeavyJobScheduler({ clock, random: () => 0 }), tickMs: 3_600_000, self: BUILT_RMAGENT })(runtime);
  services.push(service);
  await service.install();
  const allowFile = path.join(dir, 'state', 'allow-changes');
  if (options.optIn ?? true) await writeFile(allowFile, '');
  expect(await service.handleCommand!(install('alice@example.com'))).toBeUndefined();
  await service.apply(policy({}), { folders: [data], destination: dest, exclude: ['*.tmp', 'cache/'], retention: { keep: 3 }, ...settings });
  return { service, reports, clock, data, dest, dir, allowFile };
}

const snapshots = (reports: { kind: string; data: Record<string, unknown> }[]) => reports.filter((r) => r.kind === 'backup' && r.data.event === 'snapshot').map((r) => r.data);

describe('Backup', () => {
  it('backs up, dedups an unchanged second run, restores changed/deleted files to another folder byte for byte', async () => {
    const { service, reports, clock, data, dir } = await setup();
    const original = await tree(data);

    expect(await service.handleCommand!(run('alice@example.com'))).toEqual({ status: 'done' });
    clock.advance(60_000);
    expect(await service.handleCommand!(run())).toEqual({ status: 'done' });
    const [first, second] = snapshots(reports);
    console.log(`backup sizes: first ${first!.bytesStored} bytes stored (${first!.bytesRead} read, ${first!.files} files), second unchanged ${second!.bytesStored} bytes stored (${second!.bytesRead} read)`);
    expect(first).toMatchObject({ files: 4, verified: { bad: 0 } }); // *.tmp and cache/ excluded
    expect(first!.bytesStored as number).toBeGreaterThan(3 * 1024 * 1024); // random data does not compress
    expect(second!.bytesStored).toBe(0);
    expect(second!.files).toBe(4);

    // change one file, delete another, then restore the first snapshot elsewhere
    await writeFile(path.join(data, 'docs', 'report.txt'), 'changed!');
    await rm(path.join(data, 'notes.md'));
    clock.advance(60_000);
    await service.handleCommand!(run());
    const third = snapshots(reports)[2]!;
    expect(third.bytesStored as number).toBeGreaterThan(0);
    expect(third.bytesStored as number).toBeLessThan(1_000);

    const target = path.join(dir, 'restored');
    expect(await service.handleCommand!(restore({ actor: 'alice@example.com', snapshot: first!.snapshot as string, target }))).toEqual({ status: 'done' });
    const expected = new Map([...original].filter(([k]) => !k.endsWith('.tmp') && !k.startsWith('cache/')));
    expect(await tree(target)).toEqual(expected);
    expect((await stat(path.join(target, 'notes.md'))).mode & 0o777).toBe(0o640);
    const restoreReport = reports.find((r) => r.data.event === 'restore')!;
    expect(restoreReport.data).toMatchObject({ files: 4, verified: 4, snapshot: first!.snapshot });

    // the latest snapshot restored over the original folder brings back exactly its state
    await writeFile(path.join(data, 'docs', 'report.txt'), 'broken again');
    expect(await service.handleCommand!(restore({ actor: 'alice@example.com' }))).toEqual({ status: 'done' });
    expect(await readFile(path.join(data, 'docs', 'report.txt'), 'utf8')).toBe('changed!');
  });

  it('refuses restore, policy change and install by another account, and restore without one', async () => {
    const { service, reports, dir } = await setup();
    await service.handleCommand!(run());
    const target = path.join(dir, 'stolen');
    for (const cmd of [restore({ actor: 'mallory@example.com', target }), assign('mallory@example.com'), install('mallory@example.com'), run('mallory@example.com'), assign()]) {
      const outcome = await service.handleCommand!(cmd);
      expect(outcome?.status, cmd.type).toBe('rejected');
      expect(outcome?.reason?.code).toBe('BACKUP_ACTOR_MISMATCH');
    }
    expect(reports.filter((r) => r.data.event === 'restore')).toHaveLength(0);
    await expect(stat(target)).rejects.toThrow();
    expect(await service.handleCommand!(assign('alice@example.com'))).toBeUndefined();
  });

  it('refuses every restore without the local opt-in file, writing nothing; restores once it exists', async () => {
    const { service, reports, data, dir, allowFile } = await setup({}, { optIn: false });
    expect(await service.handleCommand!(run('alice@example.com'))).toEqual({ status: 'done' }); // backing up changes nothing
    const original = await tree(data);
    await writeFile(path.join(data, 'notes.md'), 'edited after the backup');
    const target = path.join(dir, 'state', 'restore-new');
    for (const body of [{ actor: 'alice@example.com', target }, { actor: 'alice@example.com' }]) {
      const outcome = await service.handleCommand!(restore(body));
      expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'CHANGES_NOT_ALLOWED' } });
      expect(outcome?.reason?.message).toContain(allowFile);
    }
    await expect(stat(target)).rejects.toThrow();
    expect(await readFile(path.join(data, 'notes.md'), 'utf8')).toBe('edited after the backup');
    const attempts = reports.filter((r) => r.data.event === 'restore').map((r) => [r.data.result, r.data.code]);
    expect(attempts).toEqual([['failed', 'CHANGES_NOT_ALLOWED'], ['failed', 'CHANGES_NOT_ALLOWED']]);

    await writeFile(allowFile, ''); // read at each restore: no restart needed
    expect(await service.handleCommand!(restore({ actor: 'alice@example.com' }))).toEqual({ status: 'done' });
    expect(await tree(data)).toEqual(original);
  });

  it('refuses a tampered snapshot record (the old seal over new bytes), writing nothing', async () => {
    const { service, reports, dest, dir } = await setup();
    await service.handleCommand!(run());
    const id = snapshots(reports)[0]!.snapshot as string;
    const file = path.join(dest, 'snaps', id);
    const text = await readFile(file, 'utf8');
    const nl = text.indexOf('\n');
    const record = JSON.parse(text.slice(nl + 1)) as { folders: { name: string }[] };
    record.folders[0]!.name = 'elsewhere';
    await writeFile(file, `${text.slice(0, nl)}\n${JSON.stringify(record)}\n`);
    const target = path.join(dir, 'restore-here', 'inner');
    const outcome = await service.handleCommand!(restore({ actor: 'alice@example.com', snapshot: id, target }));
    expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'BACKUP_MANIFEST_UNTRUSTED' } });
    await expect(stat(target)).rejects.toThrow();
  });

  it('a corrupted pack fails the restore, and the next run\'s verification finds it', async () => {
    const { service, reports, dest, dir } = await setup();
    await service.handleCommand!(run());
    const dataDir = path.join(dest, 'data');
    const fan = (await readdir(dataDir))[0]!;
    const pack = path.join(dataDir, fan, (await readdir(path.join(dataDir, fan)))[0]!);
    const bytes = await readFile(pack);
    for (let i = 100; i < bytes.length; i += 4096) bytes[i]! ^= 0xff; // every blob of the pack is hit
    await writeFile(pack, bytes);
    const outcome = await service.handleCommand!(restore({ actor: 'alice@example.com', target: path.join(dir, 'r') }));
    expect(outcome).toMatchObject({ status: 'failed', reason: { code: 'BACKUP_VERIFY_FAILED' } });
    const next = await service.handleCommand!(run());
    expect(next).toMatchObject({ status: 'failed', reason: { code: 'BACKUP_VERIFY_FAILED' } });
    expect((snapshots(reports)[1]!.verified as { bad: number }).bad).toBeGreaterThan(0);
    const failures = reports.filter((r) => r.data.result === 'failed').map((r) => [r.data.event, r.data.code]);
    expect(failures).toEqual([['restore', 'BACKUP_VERIFY_FAILED'], ['snapshot', 'BACKUP_VERIFY_FAILED']]);
  });

  it('retention keeps the newest N snapshots and removes the packs only older ones used', async () => {
    const { service, reports, clock, data, dest } = await setup({ retention: { keep: 2 } });
    const packs = async () => {
      const out: string[] = [];
      for (const fan of await readdir(path.join(dest, 'data'))) out.push(...(await readdir(path.join(dest, 'data', fan))));
      return out.sort();
    };
    const perRun: string[][] = [];
    for (let i = 0; i < 4; i++) {
      await writeFile(path.join(data, 'docs', 'deep', 'big.bin'), randomBytes(200_000)); // new content each time
      clock.advance(60_000);
      const before: string[] = await packs().catch(() => [] as string[]);
      expect(await service.handleCommand!(run())).toEqual({ status: 'done' });
      perRun.push((await packs()).filter((p) => !before.includes(p)));
    }
    const ids = snapshots(reports).map((s) => s.snapshot as string);
    expect((await readdir(path.join(dest, 'snaps'))).sort()).toEqual(ids.slice(2).sort());
    const last = snapshots(reports)[3]!;
    expect((last.pruned as { snapshots: string[] }).snapshots).toEqual([ids[1]]);
    expect((last.pruned as { packs: number }).packs).toBe(1); // the pack of run 2 (its big.bin and changed trees)
    const left = await packs();
    expect(left).toEqual(expect.arrayContaining([...perRun[0]!, ...perRun[2]!, ...perRun[3]!]));
    expect(left.some((p) => perRun[1]!.includes(p))).toBe(false);
  });

  it('runs on its schedule, not twice within the interval', async () => {
    const { dir, cleanup } = await tempDir('backup-tick');
    cleanups.push(cleanup);
    const data = path.join(dir, 'data');
    await mkdir(data);
    await writeFile(path.join(data, 'a.txt'), 'a');
    const { runtime, reports, clock } = serviceRuntime(path.join(dir, 'state'));
    const service = createBackupService({ scheduler: createHeavyJobScheduler({ clock, random: () => 0 }), tickMs: 20, self: BUILT_RMAGENT })(runtime);
    services.push(service);
    await service.install();
    await service.apply(policy({}), { folders: [data], destination: path.join(dir, 'dest'), schedule: { everyHours: 1 }, maxJitterSec: 0 });
    for (let i = 0; i < 500 && reports.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 150));
    expect(snapshots(reports)).toHaveLength(1);
    expect(snapshots(reports)[0]).toMatchObject({ files: 1 });
  });
});

describe('Backup restore and symbolic links', () => {
  it('a link planted in the restore folder cannot redirect files outside it', async () => {
    const { symlink } = await import('node:fs/promises');
    const { service, dir } = await setup();
    await service.handleCommand!(run());
    const target = path.join(dir, 'restore-target');
    const outside = path.join(dir, 'outside');
    await mkdir(target);
    await mkdir(outside);
    await symlink(outside, path.join(target, 'docs'));
    const outcome = await service.handleCommand!(restore({ actor: 'alice@example.com', target }));
    expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'BACKUP_UNSAFE_PATH' } });
    expect(await readdir(outside)).toEqual([]);
  });
});

describe('Backup of several folders', () => {
  it('folders with the same name restore side by side under the target, only the requested paths', async () => {
    const { dir, cleanup } = await tempDir('backup-multi');
    cleanups.push(cleanup);
    const a = path.join(dir, 'a', 'data');
    const b = path.join(dir, 'b', 'data');
    await mkdir(path.join(a, 'keep'), { recursive: true });
    await mkdir(b, { recursive: true });
    await writeFile(path.join(a, 'keep', 'one.txt'), 'one');
    await writeFile(path.join(a, 'skip.txt'), 'skip');
    await writeFile(path.join(b, 'two.txt'), 'two');
    const { runtime } = serviceRuntime(path.join(dir, 'state', 'services', 'backup'));
    const service = createBackupService({ scheduler: createHeavyJobScheduler({ clock: runtime.clock, random: () => 0 }), tickMs: 3_600_000, self: BUILT_RMAGENT })(runtime);
    services.push(service);
    await service.install();
    await writeFile(path.join(dir, 'state', 'allow-changes'), '');
    await service.apply(policy({}), { folders: [a, b], destination: path.join(dir, 'dest') });
    expect(await service.handleCommand!(run('bob'))).toEqual({ status: 'done' });
    const target = path.join(dir, 'out');
    expect(await service.handleCommand!(restore({ actor: 'bob', target, paths: ['keep', 'two.txt'] }))).toEqual({ status: 'done' });
    expect([...(await tree(target)).keys()].sort()).toEqual(['data-1/two.txt', 'data/keep/one.txt']);
  });
});

describe('Backup destination inside a backed-up folder', () => {
  it('is never backed up into itself', async () => {
    const { dir, cleanup } = await tempDir('backup-self');
    cleanups.push(cleanup);
    await writeFile(path.join(dir, 'a.txt'), 'a');
    const { runtime, reports } = serviceRuntime(path.join(dir, '.state'));
    const service = createBackupService({ scheduler: createHeavyJobScheduler({ clock: runtime.clock, random: () => 0 }), tickMs: 3_600_000, self: BUILT_RMAGENT })(runtime);
    services.push(service);
    await service.install();
    await service.apply(policy({}), { folders: [dir], destination: path.join(dir, 'backups'), exclude: ['.state'] });
    await service.handleCommand!(run());
    await service.handleCommand!(run());
    expect(snapshots(reports).map((s) => s.files)).toEqual([1, 1]);
  });
});
