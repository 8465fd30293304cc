// Reading TeamViewer's own files: a missing file, a forbidden one and a readable one are three different
// answers, and none of them throws.
import { fsAsync as fs } from '../system/fs-async.js';
import { ABSENT_STAMP, fileMode, fileStamp, readTextIfExists } from '../system/files.js';

export type FileRead = { status: 'ok'; text: string } | { status: 'missing' } | { status: 'unreadable'; reason: string };

export async function readHostFile(file: string): Promise<FileRead> {
  try {
    const text = await readTextIfExists(file);
    return text === undefined ? { status: 'missing' } : { status: 'ok', text };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { status: 'unreadable', reason: e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied' : e.code ?? e.message };
  }
}

export async function hostFileExists(file: string): Promise<boolean> {
  return (await fileMode(file)) !== undefined;
}

/** What a stamp says when the file is not there. */
export const ABSENT = ABSENT_STAMP;

/** A file's identity for noticing change without reading it (system/files.ts fileStamp). */
export const hostFileStamp = fileStamp;

/** Entry names of a folder, empty when it is missing or unreadable. */
export async function listHostDir(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch {
    return [];
  }
}
