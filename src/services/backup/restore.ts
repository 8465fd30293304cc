// Restoring a snapshot to its folders or another one, each file verified byte for byte (sha256 of the bytes
// written, read back through the handle before the file takes its name). Every destination is planned first:
// one unsafe path refuses the whole restore before anything is written. Folders are reached through trusted links
// only and created one by one (0700) without following a link; files are written through random exclusive temp
// names (system/safe-files.ts), with only their permission bits (never setuid, setgid or sticky).
import path from 'node:path';
import { writeRestoredFile } from '../../system/archive.js';
import { makeFolders, resolveTrustedPath, type ChainLink } from '../../system/safe-files.js';
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

export interface RestoreOptions {
  target: string | null;
  paths?: readonly string[];
  /** The folders the current policy names: without a target, only these are restored in place. */
  policyFolders: readonly string[];
}

// Folders a restore creates: the manifest does not know the original folders' modes or owners.
const NEW_FOLDER_MODE = 0o700;

export async function restoreSnapshot(store: BackupStore, manifest: Manifest, options: RestoreOptions): Promise<RestoreResult> {
  if (options.target !== null && !path.isAbsolute(options.target)) throw new RmError('BACKUP_UNSAFE_PATH', `restore target must be an absolute path: ${options.target.slice(0, 200)}`);
  const plan = manifest.files
    .filter((f) => selectedForRestore(f.path, options.paths))
    .map((f) => {
      const base = restoreBase(manifest, f.folder, options.target, options.policyFolders);
      if (base === null) throw new RmError('BACKUP_UNSAFE_PATH', `${manifest.folders[f.folder]?.path.slice(0, 200) ?? `folder ${f.folder}`} is not a folder of the current policy: restore it to a target`);
      if (!resolveInside(base, f.path)) throw new RmError('BACKUP_UNSAFE_PATH', JSON.stringify(f.path.slice(0, 200)));
      return { file: f, base };
    });
  const realBases = new Map<string, string>();
  for (const { base } of plan) {
    if (realBases.has(base)) continue;
    realBases.set(base, await resolveTrustedPath(base).catch(unsafe));
  }
  const chains = new Map<string, ChainLink[]>();
  let bytes = 0;
  for (const { file, base } of plan) {
    const segments = file.path.split('/');
    const name = segments.pop()!;
    const dir = path.join(realBases.get(base)!, ...segments);
    let chain = chains.get(dir);
    if (!chain) {
      chain = await makeFolders(dir, NEW_FOLDER_MODE).catch(unsafe);
      chains.set(dir, chain);
    }
    const chunks = (async function* () {
      for (const h of file.chunks) yield await store.chunks.get(h);
    })();
    try {
      await writeRestoredFile(chain, name, chunks, { mode: file.mode, mtimeMs: file.mtimeMs, sha256: file.sha256 });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'UNSAFE_PATH') throw new RmError('BACKUP_UNSAFE_PATH', (err as Error).message);
      if (code === 'CHUNK_CORRUPT' || code === 'ENOENT') throw new RmError('BACKUP_VERIFY_FAILED', `${file.path}: ${(err as Error).message}`);
      throw err;
    }
    bytes += file.size;
  }
  return { snapshot: manifest.id, files: plan.length, bytes, verified: plan.length, target: options.target };
}

function unsafe(err: unknown): never {
  if ((err as { code?: string }).code === 'UNSAFE_PATH') throw new RmError('BACKUP_UNSAFE_PATH', (err as Error).message);
  throw err;
}
