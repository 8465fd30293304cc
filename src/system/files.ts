// The filesystem edge: crash-safe writes (temp file, fsync, rename, fsync dir) and validated reads.
import { constants as fsc } from 'node:fs';
import { fsAsync as fs } from './fs-async.js';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type * as z from 'zod/mini';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

export async function ensureDir(dir: string, mode = PRIVATE_DIR_MODE): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode });
}

/**
 * Writes `data` so that a crash at any point leaves either the old or the new file, never a torn one. A write,
 * fsync, close or rename that fails removes the temp file (best effort): on a full disk a partial temp file would
 * otherwise keep the space the failed write took.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = PRIVATE_FILE_MODE): Promise<void> {
  const dir = path.dirname(file);
  await ensureDir(dir);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(tmp, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, mode);
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await removeFile(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dir);
}

export async function writeJsonAtomic(file: string, value: unknown, mode = PRIVATE_FILE_MODE): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`, mode);
}

// The rename is durable only once the directory entry is flushed; Windows cannot open directories.
async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export type ReadResult<T> =
  | { status: 'ok'; value: T }
  | { status: 'missing' }
  | { status: 'invalid'; reason: string };

/** Reads a JSON state file and validates it; never throws for a missing or corrupt file. */
export async function readJsonFile<T>(file: string, schema: z.ZodMiniType<T>): Promise<ReadResult<T>> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing' };
    return { status: 'invalid', reason: (err as Error).message };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { status: 'invalid', reason: `not JSON: ${(err as Error).message}` };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) return { status: 'invalid', reason: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
  return { status: 'ok', value: parsed.data };
}

export async function readTextIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function fileMode(file: string): Promise<number | undefined> {
  try {
    return (await fs.stat(file)).mode & 0o777;
  } catch {
    return undefined;
  }
}

/** What fileStamp says when the file is not there. */
export const ABSENT_STAMP = '-';

/**
 * A file's identity for noticing change without reading it: changes whenever the file is replaced or rewritten
 * (inode, size, mtime, mode). ABSENT_STAMP when it is not there; `!CODE` when it cannot be looked at (EACCES on a
 * parent folder), which is not the same as absent.
 */
export async function fileStamp(file: string): Promise<string> {
  try {
    const st = await fs.stat(file);
    return `${st.ino}:${st.size}:${st.mtimeMs}:${st.mode}`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? ABSENT_STAMP : `!${code ?? 'error'}`;
  }
}

/** Removes a file; an absent one is not an error. (unlink, not rm: rm loads Node's rimraf code into every agent.) */
export async function removeFile(file: string): Promise<void> {
  await fs.unlink(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
