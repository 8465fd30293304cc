// The page-cache state of an executable changes the RSS of every process running it: RSS counts the file
// pages a process maps, and on recent kernels a file read sequentially (a checksum, a copy, a build step) sits
// in the page cache as large folios, which a page fault then maps whole. Measured here (docs/benchmarks.md):
// the same agent 61 MB after its binary was dropped from the cache, 84 MB after a `cat` of it; the bare Node
// floor 42 vs 68 MB. So the footprint bench drops every executable it measures from the cache before each run:
// all start from the state they have after a reboot, and the ratios compare like with like.
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, fsyncSync, openSync } from 'node:fs';

/** Drops the files' clean pages from the page cache (GNU dd: `iflag=nocache count=0` = the whole file); null when done, else why not. */
export function dropFromPageCache(files: readonly string[]): string | null {
  for (const file of files) {
    try {
      execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none'], { stdio: 'ignore', timeout: 10_000 });
    } catch (err) {
      return `could not drop ${file} from the page cache (${(err as Error).message.split('\n')[0]}): its RSS depends on how it was last read`;
    }
  }
  return null;
}

/**
 * A copy of `file` of the process's own (a new inode: its pages are shared with no other process), written to disk
 * and dropped from the page cache, so the process that runs it starts cold, as after a reboot.
 */
export function privateColdCopy(file: string, dest: string): string {
  copyFileSync(file, dest);
  chmodSync(dest, 0o755);
  const fd = openSync(dest, 'r');
  try {
    fsyncSync(fd); // dirty pages cannot be dropped
  } finally {
    closeSync(fd);
  }
  const why = dropFromPageCache([dest]);
  if (why) throw new Error(why);
  return dest;
}

/** kB of `file` in the page cache (util-linux fincore), or null when that cannot be told. */
export function cachedKb(file: string): number | null {
  try {
    const out = execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8', timeout: 10_000 });
    const bytes = Number(out.trim());
    return Number.isFinite(bytes) ? bytes / 1024 : null;
  } catch {
    return null;
  }
}
