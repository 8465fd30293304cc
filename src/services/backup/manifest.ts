// A snapshot manifest and the pure decisions around it: which paths are safe to restore, which files
// a policy excludes, and which snapshots and chunks retention removes.
import path from 'node:path';
import * as z from 'zod/mini';
import { IdSchema } from '../../protocol/model.js';

const hash = z.string().check(z.regex(/^[a-f0-9]{64}$/));

export const ManifestFileSchema = z.strictObject({
  folder: z.int().check(z.nonnegative()),
  path: z.string().check(z.minLength(1), z.maxLength(4096)),
  mode: z.int().check(z.gte(0), z.lte(0o7777)),
  mtimeMs: z.int(),
  size: z.int().check(z.nonnegative()),
  sha256: hash,
  chunks: z.array(hash),
});
export type ManifestFile = z.infer<typeof ManifestFileSchema>;

export const ManifestSchema = z.strictObject({
  format: z.literal(1),
  id: IdSchema,
  createdAt: z.int().check(z.nonnegative()),
  actor: z.nullable(z.string().check(z.maxLength(128))),
  folders: z.array(z.strictObject({ path: z.string().check(z.minLength(1), z.maxLength(4096)), name: z.string().check(z.minLength(1), z.maxLength(255)) })).check(z.minLength(1)),
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

/** `base` joined with `rel`, or null when the result would leave `base`. */
export function resolveInside(base: string, rel: string): string | null {
  if (!isSafeRelativePath(rel)) return null;
  const root = path.resolve(base);
  const full = path.resolve(root, ...rel.split('/'));
  return full.startsWith(root + path.sep) ? full : null;
}

/** The manifest paths that would escape their folder (empty = safe to restore). */
export function unsafePaths(manifest: Manifest): string[] {
  return manifest.files.filter((f) => !isSafeRelativePath(f.path) || f.folder >= manifest.folders.length).map((f) => f.path);
}

/**
 * Exclude globs: `*` any run of characters but '/', `?` one such character, `**` any run of segments.
 * A pattern without '/' matches a name at any depth (like .gitignore); with '/' it matches from the folder;
 * a match also excludes everything below it. Matching is greedy with one backtrack point per level (the
 * classic wildcard algorithm), so time stays polynomial whatever the pattern: a policy cannot stall the agent.
 */
export function compileGlob(glob: string): (rel: string) => boolean {
  const trimmed = glob.replace(/^\//, '').replace(/\/$/, '');
  const anywhere = !glob.replace(/\/$/, '').includes('/');
  const segments = [...(anywhere ? ['**'] : []), ...trimmed.split('/').filter((x) => x !== ''), '**'];
  return (rel) => matchLevels(segments, rel.split('/'), (p, part) => p === '**' || matchLevels([...p.replace(/\*+/g, '*')], [...part], (c, ch) => c === '?' || c === ch, '*'), '**');
}

/** Wildcard matching of `items` against `pattern`, where `star` matches any run of items. */
function matchLevels<T>(pattern: readonly string[], items: readonly T[], one: (p: string, item: T) => boolean, star: string): boolean {
  let p = 0;
  let i = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (i < items.length) {
    if (p < pattern.length && pattern[p] === star) {
      starAt = p++;
      resumeAt = i;
    } else if (p < pattern.length && one(pattern[p]!, items[i]!)) {
      p++;
      i++;
    } else if (starAt >= 0) {
      p = starAt + 1;
      i = ++resumeAt;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === star) p++;
  return p === pattern.length;
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

/** Where a folder of a snapshot is restored: its original place, or inside `target` (by name if several). */
export function restoreBase(manifest: Manifest, folder: number, target: string | null): string {
  const f = manifest.folders[folder]!;
  if (!target) return f.path;
  return manifest.folders.length === 1 ? target : path.join(target, f.name);
}

/** Whether a file is selected by a restore request's `paths` (none = everything). */
export function selectedForRestore(rel: string, paths: readonly string[] | undefined): boolean {
  if (!paths || paths.length === 0) return true;
  return paths.some((p) => {
    const q = p.replace(/^\/+|\/+$/g, '');
    return rel === q || rel.startsWith(`${q}/`);
  });
}
