// A backup that fills its destination (review 4, finding 11). Before the fix the run left everything it had
// written: the packs it completed (in no index, so nothing would ever use or remove them) and the partial temp
// file of the pack it was writing (writePackFile and writeFileAtomic closed a temp file whose write failed but
// never unlinked it). On a 24 MiB disk 24 MiB stayed used, so the destination stayed full and every later run
// failed too; the error was a bare "ENOSPC: no space left on device" (SERVICE_FAILED) with no hint. Each test here
// fills a real tmpfs (root only; skipped where mount is not allowed) and checks that the failed run frees what
// it wrote — and only that: a pack another run left is not touched — and says BACKUP_DESTINATION_FULL.
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Repository } from '../../../src/services/backup/repo.js';
import { takeTreeSnapshot } from '../../../src/services/backup/tree-snapshot.js';
import { runJobFile } from '../../../src/services/backup/job.js';
import { loadManifestKey } from '../../../src/services/backup/destination.js';
import { writeFileAtomic } from '../../../src/system/files.js';
import { isRmError } from '../../../src/protocol/errors.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** `dir/dest` on a tmpfs of `size` (null when this process may not mount). */
function tmpfsDestination(size: string): { dir: string; dest: string } | null {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rmagent-full-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const dest = path.join(dir, 'dest');
  mkdirSync(dest, { mode: 0o700 });
  if (process.getuid?.() !== 0) return null;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dest], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    return null;
  }
  cleanups.push(() => execFileSync('umount', [dest], { timeout: 10_000 }));
  return { dir, dest };
}

const usedKiB = (dir: string) => Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]);
const filesUnder = (dir: string) => execFileSync('find', [dir, '-type', 'f'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map((p) => path.relative(dir, p)).sort();

function sourceFolder(dir: string, name: string, files: number, mib: number): string {
  const src = path.join(dir, name);
  mkdirSync(src);
  for (let i = 0; i < files; i++) writeFileSync(path.join(src, `f${i}.bin`), randomBytes(mib * 1024 * 1024));
  return src;
}

describe('a backup that fills the destination', () => {
  it('frees the packs and the temp file it wrote, leaves another run\'s pack alone, and says BACKUP_DESTINATION_FULL', async (ctx) => {
    const where = tmpfsDestination('24m');
    if (!where) return ctx.skip();
    const { dir, dest } = where;
    const src = sourceFolder(dir, 'src', 3, 9);
    const key = randomBytes(32);
    const repo = await Repository.open(dest, key);
    // A pack some other run left (killed before its index): not this run's to remove.
    const foreign = path.join(dest, 'data', 'ab', `ab${'0'.repeat(62)}`);
    mkdirSync(path.dirname(foreign), { recursive: true });
    writeFileSync(foreign, randomBytes(4096));
    let error: unknown = null;
    await takeTreeSnapshot(repo, { folders: [src], exclude: [], actor: null, id: 's1', now: Date.now, skip: [dest] }, null).catch((err: unknown) => (error = err));
    await repo.close();
    expect(error).not.toBe(null);
    expect(isRmError(error) && error.code).toBe('BACKUP_DESTINATION_FULL');
    expect((error as Error).message).toContain(dest);
    expect(usedKiB(dest)).toBeLessThan(1024);
    expect(filesUnder(dest)).toEqual(['config', path.relative(dest, foreign)]);
  });

  it('a snapshot job on a full destination ends with BACKUP_DESTINATION_FULL, and the next, smaller one succeeds', async (ctx) => {
    const where = tmpfsDestination('24m');
    if (!where) return ctx.skip();
    const { dir, dest } = where;
    const big = sourceFolder(dir, 'big', 3, 9);
    const small = sourceFolder(dir, 'small', 1, 4);
    const stateDir = path.join(dir, 'state');
    mkdirSync(stateDir, { mode: 0o700 });
    await loadManifestKey(stateDir);
    const job = async (id: string, folder: string) => {
      const jobDir = path.join(stateDir, 'jobs', id);
      mkdirSync(jobDir, { recursive: true });
      const jobFile = path.join(jobDir, 'job.json');
      writeFileSync(jobFile, JSON.stringify({ v: 1, kind: 'snapshot', jobId: id, commandId: null, createdAt: Date.now(), stateDir, destination: dest, lastSnapshot: null, snapshotId: `s-${id}`, folders: [folder], exclude: [], actor: null, keep: 1, verify: true }));
      return runJobFile(jobFile);
    };
    const failed = await job('j1', big);
    expect(failed).toMatchObject({ kind: 'error', code: 'BACKUP_DESTINATION_FULL' });
    expect(usedKiB(dest)).toBeLessThan(1024);
    expect(await job('j2', small)).toMatchObject({ kind: 'snapshot', verified: { bad: 0 } });
  });

  it('a destination too full for the repository\'s config fails the job with BACKUP_DESTINATION_FULL, leaving no temp file', async (ctx) => {
    const where = tmpfsDestination('1m');
    if (!where) return ctx.skip();
    const { dir, dest } = where;
    try {
      writeFileSync(path.join(dest, 'filler'), Buffer.alloc(2 * 1024 * 1024, 1));
    } catch {
      // full: what was written stays
    }
    const stateDir = path.join(dir, 'state');
    mkdirSync(path.join(stateDir, 'jobs', 'j1'), { recursive: true, mode: 0o700 });
    const jobFile = path.join(stateDir, 'jobs', 'j1', 'job.json');
    writeFileSync(jobFile, JSON.stringify({ v: 1, kind: 'snapshot', jobId: 'j1', commandId: null, createdAt: Date.now(), stateDir, destination: dest, lastSnapshot: null, snapshotId: 's1', folders: [dir], exclude: [], actor: null, keep: 1, verify: false }));
    expect(await runJobFile(jobFile)).toMatchObject({ kind: 'error', code: 'BACKUP_DESTINATION_FULL' });
    expect(readdirSync(dest)).toEqual(['filler']);
  });

  it('writeFileAtomic removes its temp file when the write fails', async (ctx) => {
    const where = tmpfsDestination('1m');
    if (!where) return ctx.skip();
    const { dest } = where;
    writeFileSync(path.join(dest, 'filler'), randomBytes(1024 * 1024 - 64 * 1024));
    await expect(writeFileAtomic(path.join(dest, 'state.json'), randomBytes(512 * 1024))).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(readdirSync(dest)).toEqual(['filler']);
    expect(existsSync(path.join(dest, 'state.json'))).toBe(false);
  });
});
