// Where a restore may write: never into the backup destination or the agent's state folder, nor into a folder
// that holds either (a restore there replaces the repository's own files — its config, packs, index — or the
// agent's keys, and gives the folder the snapshot's owner). Checked by the service before a job starts and again
// by the job after it resolved the destination (the job file is what the job trusts).
import path from 'node:path';
import { fsAsync as fs } from '../../system/fs-async.js';
import { RmError } from '../../protocol/errors.js';

export interface ProtectedFolder {
  path: string;
  /** What it is, for the message ("the backup destination", "the agent's state folder"). */
  what: string;
}

// The file systems macOS and Windows use by default ignore case: compare without it there.
const foldCase = process.platform === 'darwin' || process.platform === 'win32';
const norm = (p: string) => (foldCase ? p.toLowerCase() : p);

/** `inner` is `outer` or inside it (path.relative, not a string prefix: /a/bc is not inside /a/b). */
export function isSameOrInside(inner: string, outer: string): boolean {
  const rel = path.relative(norm(outer), norm(inner));
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * The path as the OS reaches it: the real path of its deepest existing folder (links resolved) with the rest
 * appended. A path whose parts cannot be read is kept as named.
 */
async function realish(p: string): Promise<string> {
  let cur = path.resolve(p);
  const rest: string[] = [];
  for (let i = 0; i < 4096; i++) {
    const real = await fs.realpath(cur).catch(() => null);
    if (real !== null) return path.join(real, ...rest.reverse());
    const up = path.dirname(cur);
    if (up === cur) break;
    rest.push(path.basename(cur));
    cur = up;
  }
  return path.resolve(p);
}

/**
 * Why writing a restore at `target` would touch a protected folder (null: it would not): the target is one of
 * them, inside one, or holds one. Both the paths as named and their real paths are compared, so neither a link
 * to the destination nor a `..` in the name gets past. `/` holds everything and is always refused.
 */
export async function restoreTargetProblem(target: string, folders: readonly ProtectedFolder[]): Promise<string | null> {
  const named = path.resolve(target);
  const real = await realish(named);
  for (const f of folders) {
    const fNamed = path.resolve(f.path);
    const fReal = await realish(fNamed);
    for (const t of new Set([named, real])) {
      for (const p of new Set([fNamed, fReal])) {
        if (isSameOrInside(t, p)) return `${target.slice(0, 200)} is ${norm(t) === norm(p) ? '' : 'inside '}${f.what} (${p.slice(0, 200)})`;
        if (isSameOrInside(p, t)) return `${target.slice(0, 200)} holds ${f.what} (${p.slice(0, 200)})`;
      }
    }
  }
  return null;
}

/**
 * Refuses (BACKUP_RESTORE_TARGET_UNSAFE) a restore that would write into or over a protected folder: with a
 * target, the target; without one (in place), each policy folder, or only its selected `paths` when named.
 */
export async function checkRestoreTarget(request: { target: string | null; paths?: readonly string[] | undefined; policyFolders: readonly string[] }, folders: readonly ProtectedFolder[]): Promise<void> {
  const roots = request.target !== null
    ? [request.target]
    : request.policyFolders.flatMap((f) => (request.paths?.length ? request.paths.map((p) => path.join(path.resolve(f), p.replace(/^[/\\]+/, ''))) : [f]));
  for (const root of roots) {
    const problem = await restoreTargetProblem(root, folders);
    if (problem) throw new RmError('BACKUP_RESTORE_TARGET_UNSAFE', problem);
  }
}

/** What no restore may touch: the destination, Backup's state folder, and the agent's state folder(s). */
export function protectedFolders(destination: string, stateDir: string, privateDirs: readonly string[]): ProtectedFolder[] {
  return [
    { path: destination, what: 'the backup destination' },
    { path: stateDir, what: 'the agent\'s state folder' },
    ...privateDirs.map((d) => ({ path: d, what: 'the agent\'s state folder' })),
  ];
}
