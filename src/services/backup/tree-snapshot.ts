// Taking, listing, checking and pruning format-3 snapshots (repo.ts, tree.ts). The walk goes folder by folder,
// depth first, by real paths (never through a link: each folder is opened O_NOFOLLOW, checked to be the one its
// parent listed, and on Linux listed and lstat'ed through /proc/self/fd/N); each folder becomes one tree blob. A file whose size, mtime
// and inode match the previous snapshot's entry (and whose chunks are all in the repository) is not read again;
// anything else is read through safe-files (the very file the walk saw), cut into content-defined chunks and
// stored once. Hard links are recorded as such (the first path holds the content), symbolic links and FIFOs by
// what they are; sockets and devices are skipped and listed with their paths. The walk and the reads are blocking
// calls on the job's own thread (fsBlocking: a hand-off to libuv's thread pool per call cost more than the call),
// with a turn of the event loop every so often for the heartbeat; packs are still written on the thread pool.
import path from 'node:path';
import type { BigIntStats } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { fsBlocking as fs } from '../../system/fs-async.js';
import { createHash } from 'node:crypto';
import { Chunker } from '../../system/cdc.js';
import { openFolder, openRegularFile, readRegularFile, resolveTrustedPath, stillFolder, type FileIdentity, type OpenedFolder } from '../../system/safe-files.js';
import { removeFile, writeFileAtomic } from '../../system/files.js';
import { RmError } from '../../protocol/errors.js';
import { createExcluder } from './manifest.js';
import { blobId, ensureRepoFolders, MAX_TREE_BYTES, type Repository } from './repo.js';
import { decodeTree, encodeTree, entryProblem, isFolderName, isTreeName, MAX_SKIPPED_LISTED, sealRecord, SnapshotRecordSchema, unsealRecord, type SnapshotRecord, type Tree, type TreeEntry } from './tree.js';
import { eventLoopTurns } from './turns.js';
import { forEachBounded } from '../../system/bounded.js';

const READ_BYTES = 1024 * 1024;
const FILES_IN_FLIGHT = 4;
const STATS_IN_FLIGHT = 32;
const SNAPSHOT_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_RECORD_BYTES = 1024 * 1024;
const TURN_EVERY_MS = 100;
/** What no entry's JSON is shorter than, beyond its name and link target (`{"name":"","type":"fifo","mode":0,…}`). */
const ENTRY_MIN_BYTES = 60;
const TREE_FRAME_BYTES = Buffer.byteLength(encodeTree([]));
const TOO_LARGE = 'folder too large for one tree (not backed up)';

export interface TreeSnapshotRequest {
  folders: readonly string[];
  exclude: readonly string[];
  actor: string | null;
  id: string;
  now: () => number;
  /** Absolute real paths never backed up (the destination). */
  skip?: readonly string[];
  onWarning?: (message: string) => void;
}

interface Walk {
  repo: Repository;
  excluded: (rel: string, isDir: boolean) => boolean;
  skip: Set<string>;
  files: number;
  dirs: number;
  bytesRead: number;
  skipped: Array<{ path: string; reason: string }>;
  skippedCount: number;
  /** dev:ino -> first path (relative to the folder) of a file with several links. */
  links: Map<string, string>;
  /** Read buffers and chunkers free for the next file (one per file in flight, reused). */
  readers: Array<{ buffer: Buffer; chunker: Chunker }>;
  turn: () => Promise<void>;
}

const snapsDir = (repo: Repository) => path.join(repo.root, 'snaps');

export async function takeTreeSnapshot(repo: Repository, req: TreeSnapshotRequest, previous: SnapshotRecord | null): Promise<SnapshotRecord> {
  await ensureRepoFolders(repo.root);
  const started = req.now();
  const excluded = createExcluder(req.exclude);
  const walk: Walk = { repo, excluded, skip: new Set((req.skip ?? []).map((p) => path.resolve(p))), files: 0, dirs: 0, bytesRead: 0, skipped: [], skippedCount: 0, links: new Map(), readers: [], turn: eventLoopTurns(TURN_EVERY_MS) };
  const storedBefore = repo.stats.bytesStored;
  const folders: SnapshotRecord['folders'] = [];
  const used = new Set<string>();
  for (const [i, p] of req.folders.entries()) {
    const abs = path.resolve(p);
    const base = path.basename(abs) || 'root';
    // A second folder of the same name gets its index (cut on a code point so it stays one name of <= 255 units).
    const name = used.has(base) ? `${cutName(base, 248)}-${i}` : base;
    if (!isFolderName(name)) {
      skip(walk, abs, 'folder name cannot be recorded (a restore would refuse it)');
      continue;
    }
    used.add(name);
    let real: string;
    let rootStat: BigIntStats;
    try {
      real = await resolveTrustedPath(abs);
      rootStat = await fs.lstat(real, { bigint: true });
      if (!rootStat.isDirectory()) throw new Error('not a folder');
    } catch (err) {
      req.onWarning?.(`folder ${abs} left out: ${(err as Error).message}`);
      skip(walk, abs, (err as Error).message);
      continue;
    }
    // The walk skips the destination where it meets it below a folder; a folder that is the destination or lies
    // inside it would back the repository up into itself (every run storing all earlier ones again).
    const into = [...walk.skip].find((d) => within(real, d));
    if (into !== undefined) {
      const reason = `is the backup destination or inside it (${into.slice(0, 1000)}): never backed up into itself; take it out of the policy's folders or choose another destination`;
      req.onWarning?.(`folder ${abs} left out: ${reason}`);
      skip(walk, abs, reason);
      continue;
    }
    const before = previous?.folders.find((f) => f.path === abs)?.tree ?? null;
    walk.links = new Map();
    const root = { mode: perm(rootStat), uid: Number(rootStat.uid), gid: Number(rootStat.gid), mtimeNs: nsOf(rootStat) };
    folders.push({ path: abs, name, tree: await backupFolder(walk, real, '', before, rootStat), root });
  }
  if (!folders.length) throw new RmError('SERVICE_FAILED', `no folder could be read: ${walk.skipped.map((s) => `${s.path} (${s.reason})`).join('; ').slice(0, 1000)}`);
  await repo.commit();
  const record: SnapshotRecord = {
    format: 3,
    id: req.id,
    createdAt: started,
    actor: req.actor,
    folders,
    stats: { files: walk.files, dirs: walk.dirs, bytesRead: walk.bytesRead, bytesStored: repo.stats.bytesStored - storedBefore, durationMs: Math.max(0, req.now() - started), skipped: walk.skippedCount },
    skippedPaths: walk.skipped,
  };
  // The record is read back with this schema: never write one that every later read would refuse.
  const checked = SnapshotRecordSchema.safeParse(record);
  if (!checked.success) throw new RmError('SERVICE_FAILED', `snapshot record not written, it would not be readable: ${checked.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).slice(0, 3).join('; ')}`);
  await writeFileAtomic(path.join(snapsDir(repo), record.id), sealRecord(repo.keys.mac, record));
  return record;
}

/** Whether `p` is `dir` or inside it (real, absolute paths; Windows compares without case). */
function within(p: string, dir: string): boolean {
  const [a, b] = process.platform === 'win32' ? [p.toLowerCase(), dir.toLowerCase()] : [p, dir];
  return a === b || a.startsWith(b.endsWith(path.sep) ? b : b + path.sep);
}

/** `name` cut to at most `units` UTF-16 code units, never inside a surrogate pair. */
function cutName(name: string, units: number): string {
  let out = '';
  for (const ch of name) {
    if (out.length + ch.length > units) break;
    out += ch;
  }
  return out;
}

function skip(walk: Walk, p: string, reason: string): void {
  walk.skippedCount++;
  if (walk.skipped.length < MAX_SKIPPED_LISTED) walk.skipped.push({ path: p.slice(0, 4096), reason: reason.slice(0, 512) });
}

async function readTree(repo: Repository, id: string | null | undefined): Promise<Tree | null> {
  if (!id || !repo.has(id)) return null;
  try {
    return decodeTree(await repo.read(id));
  } catch {
    return null; // a damaged previous tree only costs a full read of that folder
  }
}

const nsOf = (st: BigIntStats) => st.mtimeNs.toString();
const perm = (st: BigIntStats) => Number(st.mode & 0o7777n);

interface Listing {
  names: string[];
  stats: Array<BigIntStats | null>;
  /** Link targets (by index), or why one could not be read. */
  targets: Array<string | Error | undefined>;
}

/**
 * The folder's entry names (sorted), their lstat and their link targets, read through the very folder the walk
 * saw (`seen`): safe-files openFolder (O_NOFOLLOW|O_DIRECTORY, its identity checked; Linux: listed through
 * /proc/self/fd/N; elsewhere its identity checked again after the listing). A folder swapped for a link, or for
 * another folder, is left out and listed: the walk never lists what a link points to.
 */
async function listFolder(walk: Walk, abs: string, seen: FileIdentity): Promise<Listing> {
  const listing: Listing = { names: [], stats: [], targets: [] };
  let opened: OpenedFolder;
  try {
    opened = await openFolder(abs, seen, fs);
  } catch (err) {
    skip(walk, abs, `folder not read: ${(err as Error).message}`);
    return listing;
  }
  try {
    let listed: Buffer[];
    try {
      listed = await fs.readdir(opened.at, { encoding: 'buffer' });
    } catch (err) {
      skip(walk, abs, `folder not readable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return listing;
    }
    // Names as bytes: one that is not UTF-8 (Latin-1 from an old system or an archive) would come back with U+FFFD,
    // be found by no lstat and be left out as if deleted. Trees hold strings: it is left out, and said why.
    const names = listing.names;
    for (const raw of listed) {
      if (isUtf8(raw)) names.push(raw.toString('utf8'));
      else skip(walk, path.join(abs, raw.toString('utf8')), `name is not valid UTF-8 (not backed up): bytes ${raw.toString('hex').slice(0, 400)}`);
    }
    names.sort();
    // lstat of a folder's names in parallel (bounded): most of a small-file tree's time is these round trips.
    listing.stats = new Array<BigIntStats | null>(names.length).fill(null);
    listing.targets = new Array<string | Error | undefined>(names.length).fill(undefined);
    await forEachBounded(names, STATS_IN_FLIGHT, async (name, i) => {
      const st = (listing.stats[i] = await fs.lstat(path.join(opened.at, name), { bigint: true }).catch(() => null));
      if (st?.isSymbolicLink()) listing.targets[i] = await fs.readlink(path.join(opened.at, name)).catch((err: unknown) => err as Error);
    });
    if (!opened.pinned && !(await stillFolder(abs, seen, fs))) {
      skip(walk, abs, 'folder not read: it was replaced while it was listed');
      return { names: [], stats: [], targets: [] };
    }
    return listing;
  } finally {
    await opened.handle?.close();
  }
}

/** Backs up the folder `abs` (real, the folder `seen`) as `rel` of its snapshot folder; returns its tree id. */
async function backupFolder(walk: Walk, abs: string, rel: string, previousTree: string | null, seen: FileIdentity): Promise<string> {
  walk.dirs++;
  // The previous tree and the listing at once: a folder costs one round trip less (2,000 folders: seconds under load).
  const [prev, { names, stats, targets }] = await Promise.all([readTree(walk.repo, previousTree), listFolder(walk, abs, seen)]);
  const before = new Map((prev?.entries ?? []).map((e) => [e.name, e]));
  const entries: Array<TreeEntry | null> = new Array<TreeEntry | null>(names.length).fill(null);
  const reads: Array<() => Promise<void>> = [];
  // A tree over MAX_TREE_BYTES is refused by every read (the whole snapshot would not restore): once what is
  // certain to be in this tree (a lower bound of each entry's size) passes it, the rest of the folder is left out
  // unread; the exact size is checked below, once its files are read.
  let atLeast = TREE_FRAME_BYTES;
  for (const [i, name] of names.entries()) {
    if (atLeast > MAX_TREE_BYTES) {
      for (const rest of names.slice(i)) skip(walk, path.join(abs, rest), TOO_LARGE);
      break;
    }
    await walk.turn();
    const st = stats[i];
    const childRel = rel ? `${rel}/${name}` : name;
    const childAbs = path.join(abs, name);
    if (!isTreeName(name)) {
      skip(walk, childAbs, 'name cannot be recorded (a restore would refuse it)');
      continue;
    }
    if (!st) {
      skip(walk, childAbs, 'vanished');
      continue;
    }
    if (walk.skip.has(childAbs)) continue;
    const meta = { name, mode: perm(st), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: nsOf(st) };
    const entryAtLeast = ENTRY_MIN_BYTES + name.length;
    if (st.isDirectory()) {
      if (walk.excluded(childRel, true)) continue;
      const prevEntry = before.get(name);
      entries[i] = { ...meta, type: 'dir', tree: await backupFolder(walk, childAbs, childRel, prevEntry?.type === 'dir' ? (prevEntry.tree ?? null) : null, st) };
      atLeast += entryAtLeast;
    } else if (st.isSymbolicLink()) {
      if (walk.excluded(childRel, false)) continue;
      const target = targets[i];
      if (typeof target === 'string') {
        entries[i] = { ...meta, type: 'symlink', target };
        atLeast += entryAtLeast + target.length;
      } else skip(walk, childAbs, `link not readable: ${target?.message ?? 'unknown'}`);
    } else if (st.isFIFO()) {
      if (walk.excluded(childRel, false)) continue;
      entries[i] = { ...meta, type: 'fifo' };
      atLeast += entryAtLeast;
    } else if (st.isFile()) {
      if (walk.excluded(childRel, false)) continue;
      walk.files++;
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1n ? walk.links.get(key) : undefined;
      if (st.nlink > 1n && !first) walk.links.set(key, childRel);
      const prevEntry = before.get(name);
      atLeast += entryAtLeast;
      const base: TreeEntry = { ...meta, type: 'file', ino: st.ino.toString(), size: Number(st.size), ...(st.blocks * 512n < st.size ? { sparse: true as const } : {}), ...(first ? { link: first } : {}) };
      if (prevEntry?.type === 'file' && prevEntry.size === Number(st.size) && prevEntry.mtimeNs === meta.mtimeNs && prevEntry.ino === base.ino && prevEntry.chunks!.every((c) => walk.repo.has(c))) {
        entries[i] = { ...base, sha256: prevEntry.sha256!, chunks: prevEntry.chunks! };
        continue;
      }
      reads.push(async () => {
        try {
          const read = await storeFile(walk, childAbs, st);
          entries[i] = { ...base, size: read.size, mode: read.mode, mtimeNs: read.mtimeNs, sha256: read.sha256, chunks: read.chunks };
        } catch (err) {
          walk.files--;
          skip(walk, childAbs, `not read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
      });
    } else {
      skip(walk, childAbs, st.isSocket() ? 'socket' : st.isCharacterDevice() || st.isBlockDevice() ? 'device' : 'special file');
    }
  }
  await forEachBounded(reads, FILES_IN_FLIGHT, (read) => read());
  // Every read of this tree parses it with TreeSchema: an entry it would refuse (entryProblem, the schema's own
  // predicates) is left out and listed, so one odd entry never makes the folder, and with it the whole snapshot,
  // unrestorable.
  const kept = entries.filter((e): e is TreeEntry => {
    if (e === null) return false;
    const problem = entryProblem(e);
    if (problem) skip(walk, path.join(abs, e.name), `not recorded, a restore would refuse it: ${problem}`);
    return problem === null;
  });
  let tree = encodeTree(kept);
  if (tree.length > MAX_TREE_BYTES) tree = encodeTree(fitTree(walk, abs, rel, kept));
  const id = blobId(tree);
  await walk.repo.add('tree', id, tree);
  return id;
}

/**
 * The first of `entries` (name order) whose tree fits in MAX_TREE_BYTES; the others are left out and listed (a
 * folder of very many or very long entries, or a file so large its chunk list alone passes the limit).
 */
function fitTree(walk: Walk, abs: string, rel: string, entries: TreeEntry[]): TreeEntry[] {
  let size = TREE_FRAME_BYTES;
  let fit = 0;
  for (const e of entries) {
    const more = Buffer.byteLength(JSON.stringify(e)) + (fit ? 1 : 0);
    if (size + more > MAX_TREE_BYTES) break;
    size += more;
    fit++;
  }
  const left = new Set<string>();
  for (const e of entries.slice(fit)) {
    if (e.type === 'file') walk.files--;
    left.add(rel ? `${rel}/${e.name}` : e.name);
    skip(walk, path.join(abs, e.name), TOO_LARGE);
  }
  // A later hard link of a file left out must hold the content itself (a link to a path not in the snapshot would not restore).
  for (const [key, first] of walk.links) if (left.has(first)) walk.links.delete(key);
  return entries.slice(0, fit);
}

/** Reads one regular file (the one the walk saw) into content-defined chunks; its stat comes from the handle. */
async function storeFile(walk: Walk, abs: string, seen: BigIntStats): Promise<{ size: number; sha256: string; chunks: string[]; mode: number; mtimeNs: string }> {
  const { handle, stat } = await openRegularFile(abs, { dev: seen.dev, ino: seen.ino }, fs);
  const whole = createHash('sha256');
  const chunks: string[] = [];
  let size = 0;
  const put = async (chunk: Buffer) => {
    const id = blobId(chunk);
    chunks.push(id);
    await walk.repo.add('data', id, chunk);
  };
  // One read buffer and one chunker per file in flight, reused from file to file (no allocation per file).
  const reader = walk.readers.pop() ?? { buffer: Buffer.allocUnsafe(READ_BYTES), chunker: new Chunker(walk.repo.chunker) };
  // The first block goes into the whole-file hash only when a second one follows: a file read in one block and
  // cut into one chunk (most files) has that chunk's id as its sha256, so its bytes are hashed once, not twice.
  let first: Buffer | null = null;
  try {
    reader.chunker.reset();
    for (let end = false; !end; ) {
      if (first) {
        whole.update(first);
        first = null;
      }
      // Sized to the file: a small file asks for its size + 1 (a short read is its end); one that grew, for more.
      const left = Number(stat.size) - size;
      const want = left >= 0 ? Math.min(READ_BYTES, Math.max(4096, left + 1)) : READ_BYTES;
      await walk.turn();
      const { bytesRead } = await handle.read(reader.buffer, 0, want, null);
      const data = reader.buffer.subarray(0, bytesRead);
      end = bytesRead < want; // a regular file reads short only at its end
      if (size === 0) first = data;
      else whole.update(data);
      size += bytesRead;
      await reader.chunker.feed(data, put, end);
    }
  } finally {
    await handle.close();
    // A reader keeps at most its read buffer's size of chunk buffer: after the large files, up to 8 MiB each.
    reader.chunker.shrink(READ_BYTES);
    walk.readers.push(reader);
  }
  walk.bytesRead += size;
  const sha256 = first && chunks.length === 1 ? chunks[0]! : (first ? whole.update(first) : whole).digest('hex');
  return { size, sha256, chunks, mode: Number(stat.mode & 0o7777n), mtimeNs: stat.mtimeNs.toString() };
}

// ---- listing, reading ---------------------------------------------------------------------------------

export async function readRecord(repo: Repository, id: string): Promise<SnapshotRecord> {
  if (!SNAPSHOT_ID.test(id)) throw new RmError('BACKUP_SNAPSHOT_MISSING', id.slice(0, 128));
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(path.join(snapsDir(repo), id), MAX_RECORD_BYTES);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new RmError('BACKUP_SNAPSHOT_MISSING', id);
    throw new RmError('BACKUP_MANIFEST_UNTRUSTED', `snapshot ${id}: ${(err as Error).message}`);
  }
  const unsealed = unsealRecord(repo.keys.mac, bytes, id);
  if (!unsealed.ok) throw new RmError('BACKUP_MANIFEST_UNTRUSTED', `snapshot ${id}: ${unsealed.reason}`);
  return unsealed.record;
}

export async function listRecords(repo: Repository): Promise<{ records: SnapshotRecord[]; untrusted: Array<{ id: string; reason: string }> }> {
  const records: SnapshotRecord[] = [];
  const untrusted: Array<{ id: string; reason: string }> = [];
  for (const id of (await fs.readdir(snapsDir(repo)).catch(() => [] as string[])).filter((n) => !n.startsWith('.'))) {
    try {
      records.push(await readRecord(repo, id));
    } catch (err) {
      untrusted.push({ id: id.slice(0, 128), reason: (err as Error).message });
    }
  }
  return { records: records.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1)), untrusted };
}

/** Every blob a snapshot needs (its trees and their chunks), each tree read and checked once. */
export async function reachable(repo: Repository, records: readonly SnapshotRecord[]): Promise<Set<string>> {
  const seen = new Set<string>();
  const visit = async (treeId: string): Promise<void> => {
    if (seen.has(treeId)) return;
    seen.add(treeId);
    const tree = decodeTree(await repo.read(treeId));
    for (const e of tree.entries) {
      for (const c of e.chunks ?? []) seen.add(c);
      if (e.tree) await visit(e.tree);
    }
  };
  for (const r of records) for (const f of r.folders) await visit(f.tree);
  return seen;
}

/**
 * Retention for format 3: the newest `keep` snapshots stay, the rest go, then packs no kept blob is in. While a
 * snapshot record there is not trusted nothing is pruned (its blobs might be someone's data).
 */
export async function pruneRecords(repo: Repository, keep: number): Promise<{ snapshots: string[]; packs: number; bytes: number; unusedBytes: number; untrusted: Array<{ id: string; reason: string }> }> {
  const { records, untrusted } = await listRecords(repo);
  if (untrusted.length) return { snapshots: [], packs: 0, bytes: 0, unusedBytes: 0, untrusted };
  const kept = records.slice(0, Math.max(1, keep));
  const gone = records.slice(kept.length).map((r) => r.id);
  // Blobs become unused only when a snapshot goes: a run that drops none does not read every kept tree again
  // (about a third of a backup in which nothing changed). unusedBytes is measured on the runs that drop one.
  if (!gone.length) return { snapshots: [], packs: 0, bytes: 0, unusedBytes: 0, untrusted };
  const live = await reachable(repo, kept);
  for (const id of gone) await removeFile(path.join(snapsDir(repo), id));
  const pruned = await repo.prune(live);
  return { snapshots: gone, ...pruned, untrusted };
}

/**
 * Incremental verification: the packs this run wrote, and a share of the others (at least one, chosen at
 * random, so every pack is read now and then); `percent` 100 checks everything.
 */
export async function verifyRepository(repo: Repository, percent: number, random: () => number = Math.random): Promise<{ packs: number; blobs: number; bytes: number; bad: number }> {
  const fresh = new Set(repo.stats.packsWritten);
  const older = [...repo.packs()].filter((p) => !fresh.has(p));
  const share = percent >= 100 ? older.length : Math.min(older.length, Math.max(older.length ? 1 : 0, Math.ceil((older.length * percent) / 100)));
  for (let i = older.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [older[i], older[j]] = [older[j]!, older[i]!];
  }
  const result = await repo.checkPacks([...fresh, ...older.slice(0, share)]);
  return { packs: result.packs, blobs: result.blobs, bytes: result.bytes, bad: result.bad.length };
}
