import path from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createExcluder, isSafeRelativePath, planRetention, resolveInside, selectedForRestore } from '../../../src/services/backup/manifest.js';
import { checkActor } from '../../../src/services/backup/actor.js';
import { backupPolicySchema } from '../../../src/protocol/policies/backup.js';

describe('restore paths', () => {
  it('refuses traversal, absolute paths, drive letters, backslashes and empty segments', () => {
    for (const bad of ['../etc/passwd', 'a/../../b', '/etc/shadow', 'C:/Windows', 'a\\..\\b', 'a//b', './a', 'a/.', '', 'a\0b']) {
      expect(isSafeRelativePath(bad), bad).toBe(false);
      expect(resolveInside('/restore', bad)).toBeNull();
    }
    expect(resolveInside('/restore', 'docs/a b/c.txt')).toBe(path.resolve('/restore/docs/a b/c.txt'));
  });

  it('property: whatever the path, a resolved destination stays inside the base', () => {
    const seg = fc.constantFrom('..', '.', 'a', 'b c', '', '/', '\\', 'x..y');
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 6 }), (parts) => {
        const dest = resolveInside('/base', parts.join('/'));
        if (dest !== null) expect(dest.startsWith(`${path.resolve('/base')}${path.sep}`)).toBe(true);
      }),
    );
  });

  it('restore selection by path prefix', () => {
    expect(selectedForRestore('docs/a.txt', undefined)).toBe(true);
    expect(selectedForRestore('docs/a.txt', ['docs'])).toBe(true);
    expect(selectedForRestore('docs2/a.txt', ['docs'])).toBe(false);
    expect(selectedForRestore('docs/a.txt', ['/docs/a.txt'])).toBe(true);
  });
});

describe('exclude globs', () => {
  const excluded = createExcluder(['*.tmp', 'cache/', '**/node_modules', 'build/*.o', '/top.log']);
  it.each([
    ['a.tmp', true],
    ['deep/dir/b.tmp', true],
    ['cache', true],
    ['x/cache/file', true],
    ['src/node_modules', true],
    ['build/main.o', true],
    ['build/sub/main.o', false],
    ['top.log', true],
    ['sub/top.log', false],
    ['notes.txt', false],
    ['tmp.txt', false],
  ])('%s excluded: %s', (rel, expected) => {
    expect(excluded(rel)).toBe(expected);
  });
});

describe('retention', () => {
  const snap = (id: string, createdAt: number, chunks: string[]) => ({ id, createdAt, files: [{ folder: 0, path: 'f', mode: 0o644, mtimeMs: 0, size: 1, sha256: 'x', chunks }] });
  it('keeps the newest N and removes chunks only the removed ones used', () => {
    const plan = planRetention([snap('a', 1, ['c1', 'c2']), snap('b', 2, ['c2', 'c3']), snap('c', 3, ['c3', 'c4'])], ['c1', 'c2', 'c3', 'c4', 'orphan'], 2);
    expect(plan.removeSnapshots).toEqual(['a']);
    expect(plan.removeChunks.sort()).toEqual(['c1', 'orphan']);
  });
});

describe('Backup owner', () => {
  it('records the first account, then refuses any other one and commands without one', () => {
    expect(checkActor(null, 'alice', 'install')).toEqual({ ok: true, record: 'alice' });
    expect(checkActor('alice', 'alice', 'restore')).toEqual({ ok: true, record: null });
    expect(checkActor('alice', 'mallory', 'restore')).toMatchObject({ ok: false });
    expect(checkActor('alice', 'mallory', 'change')).toMatchObject({ ok: false });
    expect(checkActor('alice', undefined, 'restore')).toMatchObject({ ok: false });
    expect(checkActor('alice', undefined, 'run')).toEqual({ ok: true, record: null });
    expect(checkActor('alice', 'mallory', 'run')).toMatchObject({ ok: false });
  });
});

describe('backup policy', () => {
  it('needs absolute folders and destination', () => {
    expect(backupPolicySchema.safeParse({ folders: ['relative/dir'], destination: '/b' }).success).toBe(false);
    expect(backupPolicySchema.safeParse({ folders: ['/data', 'C:\\Users'], destination: 'D:\\backup' }).success).toBe(true);
    expect(backupPolicySchema.parse({})).toMatchObject({ folders: [], destination: null, retention: { keep: 7 } });
  });
});
