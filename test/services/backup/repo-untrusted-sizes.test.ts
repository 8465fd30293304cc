// What the repository's index and config say about sizes is checked before anything is sized by it: an index
// written with the device key cannot make a read or a restore allocate (or keep) more than one chunk, a blob that
// really decodes to more is refused, a check refuses what a restore would, and chunk sizes edited into the plain
// config (no key needed) are refused at open. Found by a hostile review of the kept zstd contexts (K1-K3, X1).
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Repository, blobId, deriveKeys, sealBlob } from '../../../src/services/backup/repo.js';

const CHUNK_MAX = 8 * 1024 * 1024;

const text = (n: number, seed: number): Buffer => {
  const out: string[] = [];
  for (let i = 0, len = 0; len < n; i++) {
    const line = `${seed}:${i} line ${(i * 7919) % 100_003}\n`;
    out.push(line);
    len += line.length;
  }
  return Buffer.from(out.join('')).subarray(0, n);
};

/** One pack of blobs sealed with the device key and an index naming them with the sizes given (a key holder's write). */
function writeCrafted(root: string, key: Buffer, blobs: Array<{ id: string; stored: Buffer; rawLength: number; compressed: boolean }>): void {
  const { enc } = deriveKeys(key);
  const parts: Buffer[] = [];
  const entries: Array<[string, number, number, number, number, number]> = [];
  let offset = 0;
  for (const b of blobs) {
    const sealed = sealBlob(enc, b.stored, `blob ${b.id}`);
    entries.push([b.id, 0, offset, sealed.length, b.rawLength, b.compressed ? 1 : 0]);
    parts.push(sealed);
    offset += sealed.length;
  }
  const pack = Buffer.concat(parts);
  const packId = createHash('sha256').update(pack).digest('hex');
  mkdirSync(path.join(root, 'data', packId.slice(0, 2)), { recursive: true });
  writeFileSync(path.join(root, 'data', packId.slice(0, 2), packId), pack);
  const name = randomBytes(16).toString('hex');
  writeFileSync(path.join(root, 'index', name), sealBlob(enc, Buffer.from(JSON.stringify({ v: 1, packs: { [packId]: entries } })), `index ${name}`));
}

async function freshRepo(): Promise<{ root: string; key: Buffer }> {
  const root = path.join(mkdtempSync(path.join(tmpdir(), 'rmagent-sizes-')), 'repo');
  const key = randomBytes(32);
  await (await Repository.open(root, key)).close();
  mkdirSync(path.join(root, 'index'), { recursive: true });
  return { root, key };
}

const keptBuffer = (repo: Repository): number => (repo as unknown as { plain: Buffer }).plain.length;

describe('Repository: sizes from the index and config are untrusted', () => {
  it('an index entry claiming 2^40 or 1 GiB for a small blob is refused as corrupt, and nothing that size is kept', async () => {
    const { root, key } = await freshRepo();
    const a = text(5000, 1);
    const b = text(6000, 2);
    writeCrafted(root, key, [
      { id: blobId(a), stored: zlib.zstdCompressSync(a), rawLength: 2 ** 40, compressed: true },
      { id: blobId(b), stored: zlib.zstdCompressSync(b), rawLength: 1 << 30, compressed: true },
    ]);
    const repo = await Repository.open(root, key);
    for (const id of [blobId(a), blobId(b)]) {
      await expect(repo.read(id)).rejects.toMatchObject({ code: 'CHUNK_CORRUPT' });
      await expect(repo.readTransient(id)).rejects.toMatchObject({ code: 'CHUNK_CORRUPT' });
    }
    expect(keptBuffer(repo)).toBeLessThanOrEqual(CHUNK_MAX + 1);
    expect((await repo.checkPacks(repo.packs())).bad.sort()).toEqual([blobId(a), blobId(b)].sort());
    await repo.close();
  });

  it('a sealed 8 KiB blob that really decodes to 256 MiB is refused before it is decoded', async () => {
    const { root, key } = await freshRepo();
    const bomb = Buffer.alloc(256 << 20);
    const frame = zlib.zstdCompressSync(bomb, { pledgedSrcSize: bomb.length } as zlib.ZstdOptions);
    expect(frame.length).toBeLessThan(64 * 1024);
    writeCrafted(root, key, [{ id: blobId(bomb), stored: frame, rawLength: bomb.length, compressed: true }]);
    const repo = await Repository.open(root, key);
    await expect(repo.readTransient(blobId(bomb))).rejects.toMatchObject({ code: 'CHUNK_CORRUPT' });
    expect(keptBuffer(repo)).toBeLessThanOrEqual(CHUNK_MAX + 1);
    await repo.close();
  });

  it('a tree larger than a chunk named as a file chunk is refused by the restore\'s reads (it would size their kept buffer to 64 MiB)', async () => {
    const { root, key } = await freshRepo();
    const repo = await Repository.open(root, key);
    const tree = Buffer.from(JSON.stringify({ entries: Array.from({ length: 400_000 }, (_, i) => ({ name: `file-${i}` })) }));
    expect(tree.length).toBeGreaterThan(CHUNK_MAX);
    await repo.add('tree', blobId(tree), tree);
    await repo.commit();
    await expect(repo.readTransient(blobId(tree))).rejects.toMatchObject({ code: 'CHUNK_CORRUPT' });
    expect((await repo.read(blobId(tree))).equals(tree)).toBe(true);
    await repo.close();
  });

  it('chunk sizes edited into the config (no key needed) are refused when the repository is opened', async () => {
    const { root, key } = await freshRepo();
    const config = JSON.parse(readFileSync(path.join(root, 'config'), 'utf8')) as { chunker: unknown };
    config.chunker = { min: 9 << 20, avg: 10 << 20, max: 12 << 20 };
    writeFileSync(path.join(root, 'config'), JSON.stringify(config));
    await expect(Repository.open(root, key)).rejects.toMatchObject({ code: 'BACKUP_MANIFEST_UNTRUSTED' });
  });
});
