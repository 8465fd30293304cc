// Taking, listing, verifying and pruning snapshots in a destination folder:
//   <destination>/chunks/ab/<sha256>.gz   content-addressed, compressed, shared by all snapshots
//   <destination>/snapshots/<id>.json     one manifest per snapshot, written atomically after its chunks
// A file whose size, mtime and mode match the previous snapshot and whose chunks are all present is
// not read again; anything else is read, chunked and deduplicated by hash.
import path from 'node:path';
import { readJsonFile, writeJsonAtomic } from '../../system/files.js';
import { createChunkStore, listNames, readFileChunks, walkFiles, type ChunkStore } from '../../system/archive.js';
import { removeFile } from '../../system/files.js';
import { RmError } from '../../protocol/errors.js';
import { createExcluder, ManifestSchema, planRetention, unsafePaths, type Manifest, type ManifestFile } from './manifest.js';

export interface BackupStore {
  chunks: ChunkStore;
  snapshotsDir: string;
}

export function openStore(destination: string): BackupStore {
  return { chunks: createChunkStore(path.join(destination, 'chunks')), snapshotsDir: path.join(destination, 'snapshots') };
}

/** Reads one manifest; a corrupt one, or one whose paths would escape their folder, is refused. */
export async function readManifest(store: BackupStore, id: string): Promise<Manifest> {
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(id)) throw new RmError('BACKUP_SNAPSHOT_MISSING', id.slice(0, 128));
  const r = await readJsonFile(path.join(store.snapshotsDir, `${id}.json`), ManifestSchema);
  if (r.status === 'missing') throw new RmError('BACKUP_SNAPSHOT_MISSING', id);
  if (r.status === 'invalid') throw new RmError('BACKUP_VERIFY_FAILED', `manifest ${id}: ${r.reason}`);
  const unsafe = unsafePaths(r.value);
  if (unsafe.length) throw new RmError('BACKUP_UNSAFE_PATH', `manifest ${id}: ${JSON.stringify(unsafe[0]!.slice(0, 200))}`);
  return r.value;
}

/** All readable manifests, newest first (unreadable ones are skipped and named). */
export async function listSnapshots(store: BackupStore): Promise<{ snapshots: Manifest[]; unreadable: string[] }> {
  const snapshots: Manifest[] = [];
  const unreadable: string[] = [];
  for (const id of await listNames(store.snapshotsDir, '.json')) {
    try {
      snapshots.push(await readManifest(store, id));
    } catch {
      unreadable.push(id);
    }
  }
  return { snapshots: snapshots.sort((a, b) => b.createdAt - a.createdAt), unreadable };
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
    const walk = await walkFiles(folder.path, (rel) => excluded(rel) || skip.has(path.join(folder.path, ...rel.split('/'))));
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
        const read = await readFileChunks(found.abs, async (chunk) => {
          const put = await store.chunks.put(chunk);
          chunks.push(put.hash);
          bytesStored += put.storedBytes;
        });
        bytesRead += read.bytes;
        entries[i] = { folder: index, path: found.rel, mode: found.mode, mtimeMs: found.mtimeMs, size: read.bytes, sha256: read.sha256, chunks };
      } catch {
        skipped++; // vanished or unreadable since the walk
      }
    });
    for (const e of entries) if (e) files.push(e);
  }
  const manifest: Manifest = {
    format: 1,
    id: req.id,
    createdAt: started,
    actor: req.actor,
    folders,
    files,
    stats: { files: files.length, bytesRead, bytesStored, durationMs: Math.max(0, req.now() - started), skipped },
  };
  await store.chunks.flush();
  await writeJsonAtomic(path.join(store.snapshotsDir, `${manifest.id}.json`), manifest);
  return manifest;
}

// A few files at once overlap fsync latency and use zlib's thread pool; the manifest keeps walk order.
const FILES_IN_FLIGHT = 4;

async function forEachBounded<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

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

/** Applies retention; returns what was removed. Unreadable manifests are left alone (and their chunks kept). */
export async function pruneSnapshots(store: BackupStore, keep: number): Promise<{ snapshots: string[]; chunks: number; bytes: number }> {
  const { snapshots, unreadable } = await listSnapshots(store);
  if (unreadable.length) return { snapshots: [], chunks: 0, bytes: 0 };
  const plan = planRetention(snapshots, await store.chunks.list(), keep);
  for (const id of plan.removeSnapshots) await removeFile(path.join(store.snapshotsDir, `${id}.json`));
  let bytes = 0;
  for (const h of plan.removeChunks) bytes += await store.chunks.remove(h);
  return { snapshots: plan.removeSnapshots, chunks: plan.removeChunks.length, bytes };
}
