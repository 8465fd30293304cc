// Restoring a format-3 snapshot: every path is planned first (one that would leave its folder refuses the whole
// restore before anything is written), folders are made one by one without following a link, files go through
// safe-files' exclusive random temp names (each chunk checked against its id as it is read, the file's sha256 taken
// over the bytes written and its size through the handle, before it takes its name) and symbolic links, hard links and FIFOs are made under such a temp name and renamed into place. Then each
// entry gets its mtime and, when the agent runs as root, its owner; folders last, deepest first. Setuid, setgid
// and sticky bits are never set. Files recorded sparse are written with holes where their content is zeros.
// Everything runs on the job's own thread, one file after another (fsBlocking: the job serves nothing else, and a
// hand-off to libuv's thread pool per file operation cost more than the operations), with a turn of the event loop
// every so often for the job's heartbeat.
import path from 'node:path';
import { fsBlocking as fs } from '../../system/fs-async.js';
import { createHash } from 'node:crypto';
import { chainUnchanged, makeFolders, resolveTrustedPath, sameIdentity, setFifoMetadata, setFolderMetadata, tempNameFor, writeFileInFolder, type ChainLink, type EntryMetadata, type FileIdentity } from '../../system/safe-files.js';
import { RmError } from '../../protocol/errors.js';
import { resolveInside, selectedForRestore } from './manifest.js';
import type { Repository } from './repo.js';
import { decodeTree, type SnapshotRecord, type TreeEntry } from './tree.js';
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
}

interface Item {
  base: string;
  rel: string;
  entry: TreeEntry;
}


export async function restoreTreeSnapshot(repo: Repository, record: SnapshotRecord, options: RestoreOptions): Promise<TreeRestoreResult> {
  if (options.target !== null && !path.isAbsolute(options.target)) throw new RmError('BACKUP_UNSAFE_PATH', `restore target must be an absolute path: ${options.target.slice(0, 200)}`);
  const items: Item[] = [];
  for (const [index, folder] of record.folders.entries()) {
    const base = baseOf(record, index, options);
    if (base === null) throw new RmError('BACKUP_UNSAFE_PATH', `${folder.path.slice(0, 200)} is not a folder of the current policy: restore it to a target`);
    await plan(repo, folder.tree, '', base, options.paths, items);
  }
  for (const item of items) if (!resolveInside(item.base, item.rel)) throw new RmError('BACKUP_UNSAFE_PATH', JSON.stringify(item.rel.slice(0, 200)));
  const asRoot = typeof process.geteuid === 'function' && process.geteuid() === 0;
  const turn = eventLoopTurns(TURN_EVERY_MS);
  // A chunk's Buffers are dropped once it is written: collected every so often, when no chunk is held, so the
  // restore's memory stays near one chunk's (a collection while a chunk is held would keep it longer).
  const chunkDone = createBufferCollector(WRITTEN_BETWEEN_COLLECTIONS);
  const realBases = new Map<string, string>();
  for (const { base } of items) if (!realBases.has(base)) realBases.set(base, await resolveTrustedPath(base).catch(unsafe));
  // A folder the restore writes into keeps its own owner and bits unless the restore made it (or it is the policy
  // folder restored in place): a full restore to /tmp, /srv or a mount point must not hand it to the backed-up owner.
  const madeBases = new Set<string>();
  for (const real of realBases.values()) if (!(await fs.lstat(real).then(() => true, () => false))) madeBases.add(real);
  const chains = new Map<string, ChainLink[]>();
  const folderOf = async (item: Item): Promise<{ chain: ChainLink[]; name: string; dir: string }> => {
    const segments = item.rel.split('/');
    const name = segments.pop()!;
    const dir = path.join(realBases.get(item.base)!, ...segments);
    let chain = chains.get(dir);
    if (!chain) {
      chain = await makeFolders(dir, NEW_FOLDER_MODE, fs).catch(unsafe);
      chains.set(dir, chain);
    }
    return { chain, name, dir };
  };
  const result: TreeRestoreResult = { snapshot: record.id, files: 0, bytes: 0, verified: 0, target: options.target, dirs: 0, symlinks: 0, hardlinks: 0, fifos: 0 };
  const dirs: Array<{ full: string; entry: TreeEntry }> = [];
  // Folders first (parents before children), then file contents, then what refers to them.
  for (const item of items.filter((i) => i.entry.type === 'dir')) {
    const full = path.join(realBases.get(item.base)!, ...item.rel.split('/'));
    chains.set(full, await makeFolders(full, NEW_FOLDER_MODE, fs).catch(unsafe));
    await turn();
    dirs.push({ full, entry: item.entry });
    result.dirs++;
  }
  const written = new Map<string, { path: string; id: FileIdentity }>(); // `${base}\0${rel}` -> restored file (hard link sources)
  const planned = new Set(items.map((i) => `${i.base}\0${i.rel}`));
  const contents = items.filter((i) => i.entry.type === 'file' && !(i.entry.link && planned.has(`${i.base}\0${i.entry.link}`)));
  // Folder metadata last, deepest first (writing into a folder changes its mtime), each through a handle on the
  // very folder made (by path, a folder swapped for a link would have made root chown/chmod another one).
  const finishFolders = async () => {
    for (const { full, entry } of [...dirs].reverse()) {
      await turn();
      await setFolderMetadata(chains.get(full)!, metadataOf(entry, asRoot), fs).catch(unsafe);
    }
  };
  try {
    for (const item of contents) {
      await turn();
      const { chain, name, dir } = await folderOf(item);
      const e = item.entry;
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
      let id: FileIdentity;
      try {
        id = await writeFileInFolder(chain, name, chunks, {
          mode: e.mode,
          mtimeSec: timeArg(e.mtimeNs),
          sparse: e.sparse === true,
          durable: false,
          fs,
          ...(asRoot ? { owner: { uid: e.uid, gid: e.gid } } : {}),
          verify: async (handle) => {
            const written = whole ? whole.digest('hex') : (e.chunks![0] ?? EMPTY_SHA256);
            const size = (await handle.stat()).size;
            if (written !== e.sha256 || size !== e.size) throw Object.assign(new Error(`${name}: written bytes differ from the backup`), { code: 'CHUNK_CORRUPT' });
          },
        });
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'UNSAFE_PATH') throw new RmError('BACKUP_UNSAFE_PATH', (err as Error).message);
        if (code === 'CHUNK_CORRUPT' || code === 'ENOENT') throw new RmError('BACKUP_VERIFY_FAILED', `${item.rel}: ${(err as Error).message}`);
        throw conflictOr(err, item.rel);
      }
      written.set(`${item.base}\0${item.rel}`, { path: path.join(dir, name), id });
      result.files++;
      result.verified++;
      result.bytes += e.size!;
    }
    for (const item of items) {
      const e = item.entry;
      if (e.type === 'dir' || (e.type === 'file' && !e.link) || (e.type === 'file' && written.has(`${item.base}\0${item.rel}`))) continue;
      await turn();
      const { chain, name, dir } = await folderOf(item);
      if (e.type === 'file') {
        const source = written.get(`${item.base}\0${e.link}`);
        if (!source) continue; // only reachable when the planner kept a link whose source it did not plan
        await placeSpecial(chain, dir, name, item.rel, async (tmp) => {
          await fs.link(source.path, tmp);
          // link() takes a path: a folder above the source swapped for a link would hard-link another file here.
          if (!sameIdentity(await fs.lstat(tmp, { bigint: true }), source.id)) throw new RmError('BACKUP_UNSAFE_PATH', `${source.path} was replaced during the restore`);
        });
        written.set(`${item.base}\0${item.rel}`, source);
        result.hardlinks++;
        result.files++;
      } else if (e.type === 'symlink') {
        await placeSpecial(chain, dir, name, item.rel, (tmp) => fs.symlink(e.target!, tmp), { entry: e, meta: metadataOf(e, asRoot) });
        result.symlinks++;
      } else if (e.type === 'fifo') {
        // Node has no mkfifo(3): the system's mkfifo(1), no shell.
        await placeSpecial(chain, dir, name, item.rel, async (tmp) => {
          const made = await createCommandRunner().run('mkfifo', ['-m', '600', tmp]);
          if (made.code !== 0) throw new RmError('SERVICE_FAILED', `mkfifo ${tmp}: ${made.error ?? made.stderr.trim().slice(0, 200)}`);
        }, { entry: e, meta: metadataOf(e, asRoot) });
        result.fifos++;
      }
    }
  } catch (err) {
    // What was restored stays usable: the folders made so far get their owner and bits (not root's 0700).
    await finishFolders().catch(() => undefined);
    throw err;
  }
  await finishFolders();
  // A full restore gives each folder it restored into the recorded folder's own bits, owner and mtime, where the
  // restore made that folder or put the policy folder back in place.
  if (!options.paths?.length) {
    for (const [index] of record.folders.entries()) {
      const root = record.folders[index]!.root;
      const base = baseOf(record, index, options);
      const real = base === null ? undefined : realBases.get(base);
      if (!root || !real || (options.target !== null && !madeBases.has(real))) continue;
      const chain = chains.get(real) ?? (await makeFolders(real, NEW_FOLDER_MODE, fs).catch(unsafe));
      await setFolderMetadata(chain, metadataOf(root, asRoot), fs).catch(unsafe);
    }
  }
  return result;
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

/** Lists the entries to restore (parents before children), reading each tree once; `paths` selects. */
async function plan(repo: Repository, treeId: string, rel: string, base: string, paths: readonly string[] | undefined, out: Item[]): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = await repo.read(treeId);
  } catch (err) {
    throw new RmError('BACKUP_VERIFY_FAILED', `folder ${rel || '.'}: ${(err as Error).message}`);
  }
  let tree;
  try {
    tree = decodeTree(bytes);
  } catch (err) {
    // Stored and sealed like ours, but not what this agent writes (a name that climbs out, a missing field).
    throw new RmError('BACKUP_MANIFEST_UNTRUSTED', `folder ${rel || '.'}: ${(err as Error).message.slice(0, 300)}`);
  }
  for (const entry of tree.entries) {
    if (out.length >= MAX_ENTRIES) throw new RmError('BACKUP_UNSAFE_PATH', `more than ${MAX_ENTRIES} entries`);
    const childRel = rel ? `${rel}/${entry.name}` : entry.name;
    const selected = selectedForRestore(childRel, paths);
    if (entry.type === 'dir') {
      const below = !selected && (paths ?? []).some((p) => p.replace(/^\/+|\/+$/g, '').startsWith(`${childRel}/`));
      if (!selected && !below) continue;
      if (selected) out.push({ base, rel: childRel, entry });
      await plan(repo, entry.tree!, childRel, base, selected ? undefined : paths, out);
      continue;
    }
    if (selected) out.push({ base, rel: childRel, entry });
  }
}

function unsafe(err: unknown): never {
  if ((err as { code?: string }).code === 'UNSAFE_PATH') throw new RmError('BACKUP_UNSAFE_PATH', (err as Error).message);
  throw err;
}
