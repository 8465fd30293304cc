// The backup storage edge: a content-addressed chunk store (sha256-named, gzip-compressed, written
// atomically), walking a folder, reading a file in fixed-size chunks and writing a restored file. Every file a
// user or the destination's writers could have changed goes through safe-files.ts (no links, no FIFOs, no swap).
import { createHash, randomBytes } from 'node:crypto';
import { type Dirent } from 'node:fs';
import { fsAsync as fs } from './fs-async.js';
import type { FileHandle } from './fs-async.js';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip, constants as zc } from 'node:zlib';
import { ensureDir, PRIVATE_FILE_MODE, removeFile } from './files.js';
import { openRegularFile, readRegularFile, writeFileInFolder, type ChainLink, type FileIdentity } from './safe-files.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);
export const CHUNK_BYTES = 1024 * 1024;
// A stored chunk is gzip of at most CHUNK_BYTES: anything much larger on disk, or inflating past it, is not ours.
const MAX_STORED_CHUNK_BYTES = CHUNK_BYTES + 64 * 1024;
const HASH = /^[a-f0-9]{64}$/;

export const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

export interface ChunkStore {
  /** Stores a chunk under its sha256; `storedBytes` is 0 when the store already had it (dedup). */
  put(data: Buffer): Promise<{ hash: string; storedBytes: number }>;
  /** The chunk's bytes, verified against its name; throws when missing or corrupt. */
  get(hash: string): Promise<Buffer>;
  has(hash: string): Promise<boolean>;
  list(): Promise<string[]>;
  remove(hash: string): Promise<number>;
  /** Makes the chunks put so far durable (their folder entries); call before writing a manifest. */
  flush(): Promise<void>;
}

/** Chunks live in `dir/ab/abcdef….gz` (two-letter fan-out keeps folders small). */
export function createChunkStore(dir: string): ChunkStore {
  const fileOf = (hash: string) => {
    if (!HASH.test(hash)) throw new Error(`not a chunk name: ${hash.slice(0, 80)}`);
    return path.join(dir, hash.slice(0, 2), `${hash}.gz`);
  };
  const exists = async (file: string) => fs.access(file).then(() => true, () => false);
  const touched = new Set<string>();
  const writing = new Map<string, Promise<number>>();
  const store = async (hash: string, data: Buffer): Promise<number> => {
    const file = fileOf(hash);
    if (await exists(file)) return 0;
    const packed = await gzipAsync(data, { level: zc.Z_DEFAULT_COMPRESSION });
    // Each chunk is fsynced and renamed in; the folder entries are flushed once, by flush(), before
    // the manifest that references them is written (one directory fsync per fan-out folder, not per chunk).
    const fanDir = path.dirname(file);
    await ensureDir(fanDir);
    const tmp = path.join(fanDir, `.${hash}.${randomBytes(4).toString('hex')}.tmp`);
    const handle = await fs.open(tmp, 'wx', PRIVATE_FILE_MODE);
    try {
      await handle.writeFile(packed);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
    touched.add(fanDir);
    return packed.length;
  };
  return {
    async put(data) {
      const hash = sha256(data);
      // Two files with the same content in flight at once: the second one waits and stores nothing.
      const inFlight = writing.get(hash);
      if (inFlight) return inFlight.then(() => ({ hash, storedBytes: 0 }));
      const write = store(hash, data);
      writing.set(hash, write);
      try {
        return { hash, storedBytes: await write };
      } finally {
        writing.delete(hash);
      }
    },
    async flush() {
      if (process.platform === 'win32') return touched.clear();
      for (const d of touched) {
        const handle = await fs.open(d, 'r');
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
      }
      touched.clear();
    },
    async get(hash) {
      const corrupt = (why: string) => Object.assign(new Error(`chunk ${hash} is corrupt (${why})`), { code: 'CHUNK_CORRUPT' });
      let packed: Buffer;
      try {
        packed = await readRegularFile(fileOf(hash), MAX_STORED_CHUNK_BYTES);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'ENOENT') throw err;
        throw corrupt(code ?? 'unreadable');
      }
      const data = await gunzipAsync(packed, { maxOutputLength: CHUNK_BYTES }).catch(() => { throw corrupt('not gzip of one chunk'); });
      if (sha256(data) !== hash) throw corrupt('hash mismatch');
      return data;
    },
    has: (hash) => exists(fileOf(hash)),
    async list() {
      const hashes: string[] = [];
      for (const fan of await readdirOrEmpty(dir)) {
        if (!fan.isDirectory() || !/^[a-f0-9]{2}$/.test(fan.name)) continue;
        for (const f of await readdirOrEmpty(path.join(dir, fan.name))) {
          const hash = f.name.replace(/\.gz$/, '');
          if (f.isFile() && HASH.test(hash)) hashes.push(hash);
        }
      }
      return hashes;
    },
    async remove(hash) {
      const file = fileOf(hash);
      const size = await fs.stat(file).then((s) => s.size, () => 0);
      await removeFile(file);
      return size;
    },
  };
}

async function readdirOrEmpty(dir: string): Promise<Dirent[]> {
  return fs.readdir(dir, { withFileTypes: true }).catch(() => []);
}

export interface FoundFile {
  /** Path relative to the walked folder, '/'-separated. */
  rel: string;
  abs: string;
  mode: number;
  mtimeMs: number;
  size: number;
  /** The file the walk saw: reading it later refuses anything else found at that name. */
  seen: FileIdentity;
}

/**
 * Regular files under `folder` (a real path: resolve it with resolveTrustedPath first), sorted, skipping what
 * `excluded(rel, isDir)` says; symbolic links and special files are skipped (counted), links are never
 * followed into, and the walk stops after `maxFiles`.
 */
export async function walkFiles(folder: string, excluded: (rel: string, isDir: boolean) => boolean, maxFiles = 1_000_000): Promise<{ files: FoundFile[]; skipped: number }> {
  const files: FoundFile[] = [];
  let skipped = 0;
  const visit = async (dir: string, relDir: string): Promise<void> => {
    const entries = (await readdirOrEmpty(dir)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (files.length >= maxFiles) return;
      const rel = relDir ? `${relDir}/${e.name}` : e.name;
      const abs = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (!excluded(rel, true)) await visit(abs, rel);
      } else if (e.isFile()) {
        if (excluded(rel, false)) continue;
        const st = await fs.lstat(abs, { bigint: true }).catch(() => null);
        if (st?.isFile()) files.push({ rel, abs, mode: Number(st.mode & 0o7777n), mtimeMs: Number(st.mtimeMs), size: Number(st.size), seen: { dev: st.dev, ino: st.ino } });
        else skipped++;
      } else skipped++;
    }
  };
  await visit(folder, '');
  return { files, skipped };
}

/** What a read found: the whole file's sha256 and size, and its mode and mtime from the very handle read. */
export interface ReadFile {
  sha256: string;
  bytes: number;
  mode: number;
  mtimeMs: number;
}

/**
 * Reads a regular file chunk by chunk (fixed size), also returning the whole file's sha256. Opened without
 * following links or blocking on a FIFO, and refused (code FILE_CHANGED / UNSAFE_PATH / NOT_REGULAR) unless it is
 * the file `seen` at `file`; mode and mtime come from the opened file, so they always describe the bytes read.
 */
export async function readFileChunks(file: string, onChunk: (chunk: Buffer) => Promise<void>, seen?: FileIdentity, chunkBytes = CHUNK_BYTES): Promise<ReadFile> {
  const { handle, stat } = await openRegularFile(file, seen);
  const whole = createHash('sha256');
  let bytes = 0;
  try {
    for (;;) {
      const buffer = Buffer.allocUnsafe(chunkBytes);
      const { bytesRead } = await handle.read(buffer, 0, chunkBytes, null);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      whole.update(chunk);
      bytes += bytesRead;
      await onChunk(chunk);
      if (bytesRead < chunkBytes) break;
    }
  } finally {
    await handle.close();
  }
  return { sha256: whole.digest('hex'), bytes, mode: Number(stat.mode & 0o7777n), mtimeMs: Number(stat.mtimeMs) };
}

/**
 * Writes a restored file named `name` into the last folder of `chain` (safe-files.ts writeFileInFolder: random
 * exclusive temp, no link followed, chain re-checked before the rename) and checks, through the handle before
 * it takes its name, that its bytes hash to `sha256` (code CHUNK_CORRUPT otherwise). Only the permission bits of
 * `mode` are applied: setuid, setgid and sticky are stripped.
 */
export async function writeRestoredFile(chain: readonly ChainLink[], name: string, chunks: AsyncIterable<Buffer>, expect: { mode: number; mtimeMs: number; sha256: string }): Promise<void> {
  await writeFileInFolder(chain, name, chunks, {
    mode: expect.mode & 0o777,
    mtimeMs: expect.mtimeMs,
    verify: async (handle) => {
      if ((await hashHandle(handle)) !== expect.sha256) throw Object.assign(new Error(`${name}: written bytes differ from the backup`), { code: 'CHUNK_CORRUPT' });
    },
  });
}

/** sha256 of everything in the file behind `handle` (read from its start). */
export async function hashHandle(handle: FileHandle): Promise<string> {
  const hash = createHash('sha256');
  const { size } = await handle.stat();
  const buffer = Buffer.allocUnsafe(Math.max(4096, Math.min(CHUNK_BYTES, size + 1)));
  for (let position = 0; ; ) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash.digest('hex');
}

/** Names in `dir` ending with `suffix` (e.g. the snapshot manifests), or none when it does not exist. */
export async function listNames(dir: string, suffix: string): Promise<string[]> {
  return (await readdirOrEmpty(dir)).filter((e) => e.isFile() && e.name.endsWith(suffix)).map((e) => e.name.slice(0, -suffix.length));
}

