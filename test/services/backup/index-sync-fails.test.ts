// A destination whose folder sync fails after the index was renamed into place (EIO, or ENOSPC reported at fsync
// on NFS/SMB): the run fails, but its index is on disk and names its packs. Deleting those packs as "never indexed"
// (what a failed commit did) left an index naming packs that do not exist; the next run deduplicated against them
// and sealed a snapshot that could not be restored. Fails without the index's existence check in commit().

import { afterEach, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Repository } from '../../../src/services/backup/repo.js';
import { readRecord, takeTreeSnapshot } from '../../../src/services/backup/tree-snapshot.js';
import { restoreTreeSnapshot } from '../../../src/services/backup/tree-restore.js';
import { fsAsync } from '../../../src/system/fs-async.js';

const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the index folder sync fails after the index was renamed into place', () => {
  it('leaves no index naming a deleted pack, and the next snapshot restores', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'index-sync-fails-'));
    dirs.push(dir);
    const src = path.join(dir, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'big.bin'), randomBytes(2 * 1024 * 1024));
    const repoDir = path.join(dir, 'repo');
    mkdirSync(repoDir, { mode: 0o700 });
    const key = randomBytes(32);
    const indexDir = path.join(repoDir, 'index');
    const realOpen = fsAsync.open.bind(fsAsync);
    let failed = false;
    vi.spyOn(fsAsync, 'open').mockImplementation((async (p: string, flags: unknown, mode?: unknown) => {
      if (!failed && p === indexDir && flags === 'r' && readdirSync(indexDir).some((n) => /^[a-f0-9]{32}$/.test(n))) {
        failed = true;
        throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
      }
      return (realOpen as (a: string, b: unknown, c?: unknown) => Promise<unknown>)(p, flags, mode);
    }) as never);
    const repo1 = await Repository.open(repoDir, key);
    const first = await takeTreeSnapshot(repo1, { folders: [src], exclude: [], actor: null, id: 's1', now: Date.now, skip: [repoDir] }, null).then(() => 'ok', (e: Error) => e.message);
    await repo1.abandon().catch(() => undefined);
    await repo1.close();
    vi.restoreAllMocks();
    expect(failed).toBe(true);
    expect(first).toContain('EIO');

    // The next run: same data, the index on disk says it is stored.
    const repo2 = await Repository.open(repoDir, key);
    const missing = [...repo2.packs()].filter((p) => !existsSync(path.join(repoDir, 'data', p.slice(0, 2), p)));
    await takeTreeSnapshot(repo2, { folders: [src], exclude: [], actor: null, id: 's2', now: Date.now, skip: [repoDir] }, null);
    const outcome = await restoreTreeSnapshot(repo2, await readRecord(repo2, 's2'), { target: path.join(dir, 'out'), policyFolders: [src] }).then(() => 'restored', (e: { code?: string }) => `${e.code}`);
    await repo2.close();
    expect({ missing, outcome }).toEqual({ missing: [], outcome: 'restored' });
  });
});

describe('an index folder that cannot be listed', () => {
  it('is an error at open, not a repository that holds nothing (a backup would store everything again)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'index-unlisted-'));
    dirs.push(dir);
    const src = path.join(dir, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'a.bin'), randomBytes(64 * 1024));
    const repoDir = path.join(dir, 'repo');
    mkdirSync(repoDir, { mode: 0o700 });
    const key = randomBytes(32);
    const repo = await Repository.open(repoDir, key);
    await takeTreeSnapshot(repo, { folders: [src], exclude: [], actor: null, id: 's1', now: Date.now, skip: [repoDir] }, null);
    await repo.close();
    // A share that answers the listing with an error (here: something else than a folder at index/).
    renameSync(path.join(repoDir, 'index'), path.join(repoDir, 'index.away'));
    writeFileSync(path.join(repoDir, 'index'), '');
    await expect(Repository.open(repoDir, key)).rejects.toMatchObject({ code: 'ENOTDIR' });
  });
});
