// Taking, listing, verifying and pruning snapshots in a destination folder:
//   <destination>/chunks/ab/<sha256>.gz   content-addressed, compressed, shared by all snapshots
//   <destination>/snapshots/<id>.json     one sealed manifest per snapshot, written atomically after its chunks
// A file whose size, mtime and mode match the previous snapshot and whose chunks are all present is
// not read again; anything else is read, chunked and deduplicated by hash. Only sealed manifests count.
import path from 'node:path';
import { removeFile, writeFileAtomic } from '../../system/files.js';
import { createChunkStore, listNames, readFileChunks, walkFiles, type ChunkStore } from '../../system/archive.js';
import { readRegularFile, resolveTrustedPath } from '../../system/safe-files.js';
import { RmError } from '../../protocol/errors.js';
import { createExcluder, planRetention, sealManifest, unsealManifest, type Manifest, type ManifestFile } from './manifest.js';
import { forEachBounded } from '../../system/bounded.js';

export interface BackupStore {
  chunks: ChunkStore;
  snapshotsDir: string;
  /** The device's manifest key (manifest.ts, sealing). */
  key: Uint8Array;
}

// ~250 bytes per file: a million files fit.
const MAX_MANIFEST_BYTES = 512 * 1024 * 1024;
const SNAPSHOT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** `destination` should be the real path a destination check returned (service.ts), so no link is followed later. */
export function openStore(destination: string, key: Uint8Array): BackupStore {
  return { chunks: createChunkStore(path.join(destination, 'chunks')), snapshotsDir: path.join(destination, 'snapshots'), key };
}

/** Reads one manifest: missing -> BACKUP_SNAPSHOT_MISSING; not sealed by this device, malformed, or with a path leaving its folder -> BACKUP_MANIFEST_UNTRUSTED. */
export async function readManifest(store: BackupStore, id: string): Promise<Manifest> {
  if (!SNAPSHOT_ID.test(id)) throw new RmError('BACKUP_SNAPSHOT_MISSING', id.slice(0, 128));
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(path.join(store.snapshotsDir, `${id}.json`), MAX_MANIFEST_BYTES);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new RmError('BACKUP_SNAPSHOT_MISSING', id);
    throw new RmError('BACKUP_MANIFEST_UNTRUSTED', `manifest ${id}: ${(err as Error).message}`);
  }
  const unsealed = unsealManifest(store.key, bytes, id);
  if (!unsealed.ok) throw new RmError('BACKUP_MANIFEST_UNTRUSTED', `manifest ${id}: ${unsealed.reason}`);
  return unsealed.manifest;
}

/** Sealed manifests, newest first; the others are named with the reason they are not trusted. */
export async function listSnapshots(store: BackupStore): Promise<{ snapshots: Manifest[]; untrusted: Array<{ id: string; reason: string }> }> {
  const snapshots: Manifest[] = [];
  const untrusted: Array<{ id: string; reason: string }> = [];
  for (const id of await listNames(store.snapshotsDir, '.json')) {
    try {
      snapshots.push(await readManifest(store, id));
    } catch (err) {
      untrusted.push({ id: id.slice(0, 128), reason: (err as Error).message });
    }
  }
  return { snapshots: snapshots.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1)), untrusted };
}

export interface SnapshotRequest {
  folders: readonly string[];
  exclude: readonly string[];
  actor: string | null;
  now: () => number;
  id: string;
  /** Absolute paths never backed up (the destination itself when it sits inside a folder). */
  skip?: readonly string[];
  /** Stops the snapshot between files (agent shutdown); nothing is written for it. */
  signal?: AbortSignal;
  /** A folder left out (reached through a link another account can change). */
  onWarning?: (message: string) => void;
}

export async function takeSnapshot(store: BackupStore, req: SnapshotRequest, previous: Manifest | null): Promise<Manifest> {
  const started = req.now();
  const excluded = createExcluder(req.exclude);
  const folders = uniqueNames(req.folders);
  const skip = new Set((req.skip ?? []).map((p) => path.resolve(p)));
  const known = new Map<string, ManifestFile>();
  for (const f of previous?.files ?? []) known.set(`${previous!.folders[f.folder]?.path}\0${f.path}`, f);
  const files: ManifestFile[] = [];
  let bytesRead = 0;
  let bytesStored = 0;
  let skipped = 0;
  for (const [index, folder] of folders.entries()) {
    // The walk and every read go by the real path, resolved once through trusted links only.
    let real: string;
    try {
      real = await resolveTrustedPath(folder.path);
    } catch (err) {
      req.onWarning?.(`folder ${folder.path} left out: ${(err as Error).message}`);
      skipped++;
      continue;
    }
    const walk = await walkFiles(real, (rel) => excluded(rel) || skip.has(path.join(real, ...rel.split('/'))));
    skipped += walk.skipped;
    const entries = new Array<ManifestFile | null>(walk.files.length).fill(null);
    await forEachBounded(walk.files, FILES_IN_FLIGHT, async (found, i) => {
      req.signal?.throwIfAborted();
      const before = known.get(`${folder.path}\0${found.rel}`);
      if (before && before.size === found.size && before.mtimeMs === found.mtimeMs && before.mode === found.mode && (await allPresent(store.chunks, before.chunks))) {
        entries[i] = { ...before, folder: index };
        return;
      }
      const chunks: string[] = [];
      try {
        // Only the file the walk saw is read (not a link, FIFO or other file swapped in since); its mode and
        // mtime come from the very handle read.
        const read = await readFileChunks(found.abs, async (chunk) => {
          const put = await store.chunks.put(chunk);
          chunks.push(put.hash);
          bytesStored += put.storedBytes;
        }, found.seen);
        bytesRead += read.bytes;
        entries[i] = { folder: index, path: found.rel, mode: read.mode, mtimeMs: Math.floor(read.mtimeMs), size: read.bytes, sha256: read.sha256, chunks };
      } catch {
        skipped++; // vanished, unreadable or replaced since the walk
      }
    });
    for (const e of entries) if (e) files.push(e);
  }
  const manifest: Manifest = {
    format: 2,
    id: req.id,
    createdAt: started,
    actor: req.actor,
    folders,
    files,
    stats: { files: files.length, bytesRead, bytesStored, durationMs: Math.max(0, req.now() - started), skipped },
  };
  await store.chunks.flush();
  await writeFileAtomic(path.join(store.snapshotsDir, `${manifest.id}.json`), sealManifest(store.key, manifest));
  return manifest;
}

// A few files at once overlap fsync latency and use zlib's thread pool; the manifest keeps walk order.
const FILES_IN_FLIGHT = 4;

async function allPresent(chunks: ChunkStore, hashes: readonly string[]): Promise<boolean> {
  for (const h of hashes) if (!(await chunks.has(h))) return false;
  return true;
}

function uniqueNames(folders: readonly string[]): Manifest['folders'] {
  const used = new Set<string>();
  return folders.map((p, i) => {
    const base = path.basename(path.resolve(p)) || 'root';
    const name = used.has(base) ? `${base}-${i}` : base;
    used.add(name);
    return { path: path.resolve(p), name };
  });
}

/** Re-reads every chunk a snapshot uses and checks its hash; returns the bad ones. */
export async function verifySnapshot(store: BackupStore, manifest: Manifest): Promise<{ chunks: number; bad: string[] }> {
  const unique = [...new Set(manifest.files.flatMap((f) => f.chunks))];
  const bad: string[] = [];
  for (const h of unique) {
    try {
      await store.chunks.get(h);
    } catch {
      bad.push(h);
    }
  }
  return { chunks: unique.length, bad };
}

/**
 * Applies retention; returns what was removed. While a manifest there is not trusted nothing is pruned (its
 * chunks might be someone's data), and the untrusted ones are returned so the service can say so.
 */
export async function pruneSnapshots(store: BackupStore, keep: number): Promise<{ snapshots: string[]; chunks: number; bytes: number; untrusted: Array<{ id: string; reason: string }> }> {
  const { snapshots, untrusted } = await listSnapshots(store);
  if (untrusted.length) return { snapshots: [], chunks: 0, bytes: 0, untrusted };
  const plan = planRetention(snapshots, await store.chunks.list(), keep);
  for (const id of plan.removeSnapshots) await removeFile(path.join(store.snapshotsDir, `${id}.json`));
  let bytes = 0;
  for (const h of plan.removeChunks) bytes += await store.chunks.remove(h);
  return { snapshots: plan.removeSnapshots, chunks: plan.removeChunks.length, bytes, untrusted };
}
