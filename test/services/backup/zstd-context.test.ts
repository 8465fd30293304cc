// The zstd contexts a backup job keeps for all its blobs: every blob is its own frame that the one-shot zlib calls
// read too (repositories written before and after stay readable both ways), and a bad frame neither passes nor
// leaves anything behind that spoils the next blob's decoding.
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ZstdContexts } from '../../../src/services/backup/zstd-context.js';

const text = (bytes: number, seed: number): Buffer => {
  const lines: string[] = [];
  for (let i = 0, n = 0; n < bytes; i++) {
    const line = `${seed}:${i}\tservice ${(i * seed) % 13} handled request ${(i * 7919) % 100_003}\n`;
    lines.push(line);
    n += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
};

describe('ZstdContexts', () => {
  it('compresses blob after blob on one context into frames that each decode alone, with either API', () => {
    const zstd = new ZstdContexts(3);
    const blobs = [text(1024, 1), text(300_000, 2), randomBytes(70_000), text(5_000_000, 3), Buffer.alloc(2_000_000), text(4096, 4)];
    const frames = blobs.map((b) => Buffer.from(zstd.compress(b))); // copies: nothing shared between calls
    frames.forEach((frame, i) => {
      expect(zlib.zstdDecompressSync(frame).equals(blobs[i]!)).toBe(true);
    });
    // Decoded in another order than written: no frame depends on the one before it.
    for (const i of [3, 0, 5, 1, 4, 2]) expect(zstd.decompress(frames[i]!, blobs[i]!.length).equals(blobs[i]!)).toBe(true);
    expect(frames[3]!.length).toBeLessThan(blobs[3]!.length / 4);
  });

  it('reads frames written by the one-shot API with a pledged size (repositories written before)', () => {
    const zstd = new ZstdContexts(3);
    const data = text(800_000, 5);
    const frame = zlib.zstdCompressSync(data, { pledgedSrcSize: data.length, params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 } } as zlib.ZstdOptions);
    expect(zstd.decompress(frame, data.length).equals(data)).toBe(true);
  });

  it('refuses a frame of another length than expected, a damaged one and a truncated one, and decodes the next blob after each', () => {
    const zstd = new ZstdContexts(3);
    const good = text(200_000, 6);
    const goodFrame = Buffer.from(zstd.compress(good));
    const other = text(150_000, 7);
    const otherFrame = Buffer.from(zstd.compress(other));
    const damaged = Buffer.from(otherFrame);
    damaged.fill(0xa5, 20, 60);
    // A truncated frame decodes part of its content and stops mid-frame: a kept context would read the next blob's
    // frame as the rest of this one.
    const truncated = otherFrame.subarray(0, Math.floor(otherFrame.length / 2));
    // A frame longer than its index says fills the room given and stops mid-frame too.
    const attempts: Array<[Buffer, number]> = [[otherFrame, 100_000], [otherFrame, other.length - 1], [otherFrame, other.length + 1], [damaged, other.length], [truncated, other.length], [truncated, 1000]];
    for (const [frame, length] of attempts) {
      expect(() => zstd.decompress(frame, length)).toThrow(expect.objectContaining({ code: 'CHUNK_CORRUPT' }));
      expect(zstd.decompress(goodFrame, good.length).equals(good)).toBe(true);
    }
  });

  it('refuses a frame that needs a window larger than any chunk (memory a damaged repository could make it hold)', async () => {
    const zstd = new ZstdContexts(3);
    const data = Buffer.concat([randomBytes(1 << 20), Buffer.alloc(40 << 20), randomBytes(1 << 20)]);
    // Written as a stream, in pieces: no content size in the frame, so decoding needs a window of the size the frame
    // names (a frame with its content size that fits the output decodes straight into it, without a window).
    const stream = zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_windowLog]: 26 } });
    const pieces: Buffer[] = [];
    stream.on('data', (piece: Buffer) => pieces.push(piece));
    const ended = new Promise((resolve) => stream.on('end', resolve));
    for (let at = 0; at < data.length; at += 1 << 20) stream.write(data.subarray(at, at + (1 << 20)));
    stream.end();
    await ended;
    const wide = Buffer.concat(pieces);
    expect(zlib.zstdDecompressSync(wide).equals(data)).toBe(true); // a good frame, only a wide one
    expect(() => zstd.decompress(wide, data.length)).toThrow(expect.objectContaining({ code: 'CHUNK_CORRUPT' }));
    const small = text(10_000, 8);
    expect(zstd.decompress(Buffer.from(zstd.compress(small)), small.length).equals(small)).toBe(true);
  });
});
