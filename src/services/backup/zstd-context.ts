// One zstd context per direction, kept for the job, instead of a zlib stream object per blob. Node's one-shot
// zstdCompressSync/zstdDecompressSync build a stream, a native context and its tables for every call and close them
// after it: on a backup of 16,000 files that was ~0.4 s of construction and collection (bench/analysis.md), more
// than a third of what zstd itself took. Node has no public synchronous API for a reused context, so this drives
// the stream's own native handle the way zlib's synchronous path does (handle.writeSync with the stream's write
// state); where the runtime's stream does not look like that (another Node), the one-shot calls are used instead.
// Each call is one whole frame (ZSTD_e_end): zstd then starts the next frame on the same context with the same
// parameters. A frame that fails (zlib destroys its stream) or ends anywhere but where expected drops the stream,
// so no half-read frame carries into the next blob; the next call builds a new one. (The handle's reset() would
// not do: Node's reset builds a new native context without the parameters.)
import zlib from 'node:zlib';

interface NativeHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
}
interface DrivenStream {
  _handle: NativeHandle | null;
  _writeState: Uint32Array;
  destroyed: boolean;
  on(event: 'error', listener: () => void): unknown;
}

const END = zlib.constants.ZSTD_e_end;
// Frames this repository writes use windows of at most 2 MiB (level 3); a frame asking for more is refused instead
// of making the kept context hold a large window (zstd's own default limit is 128 MiB).
const WINDOW_LOG_MAX = 23;

function driven(make: () => unknown): DrivenStream | null {
  const stream = make() as Partial<DrivenStream>;
  if (typeof stream._handle?.writeSync !== 'function' || !(stream._writeState instanceof Uint32Array) || stream._writeState.length !== 2) return null;
  (stream as DrivenStream).on('error', () => undefined); // zlib reports a failed frame as an 'error' event too
  return stream as DrivenStream;
}

/** zstd with one compression and one decompression context, kept until the job ends. */
export class ZstdContexts {
  private compressor: DrivenStream | null | undefined;
  private decompressor: DrivenStream | null | undefined;

  constructor(private readonly level: number) {}

  /** `raw` compressed at the level given (one frame, no content size: it is in the index). */
  compress(raw: Buffer): Buffer {
    const stream = (this.compressor = this.live(this.compressor, () => zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: this.level } })));
    if (!stream) return zlib.zstdCompressSync(raw, { params: { [zlib.constants.ZSTD_c_compressionLevel]: this.level } });
    // At least zstd's compress bound (ZSTD_COMPRESSBOUND: n + n/256, plus under 64 bytes below 128 KiB), so one call
    // with ZSTD_e_end completes the frame.
    const out = Buffer.allocUnsafe(raw.length + (raw.length >> 8) + 1024);
    stream._handle!.writeSync(END, raw, 0, raw.length, out, 0, out.length);
    const [outLeft, inLeft] = [stream._writeState[0]!, stream._writeState[1]!];
    if (stream.destroyed || outLeft === 0 || inLeft !== 0) {
      this.compressor = undefined;
      (stream as unknown as { destroy(): void }).destroy();
      throw new Error('zstd could not compress');
    }
    return out.subarray(0, out.length - outLeft);
  }

  /**
   * One frame's content, which must be exactly `rawLength` bytes (else a CHUNK_CORRUPT-coded error); into `into`
   * when given (at least rawLength + 1 bytes: the result is a view of it), else into a new buffer.
   */
  decompress(data: Buffer, rawLength: number, into?: Buffer): Buffer {
    const stream = (this.decompressor = this.live(this.decompressor, () => zlib.createZstdDecompress({ params: { [zlib.constants.ZSTD_d_windowLogMax]: WINDOW_LOG_MAX } })));
    if (!stream) {
      const raw = zlib.zstdDecompressSync(data, { maxOutputLength: rawLength + 1, params: { [zlib.constants.ZSTD_d_windowLogMax]: WINDOW_LOG_MAX } } as zlib.ZstdOptions);
      if (raw.length !== rawLength) throw corrupt('decompresses to another length than its index says');
      return raw;
    }
    // One byte of room more than expected: a frame that fills it is longer than its index says.
    const out = into && into.length > rawLength ? into.subarray(0, rawLength + 1) : Buffer.allocUnsafe(rawLength + 1);
    // Frames this repository writes carry their size and decode in one call; a frame without it can stop short of
    // its last few bytes (the end of the frame) and is given them again, a bounded number of times.
    let inOff = 0;
    let outOff = 0;
    for (let call = 0; call < 4 && inOff < data.length && outOff < out.length && !stream.destroyed; call++) {
      stream._handle!.writeSync(END, data, inOff, data.length - inOff, out, outOff, out.length - outOff);
      inOff = data.length - stream._writeState[1]!;
      outOff = out.length - stream._writeState[0]!;
    }
    const [outLeft, inLeft] = [out.length - outOff, data.length - inOff];
    if (stream.destroyed || outLeft !== 1 || inLeft !== 0) {
      this.decompressor = undefined;
      (stream as unknown as { destroy(): void }).destroy(); // its native context now, not at a later collection
      throw corrupt(stream.destroyed ? 'is not a zstd frame this agent can read' : 'decompresses to another length than its index says');
    }
    return out.subarray(0, rawLength);
  }

  private live(current: DrivenStream | null | undefined, make: () => unknown): DrivenStream | null {
    if (current === null) return null; // this runtime's streams cannot be driven
    if (current && !current.destroyed && current._handle) return current;
    return driven(make);
  }
}

const corrupt = (message: string) => Object.assign(new Error(message), { code: 'CHUNK_CORRUPT' });
