// The agent's code as it travels in a Linux single executable: after the end of the ELF file, where no segment maps
// it, rather than in the SEA blob, whose pages stay resident for the life of the process. Read with pread at start
// (page cache, not the process's memory). installer/sea/build.sh appends it; src/cli/sea-loader.ts reads it.
// Layout: [code (UTF-8)][V8 code cache, may be empty][trailer: 8-byte magic, code length, cache length (u32 LE)].
import fs from 'node:fs';

const MAGIC = 'RMACODE1';
export const TRAILER_BYTES = 16;

export interface CodePayload {
  code: string;
  /** V8 code cache made under the executable's flags (linux-x64); absent when the build could not make one. */
  cache: Buffer | undefined;
}

/** Where the payload lies in a file of `size` bytes, from its trailer alone. */
export interface PayloadExtent {
  codeStart: number;
  codeBytes: number;
  cacheBytes: number;
}

export function codePayloadTrailer(codeBytes: number, cacheBytes: number): Buffer {
  const trailer = Buffer.alloc(TRAILER_BYTES);
  trailer.write(MAGIC, 0, 'latin1');
  trailer.writeUInt32LE(codeBytes, 8);
  trailer.writeUInt32LE(cacheBytes, 12);
  return trailer;
}

/** The code a bundle becomes in the payload: a leading `#!` line is not valid in a function body, so it turns into a comment (same length, same lines). */
export const payloadCode = (bundle: string): string => bundle.replace(/^#!/, '//');

/** Reads only the trailer of an open file; throws an Error saying what is wrong (`name` is the file's name in it). */
function extentOf(fd: number, name: string): PayloadExtent {
  const size = fs.fstatSync(fd).size;
  const trailer = Buffer.alloc(TRAILER_BYTES);
  if (size < TRAILER_BYTES || fs.readSync(fd, trailer, 0, TRAILER_BYTES, size - TRAILER_BYTES) !== TRAILER_BYTES || trailer.toString('latin1', 0, 8) !== MAGIC) {
    throw new Error(`${name} does not end with the agent's code (stripped, truncated or modified?)`);
  }
  const codeBytes = trailer.readUInt32LE(8);
  const cacheBytes = trailer.readUInt32LE(12);
  const codeStart = size - TRAILER_BYTES - cacheBytes - codeBytes;
  if (codeBytes === 0 || codeStart < 0) throw new Error(`${name}: the agent's code is cut short (${size} bytes cannot hold ${codeBytes} + ${cacheBytes})`);
  return { codeStart, codeBytes, cacheBytes };
}

function withFile<T>(file: string, use: (fd: number) => T): T {
  const fd = fs.openSync(file, 'r');
  try {
    return use(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Where the payload at the end of `file` lies (reads the trailer only). */
export const locateCodePayload = (file: string, name = file): PayloadExtent => withFile(file, (fd) => extentOf(fd, name));

/** Reads the payload at the end of `file` (called `name` in errors); throws an Error saying what is wrong when there is none or it is cut short. */
export function readCodePayload(file: string, name = file): CodePayload {
  return withFile(file, (fd) => {
    const { codeStart, codeBytes, cacheBytes } = extentOf(fd, name);
    // One read into a buffer of its own (freed with it), not the pooled allocator's.
    const bytes = Buffer.allocUnsafeSlow(codeBytes + cacheBytes);
    if (fs.readSync(fd, bytes, 0, bytes.length, codeStart) !== bytes.length) throw new Error(`${name}: the agent's code could not be read whole`);
    return { code: bytes.toString('utf8', 0, codeBytes), cache: cacheBytes ? bytes.subarray(codeBytes) : undefined };
  });
}
