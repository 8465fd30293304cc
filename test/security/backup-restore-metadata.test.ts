// A restore's owners, bits and links against a local user who owns the folder restored into (an in-place restore of
// their home) and acts while the restore runs, and against an admin who restores into a folder that already exists.
// Each attack is made from a hook on the restore's own file calls, standing for the user's loop or inotify watcher;
// each test fails without its defence (folder and FIFO metadata by path, a hard link by path, the base folder given
// the backed-up folder's owner whatever it was before, resolveInside with "/", conflicts as bare errnos).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Repository } from '../../src/services/backup/repo.js';
import { readRecord, takeTreeSnapshot } from '../../src/services/backup/tree-snapshot.js';
import { restoreTreeSnapshot } from '../../src/services/backup/tree-restore.js';
import { resolveInside } from '../../src/services/backup/manifest.js';
import { fsBlocking } from '../../src/system/fs-async.js';
import type { RestoreOptions } from '../../src/services/backup/restore.js';

const isRoot = process.getuid?.() === 0;
const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function scratch(name: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `restore-meta-${name}-`));
  dirs.push(dir);
  return dir;
}

/** Backs `folder` up into a fresh repository, then restores snapshot s1 with `options` (the error, or null). */
async function backupThenRestore(dir: string, folder: string, options: RestoreOptions, between?: () => void): Promise<unknown> {
  const repoDir = path.join(dir, 'repo');
  mkdirSync(repoDir, { mode: 0o700 });
  const repo = await Repository.open(repoDir, randomBytes(32));
  try {
    await takeTreeSnapshot(repo, { folders: [folder], exclude: [], actor: null, id: 's1', now: Date.now, skip: [repoDir] }, null);
    between?.();
    const record = await readRecord(repo, 's1');
    return await restoreTreeSnapshot(repo, record, options).then(() => null, (err: unknown) => err);
  } finally {
    await repo.close();
  }
}

/** Runs `act` once, just before (or after) the first of the restore's calls of `method` whose first argument matches. */
function before(method: 'rename' | 'lchown' | 'chmod' | 'open' | 'lstat' | 'link', matches: (p: string) => boolean, act: () => void, when: 'before' | 'after' = 'before'): { fired: () => boolean } {
  let fired = false;
  const real = (fsBlocking[method] as (...a: unknown[]) => Promise<unknown>).bind(fsBlocking);
  vi.spyOn(fsBlocking, method).mockImplementation((async (...args: unknown[]) => {
    const hit = !fired && matches(String(args[0]));
    if (hit) fired = true;
    if (hit && when === 'before') act();
    const out = await real(...args);
    if (hit && when === 'after') act();
    return out;
  }) as never);
  return { fired: () => fired };
}

const modeOf = (p: string) => (statSync(p).mode & 0o7777).toString(8);

/** A user's folder with docs/a.txt hard-linked as z.txt, and a root-only folder holding a root-only a.txt. */
function hardLinkedHome(name: string): { dir: string; home: string; secret: string } {
  const dir = scratch(name);
  const home = path.join(dir, 'home');
  mkdirSync(path.join(home, 'docs'), { recursive: true });
  writeFileSync(path.join(home, 'docs', 'a.txt'), 'mine');
  linkSync(path.join(home, 'docs', 'a.txt'), path.join(home, 'z.txt'));
  chownSync(home, 1234, 1234);
  chownSync(path.join(home, 'docs'), 1234, 1234);
  const secret = path.join(dir, 'secret');
  mkdirSync(secret, { mode: 0o700 });
  writeFileSync(path.join(secret, 'a.txt'), 'root only', { mode: 0o600 });
  return { dir, home, secret };
}

describe.runIf(isRoot && process.platform === 'linux')('a local user during an in-place restore of their folder', () => {
  it('a restored folder swapped for a link before the metadata step: root chowns and chmods nothing outside', async () => {
    const dir = scratch('folder');
    const home = path.join(dir, 'home');
    mkdirSync(path.join(home, 'a', 'etc'), { recursive: true });
    writeFileSync(path.join(home, 'a', 'etc', 'f'), 'x');
    for (const p of [home, path.join(home, 'a'), path.join(home, 'a', 'etc')]) {
      chownSync(p, 1234, 1234);
      chmodSync(p, 0o777);
    }
    const victim = path.join(dir, 'victim'); // stands for /, with its root-owned /etc
    mkdirSync(path.join(victim, 'etc'), { recursive: true });
    chmodSync(path.join(victim, 'etc'), 0o755);
    // Once the file is in place (right after its rename), the user renames the restored `a` away and puts a link to / in its place.
    const hook = before('rename', (p) => p.startsWith(path.join(home, 'a', 'etc', '.f.')), () => {
      renameSync(path.join(home, 'a'), path.join(home, 'a.old'));
      symlinkSync(victim, path.join(home, 'a'));
    }, 'after');
    const error = await backupThenRestore(dir, home, { target: null, policyFolders: [home] }, () => rmSync(path.join(home, 'a'), { recursive: true }));
    expect(hook.fired()).toBe(true);
    expect(statSync(path.join(victim, 'etc')).uid).toBe(0);
    expect(modeOf(path.join(victim, 'etc'))).toBe('755');
    expect(error).toMatchObject({ code: 'BACKUP_UNSAFE_PATH' });
  });

  it('a FIFO swapped for a link under its temp name: root chmods and chowns nothing it points to', async () => {
    const dir = scratch('fifo');
    const home = path.join(dir, 'home');
    mkdirSync(home);
    execFileSync('mkfifo', [path.join(home, 'pipe')]);
    chmodSync(path.join(home, 'pipe'), 0o666);
    chownSync(path.join(home, 'pipe'), 1234, 1234);
    chownSync(home, 1234, 1234);
    const shadow = path.join(dir, 'shadow'); // stands for /etc/shadow
    writeFileSync(shadow, 'root:$6$secret:...\n');
    chmodSync(shadow, 0o600);
    const isTemp = (p: string) => /\/\.pipe\.[0-9a-f]{24}\.tmp$/.test(p);
    // The user's inotify watcher sees the temp FIFO appear and swaps it before the restore touches it again.
    const swap = () => {
      for (const name of readdirSync(home)) {
        if (!isTemp(`/${name}`)) continue;
        unlinkSync(path.join(home, name));
        symlinkSync(shadow, path.join(home, name));
      }
    };
    const hooks = (['open', 'lchown', 'chmod', 'lstat'] as const).map((m) => before(m, isTemp, swap));
    await backupThenRestore(dir, home, { target: null, policyFolders: [home] });
    expect(hooks.some((h) => h.fired())).toBe(true);
    expect(modeOf(shadow)).toBe('600');
    expect(statSync(shadow).uid).toBe(0);
  });

  it('a folder above a hard link\'s source swapped for a link: no outside file is hard-linked into the user\'s folder', async () => {
    const { dir, home, secret } = hardLinkedHome('hardlink');
    const hook = before('link', (p) => path.basename(p) === 'a.txt', () => {
      renameSync(path.join(home, 'docs'), path.join(home, 'docs.old'));
      symlinkSync(secret, path.join(home, 'docs'));
    });
    const error = await backupThenRestore(dir, home, { target: null, policyFolders: [home] }, () => {
      rmSync(path.join(home, 'docs'), { recursive: true });
      unlinkSync(path.join(home, 'z.txt'));
    });
    expect(hook.fired()).toBe(true);
    expect(readdirSync(home).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    const restored = lstatSync(path.join(home, 'z.txt'), { throwIfNoEntry: false });
    expect(restored?.ino).not.toBe(statSync(path.join(secret, 'a.txt')).ino);
    expect(statSync(path.join(secret, 'a.txt')).nlink).toBe(1);
    // Linked through the source folder's handle, z.txt is the restored a.txt (wherever the user moved it).
    if (error === null) expect(restored?.ino).toBe(statSync(path.join(home, 'docs.old', 'a.txt')).ino);
    else expect(error).toMatchObject({ code: 'BACKUP_UNSAFE_PATH' });
  });

  it('a folder above a hard link\'s source swapped for a link as the link is made, its temp name taken away at once: no hard link to a root-only file is left to the user', async () => {
    const { dir, home, secret } = hardLinkedHome('hardlink-steal');
    // The swap lands between any check before link() and link() itself (a race the user may win by looping), and
    // the user's watcher renames the new temp name away before any check after it.
    let fired = false;
    const realLink = fsBlocking.link.bind(fsBlocking);
    vi.spyOn(fsBlocking, 'link').mockImplementation((async (from: string, to: string) => {
      const hit = !fired && path.basename(from) === 'a.txt';
      if (hit) {
        fired = true;
        renameSync(path.join(home, 'docs'), path.join(home, 'docs.old'));
        symlinkSync(secret, path.join(home, 'docs'));
      }
      await realLink(from, to);
      if (hit) renameSync(to, path.join(home, 'stolen'));
    }) as never);
    const error = await backupThenRestore(dir, home, { target: null, policyFolders: [home] }, () => {
      rmSync(path.join(home, 'docs'), { recursive: true });
      unlinkSync(path.join(home, 'z.txt'));
    });
    expect(fired).toBe(true);
    const secretIno = statSync(path.join(secret, 'a.txt')).ino;
    expect(readdirSync(home).filter((n) => lstatSync(path.join(home, n)).ino === secretIno)).toEqual([]);
    expect(statSync(path.join(secret, 'a.txt')).nlink).toBe(1);
    expect(error).toMatchObject({ code: 'BACKUP_UNSAFE_PATH' });
  });
});

describe.runIf(isRoot)('an admin restoring into a folder that exists', () => {
  it('a full restore to an existing folder (here a stand-in for /tmp) keeps that folder\'s owner and bits', async () => {
    const dir = scratch('target');
    const home = path.join(dir, 'alice');
    mkdirSync(home);
    writeFileSync(path.join(home, 'notes.txt'), 'hello');
    chownSync(home, 1234, 1234);
    chmodSync(home, 0o700);
    const shared = path.join(dir, 'tmp');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    expect(await backupThenRestore(dir, home, { target: shared, policyFolders: [home] })).toBe(null);
    expect(readFileSync(path.join(shared, 'notes.txt'), 'utf8')).toBe('hello');
    expect({ uid: statSync(shared).uid, mode: modeOf(shared) }).toEqual({ uid: 0, mode: '1777' });
  });

  it('a full restore to a folder it makes gives it the backed-up folder\'s owner and bits', async () => {
    const dir = scratch('made');
    const home = path.join(dir, 'alice');
    mkdirSync(home);
    writeFileSync(path.join(home, 'notes.txt'), 'hello');
    chownSync(home, 1234, 1234);
    chmodSync(home, 0o750);
    const fresh = path.join(dir, 'restored', 'alice');
    expect(await backupThenRestore(dir, home, { target: fresh, policyFolders: [home] })).toBe(null);
    expect({ uid: statSync(fresh).uid, mode: modeOf(fresh) }).toEqual({ uid: 1234, mode: '750' });
  });

  it('a folder where the backup has a file is named with BACKUP_RESTORE_CONFLICT, and the folder it stopped in still gets its owner', async () => {
    const dir = scratch('conflict');
    const src = path.join(dir, 'alice');
    mkdirSync(path.join(src, 'photos'), { recursive: true });
    writeFileSync(path.join(src, 'photos', 'a.jpg'), 'a');
    writeFileSync(path.join(src, 'photos', 'b.jpg'), 'b');
    for (const p of [src, path.join(src, 'photos'), path.join(src, 'photos', 'a.jpg')]) chownSync(p, 1234, 1234);
    const target = path.join(dir, 'target');
    mkdirSync(path.join(target, 'photos', 'b.jpg', 'inner'), { recursive: true });
    const error = await backupThenRestore(dir, src, { target, policyFolders: [src] });
    expect(error).toMatchObject({ code: 'BACKUP_RESTORE_CONFLICT' });
    expect((error as Error).message).toContain('photos/b.jpg');
    expect(readFileSync(path.join(target, 'photos', 'a.jpg'), 'utf8')).toBe('a');
    expect(statSync(path.join(target, 'photos')).uid).toBe(1234);
  });
});

describe('restore paths an admin mistypes', () => {
  it('a path that names nothing in the snapshot refuses the restore before anything is written (it reported success with 0 files)', async () => {
    const dir = scratch('paths');
    const home = path.join(dir, 'alice');
    mkdirSync(path.join(home, 'docs', '2024'), { recursive: true });
    writeFileSync(path.join(home, 'docs', '2024', 'tax.pdf'), 'tax');
    const out = path.join(dir, 'out');
    for (const paths of [['doc'], [path.join(home, 'docs')], ['./docs'], ['docs/2024', 'docs/2025']]) {
      const error = await backupThenRestore(scratch('paths-repo'), home, { target: out, paths, policyFolders: [home] });
      expect(error, paths.join(',')).toMatchObject({ code: 'BACKUP_PATH_NOT_IN_SNAPSHOT' });
    }
    expect(readdirSync(dir)).not.toContain('out');
    expect(await backupThenRestore(scratch('paths-repo'), home, { target: out, paths: ['docs/2024/', 'docs/2024/tax.pdf'], policyFolders: [home] })).toBe(null);
    expect(readFileSync(path.join(out, 'docs', '2024', 'tax.pdf'), 'utf8')).toBe('tax');
  });
});

describe('a whole-system policy (folders: ["/"])', () => {
  it('resolveInside keeps paths inside "/" and still refuses what leaves a folder', () => {
    expect(resolveInside('/', 'etc/hosts')).toBe('/etc/hosts');
    expect(resolveInside('/srv/data', 'a/b')).toBe('/srv/data/a/b');
    expect(resolveInside('/srv/data', '../x')).toBe(null);
    expect(resolveInside('/srv/data', '')).toBe(null);
  });

  it.runIf(isRoot)('one file of a snapshot of / is restored in place', async () => {
    const dir = scratch('root');
    const src = path.join(dir, 'src');
    mkdirSync(src);
    const probe = `rmagent-test-probe-${randomBytes(6).toString('hex')}.txt`;
    writeFileSync(path.join(src, probe), 'probe');
    const repoDir = path.join(dir, 'repo');
    mkdirSync(repoDir, { mode: 0o700 });
    const repo = await Repository.open(repoDir, randomBytes(32));
    try {
      await takeTreeSnapshot(repo, { folders: [src], exclude: [], actor: null, id: 's1', now: Date.now, skip: [repoDir] }, null);
      const record = await readRecord(repo, 's1');
      record.folders[0]!.path = '/'; // as the record of a policy with folders: ["/"] reads
      await restoreTreeSnapshot(repo, record, { target: null, paths: [probe], policyFolders: ['/'] });
      expect(readFileSync(path.join('/', probe), 'utf8')).toBe('probe');
    } finally {
      rmSync(path.join('/', probe), { force: true });
      await repo.close();
    }
  });
});
