// Content-defined chunking (FastCDC: gear hash, normalized chunking). A cut depends only on the bytes just
// before it, so inserting 100 bytes at the start of a file changes its first chunk and leaves the rest identical
// (fixed-size chunks would all shift). Sizes as restic's: at least 512 KiB, about 1 MiB on average, at most 8 MiB.
// Bytes before the minimum are not hashed (they cannot end a chunk); up to the average size a stricter mask (two
// more bits) makes an early cut less likely, after it a looser one makes a late cut more likely, which narrows the
// size spread. The gear table comes from a fixed seed: it is part of the repository format (other values would
// cut differently and dedup nothing against older snapshots).
import { createHash } from 'node:crypto';

export interface CdcParams {
  min: number;
  avg: number;
  max: number;
}

export const DEFAULT_CDC: CdcParams = { min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024 };

const GEAR = (() => {
  const table = new Int32Array(256);
  for (let i = 0; i < 256; i += 8) {
    const block = createHash('sha256').update(`rmagent-cdc-gear/1:${i}`).digest();
    for (let j = 0; j < 8; j++) table[i + j] = block.readInt32LE(j * 4);
  }
  return table;
})();

/** The top `bits` bits of a 32-bit hash (the bits that saw the last 32 bytes). */
const topMask = (bits: number) => (bits >= 32 ? -1 : ~((1 << (32 - bits)) - 1)) | 0;

export class Chunker {
  private readonly params: CdcParams;
  private readonly maskS: number;
  private readonly maskL: number;
  // Bytes of the chunk being cut that came with earlier calls: copied here (grown up to `max`, then reused), so
  // the caller can reuse its read buffer at once and a chunk is never put together by concatenation.
  private acc: Buffer | null = null;
  private accLength = 0;
  private length = 0;
  private hash = 0;

  constructor(params: CdcParams = DEFAULT_CDC) {
    if (!(params.min > 0 && params.min < params.avg && params.avg < params.max)) throw new RangeError('chunk sizes must be 0 < min < avg < max');
    this.params = params;
    const bits = Math.round(Math.log2(params.avg));
    this.maskS = topMask(bits + 2);
    this.maskL = topMask(bits - 2);
  }

  /**
   * Feeds bytes and hands `each` every chunk they complete, in order; with `last`, the rest too (the stream
   * ends). A chunk is a view of `data` or of the chunker's own buffer: valid until `each` settles. `data` can be
   * reused once the returned promise settles.
   */
  async feed(data: Buffer, each: (chunk: Buffer) => Promise<void> | void, last = false): Promise<void> {
    for (const chunk of this.cuts(data, last)) await each(chunk);
  }

  /** Feeds bytes; returns the chunks they complete, each a copy of its own. */
  push(data: Buffer): Buffer[] {
    const out: Buffer[] = [];
    for (const chunk of this.cuts(data, false)) out.push(Buffer.from(chunk)); // copied before the generator goes on
    return out;
  }

  /** The last chunk (null when nothing is left); valid until the next call. */
  finish(): Buffer | null {
    const rest = this.accLength > 0 ? this.acc!.subarray(0, this.accLength) : null;
    this.reset();
    return rest;
  }

  /** Forgets a chunk in progress and drops its buffer when larger than `keepBytes` (a reader between files). */
  shrink(keepBytes: number): void {
    this.reset();
    if (this.acc && this.acc.length > keepBytes) this.acc = null;
  }

  /** Forgets a chunk in progress (a file that could not be read to its end). */
  reset(): void {
    this.accLength = 0;
    this.length = 0;
    this.hash = 0;
  }

  private *cuts(data: Buffer, last: boolean): Generator<Buffer> {
    let off = 0;
    while (off < data.length) {
      const cut = this.scan(data, off);
      if (cut < 0) break;
      yield this.take(data, off, cut);
      off = cut;
    }
    if (off >= data.length && !(last && this.accLength > 0)) {
      if (last) this.reset();
      return;
    }
    if (last) {
      const rest = this.take(data, off, data.length);
      yield rest;
      return;
    }
    this.keep(data.subarray(off));
  }

  /** The chunk ending at `cut` in `data`: a view of `data` when it all lies there, else of the chunker's buffer. */
  private take(data: Buffer, off: number, cut: number): Buffer {
    let chunk: Buffer;
    if (this.accLength === 0) chunk = data.subarray(off, cut);
    else {
      this.keep(data.subarray(off, cut));
      chunk = this.acc!.subarray(0, this.accLength);
    }
    this.reset();
    return chunk;
  }

  private keep(bytes: Buffer): void {
    const need = this.accLength + bytes.length;
    if (!this.acc || this.acc.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, Math.min(this.params.max, Math.max(64 * 1024, (this.acc?.length ?? 0) * 2))));
      if (this.acc && this.accLength) this.acc.copy(grown, 0, 0, this.accLength);
      this.acc = grown;
    }
    bytes.copy(this.acc, this.accLength);
    this.accLength = need;
  }

  /** Index in `data` just after the next cut, or -1 when the chunk goes on past `data` (this.length advanced). */
  private scan(data: Buffer, start: number): number {
    const { min, avg, max } = this.params;
    const end = data.length;
    let i = start;
    let len = this.length;
    let h = this.hash;
    if (len < min) {
      const skip = Math.min(end - i, min - len);
      i += skip;
      len += skip;
      if (len < min) {
        this.length = len;
        return -1;
      }
    }
    const maskS = this.maskS;
    const maskL = this.maskL;
    // Below the average size: the stricter mask.
    const normalEnd = i + Math.max(0, Math.min(end - i, avg - len));
    for (; i < normalEnd; i++) {
      h = ((h << 1) + GEAR[data[i]!]!) | 0;
      if ((h & maskS) === 0) return i + 1;
    }
    len = this.length + (i - start);
    const lateEnd = i + Math.max(0, Math.min(end - i, max - len));
    for (; i < lateEnd; i++) {
      h = ((h << 1) + GEAR[data[i]!]!) | 0;
      if ((h & maskL) === 0) return i + 1;
    }
    len = this.length + (i - start);
    if (len >= max) return i;
    this.length = len;
    this.hash = h;
    return -1;
  }
}
