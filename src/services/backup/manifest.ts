// A snapshot manifest and the pure decisions around it: how it is sealed (a manifest at the destination is
// untrusted input until its HMAC verifies), which paths are safe to restore and where, which files a policy
// excludes, and which snapshots and chunks retention removes.
import path from 'node:path';
import { createHmac, timingSafeEqual } from 'node:crypto';
import * as z from 'zod/mini';
import { IdSchema } from '../../protocol/model.js';
import { compileGlob } from '../../protocol/policies/glob.js';

const hash = z.string().check(z.regex(/^[a-f0-9]{64}$/));

export const ManifestFileSchema = z.strictObject({
  folder: z.int().check(z.nonnegative()),
  path: z.string().check(z.minLength(1), z.maxLength(4096), z.refine((p) => isSafeRelativePath(p), 'must be a relative path inside its folder')),
  mode: z.int().check(z.gte(0), z.lte(0o7777)),
  mtimeMs: z.int(),
  size: z.int().check(z.nonnegative()),
  sha256: hash,
  chunks: z.array(hash),
});
export type ManifestFile = z.infer<typeof ManifestFileSchema>;

// A folder's name becomes one path segment under a restore target: never '..', a separator or a drive.
const folderName = z.string().check(z.minLength(1), z.maxLength(255), z.refine((n) => isSafeRelativePath(n) && !n.includes('/') && !/^[A-Za-z]:/.test(n), 'must be one plain name'));
const absoluteFolder = z.string().check(z.minLength(1), z.maxLength(4096), z.refine((p) => !p.includes('\0') && (path.posix.isAbsolute(p) || path.win32.isAbsolute(p)), 'must be an absolute path'));

export const ManifestSchema = z.strictObject({
  format: z.literal(2),
  id: IdSchema,
  createdAt: z.int().check(z.nonnegative()),
  actor: z.nullable(z.string().check(z.maxLength(128))),
  folders: z.array(z.strictObject({ path: absoluteFolder, name: folderName })).check(z.minLength(1)),
  files: z.array(ManifestFileSchema),
  stats: z.strictObject({ files: z.int(), bytesRead: z.int(), bytesStored: z.int(), durationMs: z.int(), skipped: z.int() }),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/**
 * A manifest path must stay inside its folder wherever it is restored: relative, '/'-separated, no
 * '.', '..' or empty segments, no drive letters, backslashes or NULs.
 */
export function isSafeRelativePath(rel: string): boolean {
  if (!rel || rel.length > 4096 || rel.includes('\0') || rel.includes('\\')) return false;
  if (rel.startsWith('/') || /^[A-Za-z]:/.test(rel)) return false;
  return rel.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

// ---- sealing -------------------------------------------------------------------------------------------
// Whoever can write the destination (a share, a USB disk, another machine) can plant or edit manifests. A
// manifest is trusted only when its HMAC-SHA256, keyed with a secret that never leaves the device's state folder
// (manifest.key, 0600), verifies over its exact bytes. File layout: one header line, then the JSON.
export const MANIFEST_KEY_BYTES = 32;
const SEAL_LINE = /^rmagent-backup-manifest\/2 hmac-sha256=([0-9a-f]{64})$/;
const macOf = (key: Uint8Array, body: Buffer) => createHmac('sha256', key).update('rmagent-backup-manifest/2\n').update(body).digest();

export function sealManifest(key: Uint8Array, manifest: Manifest): Buffer {
  const body = Buffer.from(`${JSON.stringify(manifest)}\n`);
  return Buffer.concat([Buffer.from(`rmagent-backup-manifest/2 hmac-sha256=${macOf(key, body).toString('hex')}\n`), body]);
}

export type Unsealed = { ok: true; manifest: Manifest } | { ok: false; reason: string };

/** The manifest in `bytes` if it was sealed with `key`, is well-formed, is named `id` and keeps its paths inside. */
export function unsealManifest(key: Uint8Array, bytes: Buffer, id: string): Unsealed {
  const nl = bytes.indexOf(0x0a);
  const seal = nl > 0 ? SEAL_LINE.exec(bytes.subarray(0, nl).toString('latin1')) : null;
  if (!seal) return { ok: false, reason: 'not sealed (written by an older agent or not by this agent)' };
  const body = bytes.subarray(nl + 1);
  if (!timingSafeEqual(Buffer.from(seal[1]!, 'hex'), macOf(key, body))) return { ok: false, reason: 'seal does not verify (changed, or sealed with another device key)' };
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).slice(0, 3).join('; ') };
  if (parsed.data.id !== id) return { ok: false, reason: `names snapshot ${parsed.data.id.slice(0, 128)}` };
  if (unsafePaths(parsed.data).length) return { ok: false, reason: 'a path leaves its folder' };
  return { ok: true, manifest: parsed.data };
}

/** `base` joined with `rel`, or null when the result would leave `base`. */
export function resolveInside(base: string, rel: string): string | null {
  if (!isSafeRelativePath(rel)) return null;
  const root = path.resolve(base);
  const full = path.resolve(root, ...rel.split('/'));
  // Not `startsWith(root + sep)`: with `/` as the folder (a whole-system policy) that is `//`, and nothing matched.
  const inside = path.relative(root, full);
  return inside !== '' && inside !== '..' && !inside.startsWith(`..${path.sep}`) && !path.isAbsolute(inside) ? full : null;
}

/** The manifest paths that would escape their folder (empty = safe to restore). */
export function unsafePaths(manifest: Manifest): string[] {
  return manifest.files.filter((f) => !isSafeRelativePath(f.path) || f.folder >= manifest.folders.length).map((f) => f.path);
}

export function createExcluder(globs: readonly string[]): (rel: string) => boolean {
  const matchers = globs.map(compileGlob);
  return (rel) => matchers.some((matches) => matches(rel));
}

/** Retention: keep the newest `keep` snapshots; the rest go, and so do chunks no kept snapshot uses. */
export function planRetention(
  snapshots: readonly Pick<Manifest, 'id' | 'createdAt' | 'files'>[],
  allChunks: readonly string[],
  keep: number,
): { removeSnapshots: string[]; removeChunks: string[] } {
  const newestFirst = [...snapshots].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
  const kept = newestFirst.slice(0, Math.max(1, keep));
  const referenced = new Set(kept.flatMap((s) => s.files.flatMap((f) => f.chunks)));
  return { removeSnapshots: newestFirst.slice(kept.length).map((s) => s.id), removeChunks: allChunks.filter((c) => !referenced.has(c)) };
}

/**
 * Where a folder of a snapshot is restored: inside `target` (by name when there are several), or, without a
 * target, back in its original place only when the current policy still names that folder. The manifest never
 * chooses where a restore writes; null means "give a target".
 */
export function restoreBase(manifest: Manifest, folder: number, target: string | null, policyFolders: readonly string[]): string | null {
  const f = manifest.folders[folder];
  if (!f) return null;
  if (target) return manifest.folders.length === 1 ? target : path.join(target, f.name);
  const original = policyFolders.find((p) => path.resolve(p) === path.resolve(f.path));
  return original === undefined ? null : path.resolve(original);
}

/** The newest snapshot, by createdAt then id (only ever over sealed manifests). */
export function newestSnapshot<T extends Pick<Manifest, 'id' | 'createdAt'>>(snapshots: readonly T[]): T | null {
  return [...snapshots].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))[0] ?? null;
}

/** Whether a file is selected by a restore request's `paths` (none = everything). */
export function selectedForRestore(rel: string, paths: readonly string[] | undefined): boolean {
  if (!paths || paths.length === 0) return true;
  return paths.some((p) => {
    const q = p.replace(/^\/+|\/+$/g, '');
    return rel === q || rel.startsWith(`${q}/`);
  });
}
