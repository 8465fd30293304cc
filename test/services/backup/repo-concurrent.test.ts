// Blobs added to a repository from several files at once (tree-snapshot.ts reads four in flight): each must be
// sealed into the pack it found room in, whatever the other adds did meanwhile. Real files in a temp folder.
import { mkdtempSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Repository, blobId } from '../../../src/services/backup/repo.js';

describe('Repository.add from concurrent callers', () => {
  it('every blob reads back and every pack checks clean', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'rmagent-repo-'));
    const repo = await Repository.open(root, randomBytes(32));
    // Deterministic sizes from 1 KiB to ~3 MiB: enough to fill several 16 MiB packs from interleaved adds.
    const blobs = Array.from({ length: 120 }, (_, i) => {
      const seed = createHash('sha256').update(String(i)).digest();
      const size = 1024 + (seed.readUInt32BE(0) % (3 * 1024 * 1024));
      return randomBytes(size);
    });
    let next = 0;
    const worker = async () => {
      while (next < blobs.length) {
        const b = blobs[next++]!;
        await repo.add('data', blobId(b), b);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    await repo.commit();
    expect(repo.stats.packsWritten.length).toBeGreaterThan(3);
    const check = await repo.checkPacks(repo.packs());
    expect(check.bad).toEqual([]);
    expect(check.blobs).toBe(blobs.length);
    for (const b of blobs) expect((await repo.read(blobId(b))).equals(b)).toBe(true);
    await repo.close();
  });
});
