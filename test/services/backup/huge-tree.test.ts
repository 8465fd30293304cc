// A folder whose tree the walk wrote but every read refused (review 4, finding 7). Attack: a local user puts 16,500
// symbolic links with ~4,000-byte targets in one folder of their own (66 MB of tree); the walk stored that tree
// whole, but every read refuses a tree over MAX_TREE_BYTES (64 MiB, repo.ts): the backup "succeeded", and a full
// restore (which plans every tree first), pruning's reachability walk, everything, failed for every user's folder.
// Checked here: the walk leaves out the entries past the limit, listed as "folder too large for one tree", and the
// snapshot restores (the other user's file, and the links that fit). Slow (~66 MB of links): kept to one folder.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { MAX_TREE_BYTES, Repository } from '../../../src/services/backup/repo.js';
import { reachable, readRecord, takeTreeSnapshot } from '../../../src/services/backup/tree-snapshot.js';
import { restoreTreeSnapshot } from '../../../src/services/backup/tree-restore.js';
import { decodeTree } from '../../../src/services/backup/tree.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('a folder whose tree would be larger than a read accepts', () => {
  it('is cut at the limit, the rest listed, and the snapshot stays restorable', { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bk-tree-'));
    dirs.push(dir);
    const home = path.join(dir, 'home');
    mkdirSync(path.join(home, 'alice'), { recursive: true });
    writeFileSync(path.join(home, 'alice', 'thesis.txt'), 'five years of work');
    const links = path.join(home, 'mallory', 'links');
    mkdirSync(links, { recursive: true });
    const target = `/${'t'.repeat(3990)}`;
    const count = 16_500;
    for (let i = 0; i < count; i++) symlinkSync(`${target}${i}`, path.join(links, `${'n'.repeat(200)}${String(i).padStart(5, '0')}`));
    const repoDir = path.join(dir, 'repo');
    mkdirSync(repoDir, { mode: 0o700 });
    const repo = await Repository.open(repoDir, randomBytes(32));
    const record = await takeTreeSnapshot(repo, { folders: [home], exclude: [], actor: null, id: 's1', now: Date.now, skip: [repoDir] }, null);
    // Every tree reads back (before: "blob … is a tree too large").
    await reachable(repo, [await readRecord(repo, 's1')]);
    const top = decodeTree(await repo.read(record.folders[0]!.tree));
    const mallory = decodeTree(await repo.read(top.entries.find((e) => e.name === 'mallory')!.tree!));
    const kept = decodeTree(await repo.read(mallory.entries[0]!.tree!)).entries;
    expect(kept.length).toBeGreaterThan(15_000);
    expect(kept.length + record.stats.skipped).toBe(count);
    expect(JSON.stringify({ v: 1, entries: kept }).length).toBeLessThanOrEqual(MAX_TREE_BYTES);
    expect(record.skippedPaths.length).toBeGreaterThan(0);
    expect(record.skippedPaths.every((s) => s.reason.startsWith('folder too large for one tree') && s.path.startsWith(`${links}/`))).toBe(true);
    // Kept: the first names in order; left out: the last ones.
    expect(kept.at(-1)!.name < record.skippedPaths[0]!.path.slice(links.length + 1)).toBe(true);
    const out = path.join(dir, 'out');
    await restoreTreeSnapshot(repo, record, { target: out, policyFolders: [home] });
    await repo.close();
    expect(readFileSync(path.join(out, 'alice', 'thesis.txt'), 'utf8')).toBe('five years of work');
    expect(readdirSync(path.join(out, 'mallory', 'links')).length).toBe(kept.length);
  });
});
