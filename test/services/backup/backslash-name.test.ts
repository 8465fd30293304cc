// Names the walk wrote but every read refused (review 4, finding 3). Mistake: on Linux and macOS a '\' is an
// ordinary file-name character (files unpacked from Windows zips: `docs\report.pdf`), and a local user can make one
// with `touch 'a\b'`. The walk stored such a name, but TreeSchema (the reader) refused '\': every restore of the
// snapshot failed as BACKUP_MANIFEST_UNTRUSTED, other users' folders included, while backup and verify reported
// success. The same for a policy folder named like a drive (`c:data`): the record itself was refused at every read
// (nothing restorable, pruning paused). Checked here: such names are backed up and every tree and record the walk
// writes is read back; the restore's own file writer (safe-files) accepts the name on POSIX.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Repository } from '../../../src/services/backup/repo.js';
import { reachable, readRecord, takeTreeSnapshot, verifyRepository } from '../../../src/services/backup/tree-snapshot.js';
import { decodeTree, entryProblem, nameProblemOn, TreeSchema, type TreeEntry } from '../../../src/services/backup/tree.js';
import { folderChain, writeFileInFolder } from '../../../src/system/safe-files.js';
import { restoreTreeSnapshot } from '../../../src/services/backup/tree-restore.js';
import { fsBlocking } from '../../../src/system/fs-async.js';

const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(prefix: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  const repoDir = path.join(dir, 'repo');
  mkdirSync(repoDir, { mode: 0o700 });
  return { dir, repoDir };
}

describe.runIf(process.platform !== 'win32')('names POSIX allows and the old reader refused', () => {
  it('a file named with a backslash is backed up and every tree of the snapshot reads back', async () => {
    const { dir, repoDir } = setup('bk-bslash-');
    const home = path.join(dir, 'home');
    mkdirSync(path.join(home, 'alice'), { recursive: true });
    mkdirSync(path.join(home, 'mallory', 'sub\\dir'), { recursive: true });
    writeFileSync(path.join(home, 'alice', 'thesis.txt'), 'five years of work');
    writeFileSync(path.join(home, 'mallory', 'docs\\report.pdf'), 'from a Windows zip');
    writeFileSync(path.join(home, 'mallory', 'sub\\dir', 'x'), 'x');
    const repo = await Repository.open(repoDir, randomBytes(32));
    const record = await takeTreeSnapshot(repo, { folders: [home], exclude: [], actor: null, id: 's1', now: Date.now, skip: [repoDir] }, null);
    expect((await verifyRepository(repo, 100)).bad).toBe(0);
    // Every tree the restore would read parses (before: "must be one plain name" for mallory's folder).
    await expect(reachable(repo, [await readRecord(repo, 's1')])).resolves.toBeDefined();
    const top = decodeTree(await repo.read(record.folders[0]!.tree));
    const mallory = decodeTree(await repo.read(top.entries.find((e) => e.name === 'mallory')!.tree!));
    await repo.close();
    expect(mallory.entries.map((e) => e.name).sort()).toEqual(['docs\\report.pdf', 'sub\\dir']);
    expect(record.skippedPaths).toEqual([]);
    // Where such a name cannot be restored as it is, the restore is told why (for that entry only).
    expect(nameProblemOn('docs\\report.pdf', 'linux')).toBe(null);
    expect(nameProblemOn('docs\\report.pdf', 'win32')).toMatch(/Windows/);
  });

  it('a full restore of a snapshot holding backslash names writes every file back under its name', async () => {
    const { dir, repoDir } = setup('bk-bslash-restore-');
    const home = path.join(dir, 'home');
    mkdirSync(path.join(home, 'mallory', 'sub\\dir'), { recursive: true });
    writeFileSync(path.join(home, 'thesis.txt'), 'five years of work');
    writeFileSync(path.join(home, 'mallory', 'docs\\report.pdf'), 'from a Windows zip');
    writeFileSync(path.join(home, 'mallory', 'sub\\dir', 'x'), 'x');
    const repo = await Repository.open(repoDir, randomBytes(32));
    try {
      await takeTreeSnapshot(repo, { folders: [home], exclude: [], actor: null, id: 's1', now: Date.now, skip: [repoDir] }, null);
      const out = path.join(dir, 'out');
      const result = await restoreTreeSnapshot(repo, await readRecord(repo, 's1'), { target: out, policyFolders: [home] });
      expect(result.skipped).toBe(0);
      expect(readFileSync(path.join(out, 'thesis.txt'), 'utf8')).toBe('five years of work');
      expect(readFileSync(path.join(out, 'mallory', 'docs\\report.pdf'), 'utf8')).toBe('from a Windows zip');
      expect(readFileSync(path.join(out, 'mallory', 'sub\\dir', 'x'), 'utf8')).toBe('x');
    } finally {
      await repo.close();
    }
  });

  it('a policy folder named like a drive (`c:data`) or with a backslash gives records that read back', async () => {
    const { dir, repoDir } = setup('bk-drive-');
    const folders = [path.join(dir, 'c:data'), path.join(dir, 'a\\b')];
    for (const f of folders) {
      mkdirSync(f);
      writeFileSync(path.join(f, 'f.txt'), 'f');
    }
    const repo = await Repository.open(repoDir, randomBytes(32));
    await takeTreeSnapshot(repo, { folders, exclude: [], actor: null, id: 's1', now: Date.now, skip: [repoDir] }, null);
    const read = await readRecord(repo, 's1').then((r) => r.folders.map((f) => f.name), (err: Error) => err.message);
    await repo.close();
    expect(read).toEqual(['c:data', 'a\\b']);
  });

  it('the restore writer (safe-files) writes a file named with a backslash on POSIX', async () => {
    const { dir } = setup('bk-bslash-write-');
    await writeFileInFolder(await folderChain(dir), 'docs\\report.pdf', Buffer.from('zip'), { mode: 0o644, durable: false });
    expect(readFileSync(path.join(dir, 'docs\\report.pdf'), 'utf8')).toBe('zip');
  });

  it('an entry the reader would refuse is left out and listed, the rest of its folder stored', async () => {
    const { dir, repoDir } = setup('bk-refused-');
    const home = path.join(dir, 'home');
    mkdirSync(home);
    writeFileSync(path.join(home, 'kept.txt'), 'kept');
    symlinkSync('/short', path.join(home, 'long-link'));
    // Stands for a platform whose link targets exceed what a tree accepts (4,096): the schema refuses that entry.
    const realReadlink = fsBlocking.readlink.bind(fsBlocking);
    vi.spyOn(fsBlocking, 'readlink').mockImplementation(((p: string, ...rest: unknown[]) =>
      p.endsWith('long-link') ? Promise.resolve(`/${'t'.repeat(5000)}`) : (realReadlink as (...a: unknown[]) => unknown)(p, ...rest)) as never);
    const repo = await Repository.open(repoDir, randomBytes(32));
    const record = await takeTreeSnapshot(repo, { folders: [home], exclude: [], actor: null, id: 's1', now: Date.now, skip: [repoDir] }, null);
    const names = decodeTree(await repo.read(record.folders[0]!.tree)).entries.map((e) => e.name);
    await repo.close();
    expect(names).toEqual(['kept.txt']);
    expect(record.skippedPaths).toEqual([{ path: path.join(home, 'long-link'), reason: expect.stringMatching(/restore would refuse it/) as unknown as string }]);
  });

  it('the walk\'s entry check (entryProblem) refuses exactly what the reader\'s schema refuses', () => {
    const file: TreeEntry = { name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: '1', ino: '2', size: 0, sha256: 'a'.repeat(64), chunks: [] };
    const variants: Array<Partial<TreeEntry> & Record<string, unknown>> = [
      {}, { name: 'a\\b' }, { name: 'c:d' }, { name: '' }, { name: '.' }, { name: '..' }, { name: 'a/b' }, { name: 'a\0b' }, { name: 'x'.repeat(255) }, { name: 'x'.repeat(256) },
      { mode: 0o7777 }, { mode: 0o10000 }, { mode: -1 }, { uid: 2 ** 32 }, { uid: -1 }, { gid: 1.5 }, { mtimeNs: '-12' }, { mtimeNs: '1'.repeat(22) }, { mtimeNs: 'x' },
      { ino: '1'.repeat(25) }, { size: 2 ** 53 }, { size: -1 }, { link: 'a/b\\c' }, { link: 'a/../b' }, { link: '/a' }, { link: 'a//b' }, { sha256: undefined },
      { type: 'symlink', target: '/t' }, { type: 'symlink', target: 't'.repeat(4096) }, { type: 'symlink', target: 't'.repeat(4097) }, { type: 'symlink', target: '' }, { type: 'symlink', target: 'a\0' }, { type: 'symlink' }, { type: 'fifo' }, { type: 'dir' }, { type: 'dir', tree: 'b'.repeat(64) },
    ];
    for (const [i, v] of variants.entries()) {
      const e = { ...file, ...v } as TreeEntry;
      expect([i, entryProblem(e) === null]).toEqual([i, TreeSchema.safeParse({ v: 1, entries: [e] }).success]);
    }
  });
});
