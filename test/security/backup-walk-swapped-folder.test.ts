// The backup walk and a folder swapped for a link (review 4, finding 12). Attack: a local user swaps their folder
// `sub` for a link to a root-only folder (/root, /etc/ssl/private) after the parent's lstat saw a folder and before
// the walk lists it. The walk listed by path (readdir(abs), then lstat of each name): root listed the root-only
// folder, and the snapshot recorded its names, owners, modes, mtimes and every link's TARGET (contents stayed out:
// openRegularFile refuses them, but the refused file names went into skippedPaths and the job's report), against
// docs/security.md §2 "never descends into links". The swap is made from a hook on the walk's file operations,
// standing for the user's loop winning once: (a) before the folder is opened, (b) after it is opened, before it is
// listed. The walk now opens each folder O_NOFOLLOW|O_DIRECTORY, checks it is the folder its parent's lstat saw, and
// on Linux lists and lstats it through /proc/self/fd/N (elsewhere it checks the folder again after listing).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdirSync, mkdtempSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Repository } from '../../src/services/backup/repo.js';
import { readRecord, takeTreeSnapshot } from '../../src/services/backup/tree-snapshot.js';
import { decodeTree } from '../../src/services/backup/tree.js';
import { fsBlocking } from '../../src/system/fs-async.js';

const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const resolvesTo = (p: string, dir: string) => p === dir || (p.startsWith('/proc/self/fd/') && (() => {
  try {
    return readlinkSync(p) === dir;
  } catch {
    return false;
  }
})());

describe('backup walk and a folder swapped for a link', () => {
  for (const when of ['before the folder is opened', 'after it is opened, before it is listed'] as const) {
    it(`records nothing of the folder the link points to (${when})`, async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'bk-walk-'));
      dirs.push(dir);
      const home = path.join(dir, 'home');
      mkdirSync(path.join(home, 'sub'), { recursive: true });
      writeFileSync(path.join(home, 'sub', 'mine.txt'), 'mine');
      const secretDir = path.join(dir, 'root-only'); // stands for /root (0700 root)
      mkdirSync(secretDir, { mode: 0o700 });
      writeFileSync(path.join(secretDir, 'customer-list-2027.xlsx'), 'contents stay out');
      symlinkSync('/srv/db password=hunter2', path.join(secretDir, 'db-link'));
      const repoDir = path.join(dir, 'repo');
      mkdirSync(repoDir, { mode: 0o700 });
      const repo = await Repository.open(repoDir, randomBytes(32));
      const subPath = path.join(home, 'sub');
      let swapped = false;
      const swap = () => {
        if (swapped) return;
        swapped = true; // the user's swap loop wins once
        renameSync(subPath, `${subPath}.real`);
        symlinkSync(secretDir, subPath);
      };
      const realReaddir = fsBlocking.readdir.bind(fsBlocking);
      const realOpen = fsBlocking.open.bind(fsBlocking);
      vi.spyOn(fsBlocking, 'readdir').mockImplementation(((p: string, ...rest: unknown[]) => {
        if (when === 'before the folder is opened' ? p === subPath : resolvesTo(p, subPath)) swap();
        return (realReaddir as (...a: unknown[]) => unknown)(p, ...rest);
      }) as never);
      vi.spyOn(fsBlocking, 'open').mockImplementation(((p: string, ...rest: unknown[]) => {
        if (when === 'before the folder is opened' && p === subPath) swap();
        return (realOpen as (...a: unknown[]) => unknown)(p, ...rest);
      }) as never);
      await takeTreeSnapshot(repo, { folders: [home], exclude: [], actor: null, id: 's1', now: Date.now, skip: [repoDir] }, null);
      vi.restoreAllMocks();
      expect(swapped).toBe(true);
      const record = await readRecord(repo, 's1');
      const top = decodeTree(await repo.read(record.folders[0]!.tree));
      const sub = top.entries.find((e) => e.name === 'sub')!;
      const listed = decodeTree(await repo.read(sub.tree!)).entries.map((e) => (e.type === 'symlink' ? `${e.name} -> ${e.target}` : e.name));
      await repo.close();
      // Before: the tree of `sub` held 'db-link -> /srv/db password=hunter2' and skippedPaths named the root-only file.
      expect(listed.join('\n')).not.toContain('hunter2');
      expect(listed.join('\n')).not.toContain('db-link');
      expect(JSON.stringify(record.skippedPaths)).not.toContain('customer-list-2027');
    });
  }
});
