// The backup repository, format 3, at the destination (by its real path):
//   config                 plain JSON: format, chunker sizes, a key check (HMAC) that tells a wrong device key
//   data/<ab>/<pack id>    packs of at most 16 MiB: blobs one after another, each AES-256-GCM sealed (nonce, ciphertext,
//                          tag) over the zstd-compressed (when that pays) chunk; pack id = sha256 of the file
//   index/<id>             sealed the same way: which blob is where (pack, offset, length), one file per run
//   snaps/<id>             one small sealed (HMAC) snapshot record per run: folders and their root tree ids
// Blobs are file chunks (content-defined, system/cdc.ts) and trees (one per folder: its entries, sorted; a
// subfolder by its tree's id), named by the sha256 of their plaintext, so an unchanged folder is the same tree
// and costs nothing in the next snapshot. Keys come from the device's manifest.key (HKDF): the destination sees
// neither file contents nor names. Everything read back is checked: GCM tags, blob hashes, the snapshot's seal.
import path from 'node:path';
import { fsAsync as fs, fsBlocking, type FileHandle } from '../../system/fs-async.js';
import { createCipheriv, createDecipheriv, createHash, createHmac, createSecretKey, hkdfSync, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import * as z from 'zod/mini';
import { ensureDir, removeFile, writeFileAtomic } from '../../system/files.js';
import { openRegularFile, readRegularFile } from '../../system/safe-files.js';
import { DEFAULT_CDC, type CdcParams } from '../../system/cdc.js';
import { RmError } from '../../protocol/errors.js';
import { createBufferCollector } from '../../system/idle-gc.js';
import { createRandomPool } from '../../system/random-pool.js';
import { ZstdContexts } from './zstd-context.js';

export const REPO_FORMAT = 3;
const PACK_TARGET_BYTES = 16 * 1024 * 1024;
const MAX_BLOB_BYTES = DEFAULT_CDC.max + 64 * 1024;
export const MAX_TREE_BYTES = 64 * 1024 * 1024;
const MAX_INDEX_BYTES = 256 * 1024 * 1024;
const NONCE = 12;
const TAG = 16;
const HEX64 = /^[a-f0-9]{64}$/;
const OPEN_PACKS = 8;
const ENCODED_BETWEEN_COLLECTIONS = 16 * 1024 * 1024;

// A pack is filled in a buffer of the target size; a blob that does not fit closes it (data packs are 8-16 MiB).
const PACK_BUFFER_BYTES = PACK_TARGET_BYTES;
const SEAL_SLICE = 64 * 1024;

export type BlobType = 'data' | 'tree';
export interface BlobLocation {
  pack: string;
  offset: number;
  length: number;
  rawLength: number;
  compressed: boolean;
  type: BlobType;
}

export interface RepoKeys {
  enc: Buffer;
  mac: Buffer;
}

/** Two independent keys from the device key: AES-256-GCM for blobs, HMAC for the snapshot seals and config. */
export function deriveKeys(deviceKey: Uint8Array): RepoKeys {
  const k = (info: string) => Buffer.from(hkdfSync('sha256', deviceKey, 'rmagent-backup/3', info, 32));
  return { enc: k('blob encryption'), mac: k('snapshot seal') };
}

export const blobId = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

// Every nonce is 96 fresh random bits, handed out once; 256 of them per CSPRNG call.
const nextNonce = createRandomPool(NONCE * 256);

/**
 * nonce | AES-256-GCM(plain) | tag; `aad` binds a sealed file to what it is (a pack blob, an index). `into`
 * receives the sealed bytes at `at` (a pack being filled: no concatenated copy); without it a new buffer.
 * A KeyObject made once (createSecretKey) spares the per-call key import a raw Buffer costs.
 */
export function sealBlob(key: Buffer | KeyObject, plain: Uint8Array, aad: string): Buffer;
export function sealBlob(key: Buffer | KeyObject, plain: Uint8Array, aad: string, into: Buffer, at: number): number;
export function sealBlob(key: Buffer | KeyObject, plain: Uint8Array, aad: string, into?: Buffer, at = 0): Buffer | number {
  const out = into ?? Buffer.allocUnsafe(NONCE + plain.length + TAG);
  const nonce = out.subarray(at, at + NONCE);
  nextNonce(nonce);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(aad));
  let end = at + NONCE;
  // In slices: one update of a whole 8 MiB chunk would allocate an 8 MiB output only to copy it.
  for (let i = 0; i < plain.length; i += SEAL_SLICE) end += cipher.update(plain.subarray(i, i + SEAL_SLICE)).copy(out, end);
  end += cipher.final().copy(out, end);
  end += cipher.getAuthTag().copy(out, end);
  return into ? end - at : out.subarray(0, end);
}

export function openBlob(key: Buffer | KeyObject, sealed: Buffer, aad: string): Buffer {
  if (sealed.length < NONCE + TAG) throw corrupt('sealed data too short');
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  try {
    const plain = decipher.update(sealed.subarray(NONCE, sealed.length - TAG));
    decipher.final(); // GCM: nothing more, only the tag check
    return plain;
  } catch {
    throw corrupt('does not decrypt with this device key (changed, or written by another installation)');
  }
}

const corrupt = (message: string) => Object.assign(new Error(message), { code: 'CHUNK_CORRUPT' });

// Compression pays only where a sample shrinks: random or already-compressed data is stored as it is, so it costs
// one 64 KiB trial (at level 1) instead of a whole zstd pass. Synchronous, on the job's own thread, with contexts
// kept for the job (zstd-context.ts): the async form hands every
// chunk to the thread pool through a Transform stream, which cost about twice the CPU of the compression itself
// (measured on 6,763 files of /usr/share: 1.17-1.99 s against 0.60-0.74 s). The job has nothing else to serve.
const SAMPLE = 64 * 1024;
// Below 1 KiB a blob is stored as it is: on a copy of /usr/share the ~8,400 such blobs saved 0.76 MB compressed
// (0.6 % of the repository), and each costs a zstd stream built and collected twice, to store and to restore
// (skipping them: full backup 6.5 → 5.7 s, restore 7.2 → 6.6 s, medians of four interleaved one-offs;
// bench/analysis.md).
export const MIN_COMPRESSED_BYTES = 1024;
const trialZstd = new ZstdContexts(1);
const blobZstd = new ZstdContexts(3);
function encode(raw: Buffer): { data: Buffer; compressed: boolean } {
  if (raw.length < MIN_COMPRESSED_BYTES) return { data: raw, compressed: false };
  if (raw.length > SAMPLE * 2) {
    const trial = trialZstd.compress(raw.subarray(0, SAMPLE));
    if (trial.length > SAMPLE * 0.9) return { data: raw, compressed: false };
  }
  const packed = blobZstd.compress(raw);
  return packed.length < raw.length * 0.95 ? { data: packed, compressed: true } : { data: raw, compressed: false };
}

const ConfigSchema = z.strictObject({
  format: z.literal(REPO_FORMAT),
  id: z.string().check(z.regex(/^[a-f0-9]{32}$/)),
  chunker: z.strictObject({ min: z.int(), avg: z.int(), max: z.int() }),
  keyCheck: z.string().check(z.regex(HEX64)),
});

const IndexSchema = z.strictObject({
  v: z.literal(1),
  // pack id -> [blob id, type (0 data, 1 tree), offset, length, raw length, compressed (0/1)]
  packs: z.record(z.string().check(z.regex(HEX64)), z.array(z.tuple([z.string().check(z.regex(HEX64)), z.int(), z.int(), z.int(), z.int(), z.int()]))),
});
type IndexFile = z.infer<typeof IndexSchema>;

export interface RepoStats {
  blobsWritten: number;
  bytesStored: number;
  packsWritten: string[];
}

interface OpenPack {
  buffer: Buffer;
  length: number;
  blobs: Array<[string, BlobLocation]>;
}

export class Repository {
  readonly root: string;
  readonly keys: RepoKeys;
  readonly chunker: CdcParams;
  private readonly index = new Map<string, BlobLocation>();
  private readonly indexFiles: string[] = [];
  private readonly encKey: KeyObject;
  private filling: OpenPack | null = null;
  private spare: Buffer | null = null;
  private buffers = 0;
  private writing: Promise<void> = Promise.resolve();
  private readonly fresh: IndexFile = { v: 1, packs: {} };
  private readonly pending = new Set<string>();
  private readonly encoded = createBufferCollector(ENCODED_BETWEEN_COLLECTIONS);
  private lastEncoded = 0;
  readonly stats: RepoStats = { blobsWritten: 0, bytesStored: 0, packsWritten: [] };

  private constructor(root: string, keys: RepoKeys, chunker: CdcParams) {
    this.root = root;
    this.keys = keys;
    this.encKey = createSecretKey(keys.enc);
    this.chunker = chunker;
  }

  /** Whether `root` holds a format-3 repository (its config). */
  static async exists(root: string): Promise<boolean> {
    return fs.lstat(path.join(root, 'config')).then(() => true, () => false);
  }

  /** Opens (creating when empty) the repository at `root`, a real path a destination check returned. */
  static async open(root: string, deviceKey: Uint8Array): Promise<Repository> {
    const keys = deriveKeys(deviceKey);
    const configFile = path.join(root, 'config');
    const check = (id: string) => createHmac('sha256', keys.mac).update(`rmagent-backup-config/3 ${id}`).digest('hex');
    let text: Buffer | null = null;
    try {
      text = await readRegularFile(configFile, 64 * 1024);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new RmError('BACKUP_MANIFEST_UNTRUSTED', `${configFile}: ${(err as Error).message}`);
    }
    const chunker = DEFAULT_CDC;
    if (text === null) {
      const id = randomBytes(16).toString('hex');
      await writeFileAtomic(configFile, `${JSON.stringify({ format: REPO_FORMAT, id, chunker, keyCheck: check(id) })}\n`);
    } else {
      let parsed: z.infer<typeof ConfigSchema>;
      try {
        parsed = ConfigSchema.parse(JSON.parse(text.toString('utf8')));
      } catch (err) {
        throw new RmError('BACKUP_MANIFEST_UNTRUSTED', `${configFile} is not a repository configuration: ${(err as Error).message.slice(0, 200)}`);
      }
      if (!timingSafeEqual(Buffer.from(parsed.keyCheck, 'hex'), Buffer.from(check(parsed.id), 'hex'))) throw new RmError('BACKUP_KEY_MISMATCH', `${root} was written with another device key`);
      // The key check covers the id only: chunk sizes other than the format's (which only an edit of this plain
      // file makes) would have every later backup write chunks a restore refuses as larger than any chunk.
      const { min, avg, max } = parsed.chunker;
      if (min !== DEFAULT_CDC.min || avg !== DEFAULT_CDC.avg || max !== DEFAULT_CDC.max) throw new RmError('BACKUP_MANIFEST_UNTRUSTED', `${configFile} names chunk sizes ${min}/${avg}/${max}, not this format's ${DEFAULT_CDC.min}/${DEFAULT_CDC.avg}/${DEFAULT_CDC.max}`);
    }
    const repo = new Repository(root, keys, chunker);
    await repo.loadIndex();
    return repo;
  }

  private async loadIndex(): Promise<void> {
    const dir = path.join(this.root, 'index');
    // Only a missing folder is an empty index: one that cannot be listed (EIO, ESTALE, a file in its place) is an
    // error, not a repository holding nothing (a backup would store everything again and retention misjudge it).
    const names = await fs.readdir(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? ([] as string[]) : Promise.reject(err)));
    for (const name of names.sort()) {
      if (!/^[a-f0-9]{32}$/.test(name)) continue;
      const sealed = await readRegularFile(path.join(dir, name), MAX_INDEX_BYTES);
      const parsed = IndexSchema.parse(JSON.parse(openBlob(this.keys.enc, sealed, `index ${name}`).toString('utf8')));
      for (const [pack, blobs] of Object.entries(parsed.packs)) {
        for (const [id, type, offset, length, rawLength, compressed] of blobs) {
          this.index.set(id, { pack, offset, length, rawLength, compressed: compressed === 1, type: type === 1 ? 'tree' : 'data' });
        }
      }
      this.indexFiles.push(name);
    }
  }

  has(id: string): boolean {
    return this.index.has(id) || this.pending.has(id);
  }

  location(id: string): BlobLocation | undefined {
    return this.index.get(id);
  }

  /** Every indexed blob (for retention and checks). */
  blobs(): IterableIterator<[string, BlobLocation]> {
    return this.index.entries();
  }

  indexFileNames(): readonly string[] {
    return this.indexFiles;
  }

  /** Stores a blob unless the repository has it; returns the bytes it adds (0 = deduplicated). */
  async add(type: BlobType, id: string, raw: Buffer): Promise<number> {
    if (this.has(id)) return 0;
    this.pending.add(id);
    // The previous blob's compressed copy is dropped by now (see createBufferCollector).
    this.encoded(this.lastEncoded);
    const { data, compressed } = encode(raw);
    this.lastEncoded = compressed ? data.length : 0;
    const size = NONCE + data.length + TAG;
    let cur = await this.packWithRoom(size);
    // Another add may have filled or handed over that pack while this one waited: from the check to the length
    // update nothing awaits, so the room checked is the room sealed into.
    while (this.filling !== cur || cur.length + size > cur.buffer.length) cur = await this.packWithRoom(size);
    const length = sealBlob(this.encKey, data, `blob ${id}`, cur.buffer, cur.length);
    cur.blobs.push([id, { pack: '', offset: cur.length, length, rawLength: raw.length, compressed, type }]);
    cur.length += length;
    this.stats.blobsWritten++;
    this.stats.bytesStored += length;
    if (cur.length >= PACK_TARGET_BYTES) this.writePack();
    return length;
  }

  // Memory is bounded to one pack being filled and one being written (PACK_BUFFER_BYTES each, reused): a blob
  // that finds neither free waits for the write. Only a tree larger than a pack gets a buffer of its own.
  private async packWithRoom(size: number): Promise<OpenPack> {
    for (;;) {
      const cur = this.filling;
      if (cur && cur.length + size <= cur.buffer.length) return cur;
      if (cur) {
        this.writePack();
        continue;
      }
      if (this.spare && this.spare.length >= size) {
        this.filling = { buffer: this.spare, length: 0, blobs: [] };
        this.spare = null;
      } else if (size > PACK_BUFFER_BYTES) {
        this.filling = { buffer: Buffer.allocUnsafe(size), length: 0, blobs: [] };
      } else if (this.buffers < 2) {
        this.buffers++;
        this.filling = { buffer: Buffer.allocUnsafe(PACK_BUFFER_BYTES), length: 0, blobs: [] };
      } else {
        await this.writing;
      }
    }
  }

  /** Hands the pack being filled to the writer (one write at a time, in order); commit() waits for it. */
  private writePack(): void {
    const cur = this.filling;
    if (!cur) return;
    this.filling = null;
    if (!cur.length) return this.release(cur.buffer);
    const previous = this.writing;
    const write = (async () => {
      try {
        await previous;
        const bytes = cur.buffer.subarray(0, cur.length);
        const pack = createHash('sha256').update(bytes).digest('hex');
        // Temp file, fsync, rename, fsync of the folder; a failed write removes its temp file.
        await writeFileAtomic(this.packPath(pack), bytes);
        const entries = cur.blobs.map(([id, loc]) => {
          this.index.set(id, { ...loc, pack });
          this.pending.delete(id);
          return [id, loc.type === 'tree' ? 1 : 0, loc.offset, loc.length, loc.rawLength, loc.compressed ? 1 : 0] as [string, number, number, number, number, number];
        });
        this.fresh.packs[pack] = entries;
        this.stats.packsWritten.push(pack);
      } catch (err) {
        // Every write after a failed one fails too, so commit() can no longer index this run's packs: they go now.
        await this.discardUnindexed();
        throw destinationError(err, this.root);
      } finally {
        this.release(cur.buffer);
      }
    })();
    // A failed write fails commit() (and every write after it); nothing else waits for it unhandled.
    write.catch(() => undefined);
    this.writing = write;
  }

  private release(buffer: Buffer): void {
    if (buffer.length !== PACK_BUFFER_BYTES) return;
    if (this.spare === null) this.spare = buffer;
    else this.buffers--;
  }

  /** Writes the open pack and this run's index file: after it, every blob added is findable. */
  async commit(): Promise<void> {
    this.writePack();
    await this.writing;
    // One pack buffer stays (as the spare) for checkPacks' reads: a fresh 16 MiB buffer while the two pack buffers
    // were not yet collected made the full backup's peak (186 MB against 100-140 MB the rest of the run).
    this.buffers = this.spare ? 1 : 0;
    if (!Object.keys(this.fresh.packs).length) return;
    const name = randomBytes(16).toString('hex');
    const file = path.join(this.root, 'index', name);
    try {
      await writeFileAtomic(file, sealBlob(this.keys.enc, Buffer.from(JSON.stringify(this.fresh)), `index ${name}`));
    } catch (err) {
      // The write can fail after its rename (syncing the folder: EIO, ENOSPC on a share): an index already in
      // place names this run's packs, and deleting them would leave later snapshots that reuse its blobs
      // unrestorable. Only an index certainly absent lets them go.
      const absent = await fs.lstat(file).then(() => false, (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
      if (absent) await this.discardUnindexed();
      else {
        this.indexFiles.push(name);
        this.fresh.packs = {};
      }
      throw destinationError(err, this.root);
    }
    this.indexFiles.push(name);
    this.fresh.packs = {};
  }

  /**
   * For a run that fails before commit(): waits for the pack being written, then deletes the packs this instance
   * wrote that no index names yet (nobody else can use them: only an index makes a pack's blobs findable). Packs
   * other runs wrote, indexed or not, are never touched. Best effort; the repository is not used for writing after.
   */
  async abandon(): Promise<void> {
    const open = this.filling;
    this.filling = null;
    if (open) this.release(open.buffer);
    await this.writing.catch(() => undefined);
    await this.discardUnindexed();
  }

  private async discardUnindexed(): Promise<void> {
    const packs = Object.keys(this.fresh.packs);
    this.fresh.packs = {};
    if (!packs.length) return;
    const gone = new Set(packs);
    for (const [id, loc] of [...this.index]) if (gone.has(loc.pack)) this.index.delete(id);
    for (const pack of packs) await removeFile(this.packPath(pack)).catch(() => undefined);
  }

  /** A blob's plaintext, checked against its id (CHUNK_CORRUPT / ENOENT otherwise). */
  read(id: string): Promise<Buffer> {
    return this.readBlob(id, false);
  }

  /**
   * read() for a caller that is done with each blob before it asks for the next (a restore writing chunk after
   * chunk): a compressed blob is decompressed into one buffer kept for these reads, valid until the next call,
   * instead of a new one per blob (the restore's garbage, its collections and its peak were mostly those).
   */
  readTransient(id: string): Promise<Buffer> {
    return this.readBlob(id, true);
  }

  private async readBlob(id: string, transient: boolean): Promise<Buffer> {
    const loc = this.index.get(id);
    if (!loc) throw Object.assign(new Error(`blob ${id.slice(0, 16)} is not in the index`), { code: 'ENOENT' });
    // A file's chunk (a transient read) is held to a data blob's limits whatever blob its id names: a tree named in
    // a chunk list would size the kept buffer to up to 64 MiB.
    const tooLarge = sizeProblem(loc, transient ? 'data' : loc.type);
    if (tooLarge) throw corrupt(`blob ${id.slice(0, 16)} ${tooLarge}`);
    for (;;) {
      const opening = this.packHandle(loc.pack);
      const handle = await opening;
      if (this.open.get(loc.pack) !== opening) continue; // closed while this read waited for it
      // From here to the return nothing awaits: the descriptor is open and the scratch buffer is this read's.
      if (this.scratch.length < loc.length) this.scratch = Buffer.allocUnsafe(Math.max(loc.length, MAX_BLOB_BYTES + NONCE + TAG));
      const sealed = this.scratch.subarray(0, loc.length);
      let bytesRead: number;
      try {
        bytesRead = handle.readNow(sealed, 0, loc.length, loc.offset);
      } catch (err) {
        this.forget(loc.pack);
        throw err;
      }
      if (bytesRead !== loc.length) throw corrupt(`pack ${loc.pack.slice(0, 16)} is shorter than its index says`);
      if (transient && loc.compressed && this.plain.length < loc.rawLength + 1) this.plain = Buffer.allocUnsafe(Math.max(loc.rawLength + 1, Math.min(2 * this.plain.length, MAX_BLOB_BYTES + 1)));
      return this.decode(id, loc, sealed, transient ? this.plain : undefined);
    }
  }

  private decode(id: string, loc: BlobLocation, sealed: Buffer, into?: Buffer): Buffer {
    const data = openBlob(this.encKey, sealed, `blob ${id}`);
    let raw = data;
    if (loc.compressed) {
      try {
        raw = blobZstd.decompress(data, loc.rawLength, into);
      } catch (err) {
        throw corrupt(`blob ${id.slice(0, 16)} ${(err as Error).message}`);
      }
    }
    if (raw.length !== loc.rawLength || blobId(raw) !== id) throw corrupt(`blob ${id.slice(0, 16)} does not match its hash`);
    return raw;
  }

  // A restore reads many blobs from few packs: the last few packs stay open (each opened once, through safe-files,
  // blocking: the job serves nothing else), and blobs are read on the job's own thread into one reused buffer
  // (a hand-off to the thread pool per blob, and a new buffer per blob, cost more than the read).
  private readonly open = new Map<string, Promise<FileHandle>>();
  private scratch = Buffer.alloc(0);
  private plain = Buffer.alloc(0);

  private packHandle(pack: string): Promise<FileHandle> {
    let opening = this.open.get(pack);
    if (opening) return opening;
    opening = openRegularFile(this.packPath(pack), undefined, fsBlocking).then((o) => o.handle);
    opening.catch(() => this.open.get(pack) === opening && this.open.delete(pack));
    this.open.set(pack, opening);
    if (this.open.size > OPEN_PACKS) this.forget(this.open.keys().next().value!);
    return opening;
  }

  private forget(pack: string): void {
    const opening = this.open.get(pack);
    this.open.delete(pack);
    void opening?.then((h) => h.close()).catch(() => undefined);
  }

  /** Closes the packs kept open for reading. */
  async close(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    for (const opening of all) await opening.then((h) => h.close()).catch(() => undefined);
  }

  packPath(pack: string): string {
    return path.join(this.root, 'data', pack.slice(0, 2), pack);
  }

  /** Re-reads whole packs and checks the pack hash and every blob in it; returns the blobs that failed. */
  async checkPacks(packs: Iterable<string>): Promise<{ packs: number; blobs: number; bytes: number; bad: string[] }> {
    const byPack = new Map<string, Array<[string, BlobLocation]>>();
    for (const [id, loc] of this.index) {
      const list = byPack.get(loc.pack);
      if (list) list.push([id, loc]);
      else byPack.set(loc.pack, [[id, loc]]);
    }
    const out = { packs: 0, blobs: 0, bytes: 0, bad: [] as string[] };
    // One buffer for every pack read (not a new 16 MiB per pack): the spare pack buffer when there is one.
    let buffer = this.spare ?? Buffer.alloc(0);
    if (this.spare) {
      this.spare = null;
      this.buffers--;
    }
    for (const pack of packs) {
      const blobs = byPack.get(pack) ?? [];
      out.packs++;
      let bytes: Buffer;
      try {
        const { handle, stat } = await openRegularFile(this.packPath(pack));
        try {
          const size = Number(stat.size);
          if (size > MAX_TREE_BYTES + PACK_TARGET_BYTES) throw corrupt('pack too large');
          if (buffer.length < size) buffer = Buffer.allocUnsafe(Math.max(size, PACK_TARGET_BYTES));
          let filled = 0;
          while (filled < size) {
            const { bytesRead } = await handle.read(buffer, filled, size - filled, filled);
            if (bytesRead === 0) break;
            filled += bytesRead;
          }
          bytes = buffer.subarray(0, filled);
        } finally {
          await handle.close();
        }
      } catch {
        out.bad.push(...blobs.map(([id]) => id));
        continue;
      }
      out.bytes += bytes.length;
      if (blobId(bytes) !== pack) {
        out.bad.push(...blobs.map(([id]) => id));
        continue;
      }
      for (const [id, loc] of blobs) {
        out.blobs++;
        // What a restore would refuse, a check does not pass.
        if (sizeProblem(loc)) {
          out.bad.push(id);
          continue;
        }
        try {
          this.decode(id, loc, bytes.subarray(loc.offset, loc.offset + loc.length));
        } catch {
          out.bad.push(id);
        }
      }
    }
    if (buffer.length === PACK_BUFFER_BYTES && this.spare === null) {
      this.spare = buffer;
      this.buffers++;
    }
    return out;
  }

  /** Packs present in the index. */
  packs(): Set<string> {
    return new Set([...this.index.values()].map((l) => l.pack));
  }

  /**
   * Retention: packs none of whose blobs is kept are deleted; one index replaces all the others (written before
   * they go, so a crash leaves a usable, at worst larger, index). Packs with some kept blobs stay whole.
   */
  async prune(keep: ReadonlySet<string>): Promise<{ packs: number; bytes: number; unusedBytes: number }> {
    const live = new Map<string, Array<[string, BlobLocation]>>();
    const dead = new Map<string, number>();
    for (const [id, loc] of this.index) {
      if (keep.has(id)) {
        const list = live.get(loc.pack) ?? [];
        list.push([id, loc]);
        live.set(loc.pack, list);
      }
    }
    let unusedBytes = 0;
    for (const [id, loc] of this.index) {
      if (!live.has(loc.pack)) dead.set(loc.pack, (dead.get(loc.pack) ?? 0) + loc.length);
      else if (!keep.has(id)) unusedBytes += loc.length;
    }
    if (!dead.size) return { packs: 0, bytes: 0, unusedBytes };
    const all: IndexFile = { v: 1, packs: {} };
    for (const [pack] of live) {
      all.packs[pack] = [...this.index].filter(([, l]) => l.pack === pack).map(([id, l]) => [id, l.type === 'tree' ? 1 : 0, l.offset, l.length, l.rawLength, l.compressed ? 1 : 0]);
    }
    const name = randomBytes(16).toString('hex');
    await writeFileAtomic(path.join(this.root, 'index', name), sealBlob(this.keys.enc, Buffer.from(JSON.stringify(all)), `index ${name}`)).catch((err: unknown) => Promise.reject(destinationError(err, this.root)));
    for (const old of this.indexFiles.splice(0)) await removeFile(path.join(this.root, 'index', old));
    this.indexFiles.push(name);
    let bytes = 0;
    for (const [pack] of dead) {
      bytes += await fs.stat(this.packPath(pack)).then((s) => s.size, () => 0);
      await removeFile(this.packPath(pack));
    }
    for (const [id, loc] of [...this.index]) if (dead.has(loc.pack)) this.index.delete(id);
    return { packs: dead.size, bytes, unusedBytes };
  }
}

/**
 * Why an index entry cannot be a blob this format writes (sizes the index claims are checked before anything is
 * allocated for them): a data blob holds at most one chunk, a tree at most MAX_TREE_BYTES. Without it an index
 * written with the device key could make a read allocate, or keep for the rest of a restore, any size it names.
 */
function sizeProblem(loc: BlobLocation, as: BlobType = loc.type): string | null {
  const rawMax = as === 'data' ? DEFAULT_CDC.max : MAX_TREE_BYTES;
  const sealedMax = as === 'data' ? MAX_BLOB_BYTES + NONCE + TAG : MAX_TREE_BYTES + NONCE + TAG;
  if (!(loc.rawLength >= 0 && loc.rawLength <= rawMax)) return as === 'data' ? 'is larger than any chunk' : 'is a tree too large';
  if (!(loc.length >= NONCE + TAG && loc.length <= sealedMax)) return 'is stored larger than any chunk or tree';
  return null;
}

/** A full destination (ENOSPC, or EDQUOT: the account's quota) as BACKUP_DESTINATION_FULL; other errors as they are. */
export function destinationError(err: unknown, root: string): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return err;
  return new RmError('BACKUP_DESTINATION_FULL', `${root}: ${(err as Error).message.slice(0, 300)}`);
}

/** A folder the repository writes into exists (0700); packs need their fan-out folders. */
export async function ensureRepoFolders(root: string): Promise<void> {
  for (const d of ['data', 'index', 'snaps']) await ensureDir(path.join(root, d), 0o700);
}
