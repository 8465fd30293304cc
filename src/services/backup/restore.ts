// Restoring a snapshot to its folders or another one, each file verified byte for byte (sha256 of the
// written file against the manifest). Unsafe manifest paths are refused before anything is written.
import path from 'node:path';
import { hashFile, writeRestoredFile } from '../../system/archive.js';
import { RmError } from '../../protocol/errors.js';
import { resolveInside, restoreBase, selectedForRestore, type Manifest } from './manifest.js';
import type { BackupStore } from './snapshot.js';

export interface RestoreResult {
  snapshot: string;
  files: number;
  bytes: number;
  verified: number;
  target: string | null;
}

export async function restoreSnapshot(store: BackupStore, manifest: Manifest, options: { target: string | null; paths?: readonly string[] }): Promise<RestoreResult> {
  if (options.target !== null && !path.isAbsolute(options.target)) throw new RmError('BACKUP_UNSAFE_PATH', `restore target must be an absolute path: ${options.target.slice(0, 200)}`);
  // Plan every destination first: one bad path refuses the whole restore.
  const plan = manifest.files
    .filter((f) => selectedForRestore(f.path, options.paths))
    .map((f) => {
      const base = restoreBase(manifest, f.folder, options.target);
      const dest = resolveInside(base, f.path);
      if (!dest) throw new RmError('BACKUP_UNSAFE_PATH', JSON.stringify(f.path.slice(0, 200)));
      return { file: f, dest, base };
    });
  let bytes = 0;
  for (const { file, dest, base } of plan) {
    const chunks = (async function* () {
      for (const h of file.chunks) yield await store.chunks.get(h);
    })();
    try {
      await writeRestoredFile(base, dest, chunks, file.mode, file.mtimeMs);
    } catch (err) {
      if ((err as { code?: string }).code === 'UNSAFE_PATH') throw new RmError('BACKUP_UNSAFE_PATH', (err as Error).message);
      if ((err as { code?: string }).code === 'CHUNK_CORRUPT' || (err as { code?: string }).code === 'ENOENT') throw new RmError('BACKUP_VERIFY_FAILED', `${file.path}: ${(err as Error).message}`);
      throw err;
    }
    if ((await hashFile(dest)) !== file.sha256) throw new RmError('BACKUP_VERIFY_FAILED', `${file.path}: restored bytes differ from the backup`);
    bytes += file.size;
  }
  return { snapshot: manifest.id, files: plan.length, bytes, verified: plan.length, target: options.target };
}
