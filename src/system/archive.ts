// The backup storage edge: a content-addressed chunk store (sha256-named, gzip-compressed, written
// atomically), walking a folder, reading a file in fixed-size chunks and writing a restored file.
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, type Dirent } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip, constants as zc } from 'node:zlib';
import { ensureDir, PRIVATE_FILE_MODE, removeFile } from './files.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);
export const CHUNK_BYTES = 1024 * 1024;
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
      const data = await gunzipAsync(await fs.readFile(fileOf(hash)));
      if (sha256(data) !== hash) throw Object.assign(new Error(`chunk ${hash} is corrupt`), { code: 'CHUNK_CORRUPT' });
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
}

/**
 * Regular files under `folder`, sorted, skipping what `excluded(rel, isDir)` says; symbolic links and
 * special files are skipped (counted), and the walk stops after `maxFiles`.
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
        const st = await fs.lstat(abs).catch(() => null);
        if (st?.isFile()) files.push({ rel, abs, mode: st.mode & 0o7777, mtimeMs: Math.floor(st.mtimeMs), size: st.size });
        else skipped++;
      } else skipped++;
    }
  };
  await visit(folder, '');
  return { files, skipped };
}

/** Reads a file chunk by chunk (fixed size), also returning the whole file's sha256. */
export async function readFileChunks(file: string, onChunk: (chunk: Buffer) => Promise<void>, chunkBytes = CHUNK_BYTES): Promise<{ sha256: string; bytes: number }> {
  const handle = await fs.open(file, 'r');
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
  return { sha256: whole.digest('hex'), bytes };
}

/**
 * Writes a restored file next to its place and renames it in, then sets its mode and mtime. The file's
 * real folder must lie inside `base` once symbolic links are resolved: a link planted in the restore
 * folder cannot redirect the write elsewhere (code 'UNSAFE_PATH').
 */
export async function writeRestoredFile(base: string, file: string, chunks: AsyncIterable<Buffer>, mode: number, mtimeMs: number): Promise<void> {
  await ensureDir(base, 0o755);
  const realBase = await fs.realpath(base);
  const inside = async (dir: string) => {
    const real = await fs.realpath(dir);
    if (real !== realBase && !real.startsWith(realBase + path.sep)) throw Object.assign(new Error(`${file} resolves outside ${base}`), { code: 'UNSAFE_PATH' });
  };
  // Check the deepest folder that exists before creating the missing ones (mkdir would follow a link too).
  let existing = path.dirname(file);
  while (existing !== path.dirname(existing) && !(await fs.stat(existing).then(() => true, () => false))) existing = path.dirname(existing);
  await inside(existing);
  await ensureDir(path.dirname(file), 0o755);
  await inside(path.dirname(file));
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.restore-${process.pid}.tmp`);
  const handle = await fs.open(tmp, 'w', 0o600);
  try {
    for await (const chunk of chunks) await handle.write(chunk);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await removeFile(tmp);
    throw err;
  }
  await handle.close();
  await fs.chmod(tmp, mode & 0o7777);
  await fs.utimes(tmp, new Date(mtimeMs), new Date(mtimeMs));
  await fs.rename(tmp, file);
}

/** sha256 of a file as it is on disk now (the byte-for-byte check after a restore). */
export async function hashFile(file: string): Promise<string> {
  return (await readFileChunks(file, async () => undefined)).sha256;
}

/** Names in `dir` ending with `suffix` (e.g. the snapshot manifests), or none when it does not exist. */
export async function listNames(dir: string, suffix: string): Promise<string[]> {
  return (await readdirOrEmpty(dir)).filter((e) => e.isFile() && e.name.endsWith(suffix)).map((e) => e.name.slice(0, -suffix.length));
}

