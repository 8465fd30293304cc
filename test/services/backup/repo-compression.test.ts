// What the repository stores for a blob, by its content: compressible data compressed, data that does not shrink
// (random, already compressed) and blobs under MIN_COMPRESSED_BYTES as they are, each sealed (nonce + tag), and
// each read back byte for byte. Real files in a temp folder.
import { mkdtempSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIN_COMPRESSED_BYTES, Repository, blobId } from '../../../src/services/backup/repo.js';

const SEALING = 12 + 16; // nonce + GCM tag

const text = (bytes: number): Buffer => {
  const lines: string[] = [];
  for (let i = 0, n = 0; n < bytes; i++) {
    const line = `${i}\tINFO\tservice ${i % 13} handled request ${(i * 7919) % 100_003} in ${i % 97} ms\n`;
    lines.push(line);
    n += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
};

describe('Repository: compression that pays for itself', () => {
  it('compresses text, stores random bytes and small blobs as they are, and reads every one back', async () => {
    const repo = await Repository.open(mkdtempSync(path.join(tmpdir(), 'rmagent-repo-')), randomBytes(32));
    const cases = {
      bigText: text(1024 * 1024),
      random: randomBytes(1024 * 1024),
      smallText: text(MIN_COMPRESSED_BYTES - 1),
      justCompressed: text(MIN_COMPRESSED_BYTES),
    };
    const stored: Record<string, number> = {};
    for (const [name, data] of Object.entries(cases)) stored[name] = await repo.add('data', blobId(data), data);
    await repo.commit();
    expect(stored.bigText).toBeLessThan(cases.bigText.length / 4);
    expect(stored.random).toBe(cases.random.length + SEALING);
    expect(stored.smallText).toBe(cases.smallText.length + SEALING);
    expect(stored.justCompressed).toBeLessThan(cases.justCompressed.length);
    for (const data of Object.values(cases)) expect((await repo.read(blobId(data))).equals(data)).toBe(true);
    expect((await repo.checkPacks(repo.packs())).bad).toEqual([]);
    await repo.close();
  });
});
