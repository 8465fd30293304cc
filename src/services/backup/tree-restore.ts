// Restoring a format-3 snapshot: every tree is checked first (a path that would leave its folder refuses the whole
// restore before anything is written), then restored one folder at a time, depth first in the order the backup
// walked it: folders are made one by one without following a link, files go through safe-files' exclusive random
// temp names (each chunk checked against its id as it is read, the file's sha256 taken over the bytes written and
// its size through the handle, before it takes its name), and symbolic links, hard links and FIFOs are made under
// such a temp name and renamed into place. Each entry gets its mtime and, when the agent runs as root, its owner;
// a folder once everything in it is written. Setuid, setgid and sticky bits are never set. Files recorded sparse
// are written with holes where their content is zeros. Everything runs on the job's own thread, one file after
// another (fsBlocking: the job serves nothing else, and a hand-off to libuv's thread pool per file operation cost
// more than the operations), with a turn of the event loop every so often for the job's heartbeat.
import path from 'node:path';
import { fsBlocking as fs } from '../../system/fs-async.js';
import { createHash } from 'node:crypto';
import { chainUnchanged, makeFolders, openFolder, resolveTrustedPath, sameIdentity, setFifoMetadata, setFolderMetadata, tempNameFor, writeFileInFolder, type ChainLink, type EntryMetadata, type FileIdentity } from '../../system/safe-files.js';
import { RmError } from '../../protocol/errors.js';
import { selectedForRestore } from './manifest.js';
import type { Repository } from './repo.js';
import { decodeTree, isTreePath, MAX_SKIPPED_LISTED, nameProblemOn, type SnapshotRecord, type Tree, type TreeEntry } from './tree.js';
import type { RestoreOptions } from './restore.js';
import { createCommandRunner } from '../../system/exec.js';
import { createBufferCollector } from '../../system/idle-gc.js';
import { eventLoopTurns } from './turns.js';
import { timeArg } from './times.js';

const NEW_FOLDER_MODE = 0o700;
const TURN_EVERY_MS = 100;
// What reads leave to collect (decrypted copies) between two young-generation collections: 4 MiB rather than 16
// lowered the bench restore's peak by ~5 MB (126-129 against 131-135 MB, three interleaved one-offs), same time.
const WRITTEN_BETWEEN_COLLECTIONS = 4 * 1024 * 1024;
const MAX_ENTRIES = 10_000_000;
const EMPTY_SHA256 = createHash('sha256').digest('hex');

export interface TreeRestoreResult {
  snapshot: string;
  files: number;
  bytes: number;
  verified: number;
  target: string | null;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  fifos: number;
  /** Entries this platform cannot recreate under their name (Windows: `\`, `:`...), left out; the first 100 listed. */
  skipped: number;
  skippedPaths: Array<{ path: string; reason: string }>;
}


/** What one restore shares while it walks the snapshot's trees. */
interface Run {
  repo: Repository;
  asRoot: boolean;
  turn: () => Promise<void>;
  chunkDone: (bytes: number) => void;
  result: TreeRestoreResult;
  /** Files other entries hard-link to (`${base}\0${rel}`): only these are remembered once written. */
  linkSources: Set<string>;
  written: Map<string, Written>;
}

/** A restored file other entries hard-link to: where it is, what it is, and the folders above it as made. */
interface Written {
  path: string;
  id: FileIdentity;
  chain: readonly ChainLink[];
}

/** One folder being restored: where it is, and its checked chain, made when first needed. */
interface Folder {
  base: string;
  rel: string;
  full: string;
  chain: () => Promise<ChainLink[]>;
}

export async function restoreTreeSnapshot(repo: Repository, record: SnapshotRecord, options: RestoreOptions): Promise<TreeRestoreResult> {
  if (options.target !== null && !path.isAbsolute(options.target)) throw new RmError('BACKUP_UNSAFE_PATH', `restore target must be an absolute path: ${options.target.slice(0, 200)}`);
  // First every tree is read and checked (a path that would leave its folder refuses the whole restore before
  // anything is written), keeping only the names other entries hard-link to; then the trees are read again, one
  // folder at a time, and restored: memory grows with a folder's entries and the depth, not with the snapshot
  // (a plan of every entry held ~560 bytes each: a 1.2 million-file restore ran out of the job's memory).
  const linkSources = new Set<string>();
  const matched = new Set<string>();
  const bases: Array<{ index: number; base: string; entries: number }> = [];
  let total = 0;
  for (const [index, folder] of record.folders.entries()) {
    const base = baseOf(record, index, options);
    if (base === null) throw new RmError('BACKUP_UNSAFE_PATH', `${folder.path.slice(0, 200)} is not a folder of the current policy: restore it to a target`);
    const before = total;
    total = await check(repo, folder.tree, '', base, options.paths, { linkSources, matched, wanted: new Set((options.paths ?? []).map(trimSlashes)) }, total);
    bases.push({ index, base, entries: total - before });
  }
  // A path that names nothing would have restored nothing and reported success (a typo, an absolute path, `./x`).
  const unmatched = (options.paths ?? []).filter((p) => !matched.has(trimSlashes(p)));
  if (unmatched.length) throw new RmError('BACKUP_PATH_NOT_IN_SNAPSHOT', `not in snapshot ${record.id}: ${unmatched.slice(0, 5).map((p) => JSON.stringify(p.slice(0, 200))).join(', ')}`);
  const run: Run = {
    repo,
    asRoot: typeof process.geteuid === 'function' && process.geteuid() === 0,
    turn: eventLoopTurns(TURN_EVERY_MS),
    // A chunk's Buffers are dropped once it is written: collected every so often, when no chunk is held, so the
    // restore's memory stays near one chunk's (a collection while a chunk is held would keep it longer).
    chunkDone: createBufferCollector(WRITTEN_BETWEEN_COLLECTIONS),
    result: { snapshot: record.id, files: 0, bytes: 0, verified: 0, target: options.target, dirs: 0, symlinks: 0, hardlinks: 0, fifos: 0, skipped: 0, skippedPaths: [] },
    linkSources,
    written: new Map(),
  };
  for (const { index, base, entries } of bases) {
    if (entries === 0) continue;
    const real = await resolveTrustedPath(base).catch(unsafe);
    // A folder the restore writes into keeps its own owner and bits unless the restore made it (or it is the policy
    // folder restored in place): a full restore to /tmp, /srv or a mount point must not hand it to the backed-up owner.
    const made = !(await fs.lstat(real).then(() => true, () => false));
    const top: Folder = { base, rel: '', full: real, chain: once(() => makeFolders(real, NEW_FOLDER_MODE, fs).catch(unsafe)) };
    await restoreFolder(run, record.folders[index]!.tree, top, options.paths);
    const root = record.folders[index]!.root;
    if (!options.paths?.length && root && (options.target === null || made)) await setFolderMetadata(await top.chain(), metadataOf(root, run.asRoot), fs).catch(unsafe);
  }
  return run.result;
}

/**
 * Restores the entries of one tree into `folder`, depth first in the order the backup walked them (a hard link's
 * source always comes first). Each folder gets its bits, owner and mtime once everything in it is written (writing
 * into a folder changes its mtime), through a handle on the very folder made (by path, a folder swapped for a link
 * would have made root chown/chmod another one); and also when the restore fails below it, so what was restored
 * stays usable (not root's 0700).
 */
async function restoreFolder(run: Run, treeId: string, folder: Folder, paths: readonly string[] | undefined): Promise<void> {
  const tree = await readTree(run.repo, treeId, folder.rel);
  for (const entry of tree.entries) {
    const rel = folder.rel ? `${folder.rel}/${entry.name}` : entry.name;
    const selected = selectedForRestore(rel, paths);
    const problem = nameProblemOn(entry.name);
    if (problem) {
      if (selected) skipped(run.result, rel, `${problem} (not restored)`);
      continue;
    }
    if (entry.type === 'dir') {
      if (!selected && !leadsTo(rel, paths)) continue;
      await run.turn();
      const full = path.join(folder.full, entry.name);
      const child: Folder = { base: folder.base, rel, full, chain: once(() => makeFolders(full, NEW_FOLDER_MODE, fs).catch(unsafe)) };
      if (!selected) {
        await restoreFolder(run, entry.tree!, child, paths);
        continue;
      }
      const chain = await child.chain();
      run.result.dirs++;
      try {
        await restoreFolder(run, entry.tree!, child, undefined);
      } catch (err) {
        await setFolderMetadata(chain, metadataOf(entry, run.asRoot), fs).catch(() => undefined);
        throw err;
      }
      await setFolderMetadata(chain, metadataOf(entry, run.asRoot), fs).catch(unsafe);
      continue;
    }
    if (!selected) continue;
    await run.turn();
    await restoreEntry(run, folder, entry, rel);
  }
}

/**
 * Hard-links the restored file `source` at `tmp`. link() takes a path: a folder above the source swapped for a
 * link would hard-link another file (a root-only one) here, under a temp name its owner can watch for and take
 * away before any check after the link. On Linux the source is named through its folder's handle
 * (/proc/self/fd/N/name: that very folder, whatever is renamed meanwhile); elsewhere its folders and itself are
 * checked just before. Then the link must show the source's identity (a name swapped inside the folder).
 */
async function linkRestored(source: Written, tmp: string): Promise<void> {
  const folder = await openFolder(path.dirname(source.path), source.chain[source.chain.length - 1]!, fs).catch((err: { code?: string; message?: string }) => {
    throw err.code === 'UNSAFE_PATH' || err.code === 'FILE_CHANGED' ? new RmError('BACKUP_UNSAFE_PATH', `${source.path}: ${err.message}`) : err;
  });
  try {
    if (!folder.pinned) {
      const before = await fs.lstat(source.path, { bigint: true }).catch(() => null);
      if (!before || !sameIdentity(before, source.id) || !(await chainUnchanged(source.chain, fs))) throw new RmError('BACKUP_UNSAFE_PATH', `${source.path} was moved or replaced during the restore`);
    }
    await fs.link(folder.pinned ? `${folder.at}/${path.basename(source.path)}` : source.path, tmp);
  } finally {
    await folder.handle?.close();
  }
  const made = await fs.lstat(tmp, { bigint: true }).catch(() => null);
  if (!made || !sameIdentity(made, source.id)) throw new RmError('BACKUP_UNSAFE_PATH', `${made ? `${source.path} was replaced` : `${tmp} was taken away`} during the restore`);
}

async function restoreEntry(run: Run, folder: Folder, e: TreeEntry, rel: string): Promise<void> {
  const { result, written, asRoot } = run;
  const chain = await folder.chain();
  const key = `${folder.base}\0${rel}`;
  const name = e.name;
  const dir = folder.full;
  if (e.type === 'file') {
    const source = e.link ? written.get(`${folder.base}\0${e.link}`) : undefined;
    if (source) {
      await placeSpecial(chain, dir, name, rel, (tmp) => linkRestored(source, tmp));
      if (run.linkSources.has(key)) written.set(key, source);
      result.hardlinks++;
      result.files++;
      return;
    }
    // Its content (a hard link whose source was not restored is written in full).
    const id = await writeContent(run, chain, e, rel);
    if (run.linkSources.has(key)) written.set(key, { path: path.join(dir, name), id, chain });
    result.files++;
    result.verified++;
    result.bytes += e.size!;
  } else if (e.type === 'symlink') {
    await placeSpecial(chain, dir, name, rel, (tmp) => fs.symlink(e.target!, tmp), { entry: e, meta: metadataOf(e, asRoot) });
    result.symlinks++;
  } else if (e.type === 'fifo') {
    // Node has no mkfifo(3): the system's mkfifo(1), no shell.
    await placeSpecial(chain, dir, name, rel, async (tmp) => {
      const made = await createCommandRunner().run('mkfifo', ['-m', '600', tmp]);
      if (made.code !== 0) throw new RmError('SERVICE_FAILED', `mkfifo ${tmp}: ${made.error ?? made.stderr.trim().slice(0, 200)}`);
    }, { entry: e, meta: metadataOf(e, asRoot) });
    result.fifos++;
  }
}

/** Writes a file's chunks under its name in the folder of `chain`; returns the written file's identity. */
async function writeContent(run: Run, chain: readonly ChainLink[], e: TreeEntry, rel: string): Promise<FileIdentity> {
  const { repo, chunkDone } = run;
  // The file's sha256 is taken over the very bytes handed to the writes (each chunk was checked against its id
  // when read); a file of one chunk has that chunk's id as its sha256, so its bytes are not hashed twice.
  const whole = e.chunks!.length === 1 ? null : createHash('sha256');
  // The same chunk again (a run of zeros in a disk image cut at the largest size) is decoded once.
  let previous: { id: string; chunk: Buffer } | null = null;
  let dropped = 0;
  const next = async (id: string) => {
    const again = previous?.id === id;
    // Valid until the next read: written (and hashed) before this generator is asked for the next chunk.
    const chunk = again ? previous!.chunk : await repo.readTransient(id);
    previous = { id, chunk };
    whole?.update(chunk);
    // What the read left to collect: the decrypted copy (the chunk itself when it was stored as it is).
    dropped = again ? 0 : (repo.location(id)?.length ?? chunk.length);
    return chunk;
  };
  const chunks = (async function* () {
    for (const id of e.chunks!) {
      yield await next(id); // held nowhere here once written
      chunkDone(dropped);
    }
  })();
  try {
    return await writeFileInFolder(chain, e.name, chunks, {
      mode: e.mode,
      mtimeSec: timeArg(e.mtimeNs),
      sparse: e.sparse === true,
      durable: false,
      fs,
      ...(run.asRoot ? { owner: { uid: e.uid, gid: e.gid } } : {}),
      verify: async (_handle, stat) => {
        const written = whole ? whole.digest('hex') : (e.chunks![0] ?? EMPTY_SHA256);
        if (written !== e.sha256 || Number(stat.size) !== e.size) throw Object.assign(new Error(`${e.name}: written bytes differ from the backup`), { code: 'CHUNK_CORRUPT' });
      },
    });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'UNSAFE_PATH') throw new RmError('BACKUP_UNSAFE_PATH', (err as Error).message);
    if (code === 'CHUNK_CORRUPT' || code === 'ENOENT') throw new RmError('BACKUP_VERIFY_FAILED', `${rel}: ${(err as Error).message}`);
    throw conflictOr(err, rel);
  }
}

function metadataOf(entry: { uid: number; gid: number; mode: number; mtimeNs: string }, asRoot: boolean): EntryMetadata {
  return { ...(asRoot ? { owner: { uid: entry.uid, gid: entry.gid } } : {}), mode: entry.mode, mtimeSec: timeArg(entry.mtimeNs) };
}

/** Something else standing where an entry goes (a folder where the backup has a file...) is named, with a code. */
function conflictOr(err: unknown, rel: string): unknown {
  const code = (err as { code?: string }).code;
  if (code === 'EISDIR' || code === 'ENOTDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
    return new RmError('BACKUP_RESTORE_CONFLICT', `${rel.slice(0, 300)}: ${(err as Error).message.slice(0, 300)}`);
  }
  return err;
}

/**
 * Creates something under a random name in a checked folder, applies its metadata, then renames it over `name`.
 * Anyone who can list the folder sees the temp name: a FIFO's metadata goes through a handle on it; a link's own
 * owner and times (lchown, lutimes: never followed) only after lstat shows a link with one name there.
 */
async function placeSpecial(chain: readonly ChainLink[], dir: string, name: string, rel: string, create: (tmp: string) => Promise<void>, special?: { entry: TreeEntry; meta: EntryMetadata }): Promise<void> {
  const tmp = path.join(dir, tempNameFor(name));
  if (!(await chainUnchanged(chain, fs))) throw new RmError('BACKUP_UNSAFE_PATH', `a folder above ${path.join(dir, name)} changed`);
  try {
    await create(tmp);
    if (special?.entry.type === 'fifo') await setFifoMetadata(chain, tmp, special.meta, fs).catch(unsafe);
    else if (special) {
      const st = await fs.lstat(tmp, { bigint: true });
      if (!st.isSymbolicLink() || st.nlink !== 1n) throw new RmError('BACKUP_UNSAFE_PATH', `${tmp} was replaced during the restore`);
      if (special.meta.owner) await fs.lchown(tmp, special.meta.owner.uid, special.meta.owner.gid);
      await fs.lutimes(tmp, special.meta.mtimeSec, special.meta.mtimeSec);
    }
    if (!(await chainUnchanged(chain, fs))) throw new RmError('BACKUP_UNSAFE_PATH', `a folder above ${path.join(dir, name)} changed`);
    await fs.rename(tmp, path.join(dir, name));
  } catch (err) {
    await fs.unlink(tmp).catch(() => undefined);
    throw conflictOr(err, rel);
  }
}

function baseOf(record: SnapshotRecord, index: number, options: RestoreOptions): string | null {
  const f = record.folders[index]!;
  if (options.target) return record.folders.length === 1 ? options.target : path.join(options.target, f.name);
  const original = options.policyFolders.find((p) => path.resolve(p) === path.resolve(f.path));
  return original === undefined ? null : path.resolve(original);
}

const trimSlashes = (p: string) => p.replace(/^\/+|\/+$/g, '');

/** Whether a folder that is not selected itself holds a selected path below it. */
function leadsTo(rel: string, paths: readonly string[] | undefined): boolean {
  return (paths ?? []).some((p) => trimSlashes(p).startsWith(`${rel}/`));
}

/** A tree read back and parsed; what is not what this agent writes refuses the restore. */
async function readTree(repo: Repository, treeId: string, rel: string): Promise<Tree> {
  let bytes: Buffer;
  try {
    bytes = await repo.read(treeId);
  } catch (err) {
    throw new RmError('BACKUP_VERIFY_FAILED', `folder ${rel || '.'}: ${(err as Error).message}`);
  }
  try {
    return decodeTree(bytes);
  } catch (err) {
    // Stored and sealed like ours, but not what this agent writes (a name that climbs out, a missing field).
    throw new RmError('BACKUP_MANIFEST_UNTRUSTED', `folder ${rel || '.'}: ${(err as Error).message.slice(0, 300)}`);
  }
}

/**
 * Checks every tree the restore will write from (the same walk as restoreFolder, nothing kept but the names other
 * entries hard-link to); returns the running count of selected entries.
 */
async function check(repo: Repository, treeId: string, rel: string, base: string, paths: readonly string[] | undefined, seen: { linkSources: Set<string>; matched: Set<string>; wanted: Set<string> }, count: number): Promise<number> {
  const tree = await readTree(repo, treeId, rel);
  for (const entry of tree.entries) {
    const childRel = rel ? `${rel}/${entry.name}` : entry.name;
    const selected = selectedForRestore(childRel, paths);
    // Against every path asked for, also below a selected folder (`2024` and `2024/secret.txt` both exist).
    if (seen.wanted.has(childRel)) seen.matched.add(childRel);
    if (entry.type === 'dir' && !selected && !leadsTo(childRel, paths)) continue;
    if (!selected && entry.type !== 'dir') continue;
    if (selected) {
      if (++count > MAX_ENTRIES) throw new RmError('BACKUP_UNSAFE_PATH', `more than ${MAX_ENTRIES} entries`);
      // Names the walk stores (a '\\' is a plain character on POSIX), each one plain name: nothing climbs out.
      if (!isTreePath(childRel)) throw new RmError('BACKUP_UNSAFE_PATH', JSON.stringify(childRel.slice(0, 200)));
      if (entry.type === 'file' && entry.link) seen.linkSources.add(`${base}\0${entry.link}`);
    }
    if (entry.type === 'dir') count = await check(repo, entry.tree!, childRel, base, selected ? undefined : paths, seen, count);
  }
  return count;
}

function skipped(result: TreeRestoreResult, rel: string, reason: string): void {
  result.skipped++;
  if (result.skippedPaths.length < MAX_SKIPPED_LISTED) result.skippedPaths.push({ path: rel.slice(0, 4096), reason: reason.slice(0, 512) });
}

/** `make` run at most once; later calls get its promise. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}


function unsafe(err: unknown): never {
  if ((err as { code?: string }).code === 'UNSAFE_PATH') throw new RmError('BACKUP_UNSAFE_PATH', (err as Error).message);
  throw err;
}
