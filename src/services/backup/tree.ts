// Trees and snapshot records of repository format 3 (repo.ts), and their pure checks. A tree lists one folder:
// each entry with its type, permission bits, owner, mtime (ns) and, by type, its content (size, sha256, chunk ids,
// sparse), its link target, the earlier path it is a hard link of, or its subfolder's tree id. Names are single
// plain names, unique in their tree, so no entry can climb out of its folder wherever it is restored.
// One name rule for writing and reading (isTreeName): whatever POSIX allows in one name, so a '\' or a ':' (files
// from Windows zips) is backed up like any other character; the walk checks each tree against TreeSchema before it
// stores it, so it never writes what a read refuses. Where a name cannot be restored as it is (Windows: '\', ':'),
// the restore has to leave that entry out (nameProblemOn), not the whole snapshot.
import { createHmac, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import * as z from 'zod/mini';
import { IdSchema } from '../../protocol/model.js';

const hash = z.string().check(z.regex(/^[a-f0-9]{64}$/));
const count = z.int().check(z.nonnegative());

/** One file name as POSIX allows it (at most 255 UTF-16 code units): not empty, '.' or '..'; no '/' or NUL. */
export function isTreeName(n: string): boolean {
  return n.length > 0 && n.length <= 255 && n !== '.' && n !== '..' && !/[/\0]/.test(n);
}

/** A '/'-separated path of tree names (a hard link's first path): stays inside its folder. */
export function isTreePath(p: string): boolean {
  return p.length > 0 && p.length <= 4096 && p.split('/').every(isTreeName);
}

/**
 * Why the tree name `n` cannot be restored as it is on `platform` (null: it can). Windows: a '\' or '/' would be a
 * separator, a ':' names a stream or a drive, and <>"|?* and control characters are refused; a trailing dot or
 * space is dropped by Win32. POSIX: only the 255-byte limit of most filesystems.
 */
export function nameProblemOn(n: string, platform: NodeJS.Platform = process.platform): string | null {
  if (!isTreeName(n)) return 'not one plain name';
  if (platform === 'win32') {
    // eslint-disable-next-line no-control-regex
    if (/[\\:<>"|?*\x00-\x1f]/.test(n)) return 'has a character Windows does not allow in a name';
    if (/[. ]$/.test(n)) return 'ends with a dot or a space (Windows drops them)';
    return null;
  }
  return Buffer.byteLength(n) > 255 ? 'longer than 255 bytes' : null;
}

const NS = /^-?\d{1,21}$/;
const INO = /^\d{1,24}$/;
const isTarget = (t: string) => t.length >= 1 && t.length <= 4096 && !t.includes('\0');
const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0;
const isMode = (n: number) => Number.isSafeInteger(n) && n >= 0 && n <= 0o7777;

const plainName = z.string().check(z.refine(isTreeName, 'must be one plain name'));
const relative = z.string().check(z.refine(isTreePath, 'must be a relative path inside its folder'));

export const TreeEntrySchema = z.strictObject({
  name: plainName,
  type: z.enum(['file', 'dir', 'symlink', 'fifo']),
  /** Permission bits, setuid/setgid/sticky included (a restore applies them only where it safely can). */
  mode: z.int().check(z.gte(0), z.lte(0o7777)),
  uid: count,
  gid: count,
  /** Nanoseconds since the epoch, as a decimal string (more than 2^53). */
  mtimeNs: z.string().check(z.regex(NS)),
  /** Files: change detection for the next run (not restored). */
  ino: z.optional(z.string().check(z.regex(INO))),
  size: z.optional(count),
  sha256: z.optional(hash),
  chunks: z.optional(z.array(hash)),
  /** Stored with holes; restored with holes where the content is zeros. */
  sparse: z.optional(z.literal(true)),
  /** A hard link of the file at this path (relative to the snapshot folder), recorded earlier in the walk. */
  link: z.optional(relative),
  /** Symbolic links: the target as it was (never followed by backup or restore). */
  target: z.optional(z.string().check(z.refine(isTarget, 'must be 1-4096 characters, no NUL'))),
  tree: z.optional(hash),
});
export type TreeEntry = z.infer<typeof TreeEntrySchema>;

export const TreeSchema = z.strictObject({ v: z.literal(1), entries: z.array(TreeEntrySchema) }).check(
  z.refine((t) => new Set(t.entries.map((e) => e.name)).size === t.entries.length, 'names must be unique'),
  z.refine((t) => t.entries.every(entryComplete), 'an entry lacks what its type needs'),
);
export type Tree = z.infer<typeof TreeSchema>;

function entryComplete(e: TreeEntry): boolean {
  switch (e.type) {
    case 'file':
      return e.size !== undefined && e.sha256 !== undefined && e.chunks !== undefined;
    case 'dir':
      return e.tree !== undefined;
    case 'symlink':
      return e.target !== undefined;
    case 'fifo':
      return true;
  }
}

/**
 * Why TreeEntrySchema would refuse `e`, an entry the walk built (null: it accepts it), by the schema's own
 * predicates: the walk checks every entry, and a full parse costs ~6 us an entry (0.6 s for 100,000 files, more
 * than the rest of an unchanged file's work). Ids and hashes are the walk's own hex digests, not checked again.
 */
export function entryProblem(e: TreeEntry): string | null {
  if (!isTreeName(e.name)) return 'name: must be one plain name';
  if (!isMode(e.mode)) return 'mode: out of range';
  if (!isCount(e.uid) || !isCount(e.gid)) return 'owner: out of range';
  if (!NS.test(e.mtimeNs)) return 'mtime: out of range';
  if (e.ino !== undefined && !INO.test(e.ino)) return 'ino: out of range';
  if (e.size !== undefined && !isCount(e.size)) return 'size: out of range';
  if (e.target !== undefined && !isTarget(e.target)) return 'link target: must be 1-4096 characters, no NUL';
  if (e.link !== undefined && !isTreePath(e.link)) return 'hard link path: must be a relative path inside its folder';
  if (!entryComplete(e)) return 'lacks what its type needs';
  return null;
}

export function encodeTree(entries: TreeEntry[]): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, entries }));
}

export function decodeTree(bytes: Buffer): Tree {
  return TreeSchema.parse(JSON.parse(bytes.toString('utf8')));
}

// The folder's name is joined to a restore target as one segment: a POSIX name (`c:data` included) is one there;
// on Windows, where no folder can be so named, a '\' or a drive would not be, so it is refused there.
export const isFolderName = (n: string): boolean => isTreeName(n) && (process.platform !== 'win32' || nameProblemOn(n, 'win32') === null);
const folderName = z.string().check(z.refine(isFolderName, 'must be one plain name'));
const absoluteFolder = z.string().check(z.minLength(1), z.maxLength(4096), z.refine((p) => !p.includes('\0') && (path.posix.isAbsolute(p) || path.win32.isAbsolute(p)), 'must be an absolute path'));
export const MAX_SKIPPED_LISTED = 100;

export const SnapshotRecordSchema = z.strictObject({
  format: z.literal(3),
  id: IdSchema,
  createdAt: count,
  actor: z.nullable(z.string().check(z.maxLength(128))),
  folders: z.array(z.strictObject({
    path: absoluteFolder,
    name: folderName,
    tree: hash,
    /** The folder's own permission bits, owner and mtime (a full restore gives them to the folder it restores into). */
    root: z.optional(z.strictObject({ mode: z.int().check(z.gte(0), z.lte(0o7777)), uid: count, gid: count, mtimeNs: z.string().check(z.regex(/^-?\d{1,21}$/)) })),
  })).check(z.minLength(1)),
  stats: z.strictObject({ files: count, dirs: count, bytesRead: count, bytesStored: count, durationMs: count, skipped: count }),
  /** What was left out, with why (the first MAX_SKIPPED_LISTED; stats.skipped counts them all). */
  skippedPaths: z.array(z.strictObject({ path: z.string().check(z.maxLength(4096)), reason: z.string().check(z.maxLength(512)) })).check(z.maxLength(MAX_SKIPPED_LISTED)),
});
export type SnapshotRecord = z.infer<typeof SnapshotRecordSchema>;

const SEAL = 'rmagent-backup-snapshot/3';
const SEAL_LINE = /^rmagent-backup-snapshot\/3 hmac-sha256=([0-9a-f]{64})$/;
const macOf = (key: Uint8Array, body: Buffer) => createHmac('sha256', key).update(`${SEAL}\n`).update(body).digest();

export function sealRecord(macKey: Uint8Array, record: SnapshotRecord): Buffer {
  const body = Buffer.from(`${JSON.stringify(record)}\n`);
  return Buffer.concat([Buffer.from(`${SEAL} hmac-sha256=${macOf(macKey, body).toString('hex')}\n`), body]);
}

export type UnsealedRecord = { ok: true; record: SnapshotRecord } | { ok: false; reason: string };

/** The record in `bytes` if it was sealed with `macKey`, is well-formed and is named `id`. */
export function unsealRecord(macKey: Uint8Array, bytes: Buffer, id: string): UnsealedRecord {
  const nl = bytes.indexOf(0x0a);
  const seal = nl > 0 ? SEAL_LINE.exec(bytes.subarray(0, nl).toString('latin1')) : null;
  if (!seal) return { ok: false, reason: 'not sealed (not written by this agent)' };
  const body = bytes.subarray(nl + 1);
  if (!timingSafeEqual(Buffer.from(seal[1]!, 'hex'), macOf(macKey, body))) return { ok: false, reason: 'seal does not verify (changed, or sealed with another device key)' };
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const parsed = SnapshotRecordSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).slice(0, 3).join('; ') };
  if (parsed.data.id !== id) return { ok: false, reason: `names snapshot ${parsed.data.id.slice(0, 128)}` };
  return { ok: true, record: parsed.data };
}
