// Where each log check has read up to, kept on disk so a restart neither re-reads old lines nor skips the lines
// written while the agent was down. The new offset is stored before the lines are matched: a line that made the
// agent stop (or crash) while matching is never read again.
import path from 'node:path';
import * as z from 'zod/mini';
import { readJsonFile, removeFile, writeJsonAtomic } from '../../system/files.js';
import type { Sysinfo } from '../../system/sysinfo.js';
import { matchLines, splitLines, type LineMatcher, type MatchPacing } from './log-match.js';

const READ_MAX_BYTES = 1024 * 1024;
const OffsetsSchema = z.record(z.string(), z.object({ path: z.string(), offset: z.int().check(z.gte(0)), ino: z.optional(z.number()) }));

/** Matching of one read may take 2 s in slices of 10 ms (a 4 KiB line costs at most ~15 ms: MAX_PROGRAM_SIZE). */
export const LOG_MATCH_PACING: Omit<MatchPacing, 'now' | 'pause'> = { budgetMs: 2_000, sliceMs: 10 };

export interface LogScan {
  matches: number;
  lastMatch: string | null;
  /** New whole lines read. */
  lines: number;
  /** Lines not matched because the time budget ran out (they were skipped). */
  skipped: number;
}

export interface LogWatch {
  /** New matching lines of `file` since the last call for this check (the first call only finds the end). */
  newMatches(checkId: string, file: string, matcher: LineMatcher): Promise<LogScan>;
  forget(keep: ReadonlySet<string>): Promise<void>;
}

/** `privateDirs`: folders no log check may read (the agent's whole state folder: device key, registration). */
export function createLogWatch(stateDir: string, sysinfo: Pick<Sysinfo, 'readLog'>, pacing: MatchPacing, privateDirs: readonly string[] = []): LogWatch {
  const file = path.join(stateDir, 'log-offsets.json');
  let offsets: z.infer<typeof OffsetsSchema> | null = null;
  const load = async () => {
    if (offsets) return offsets;
    const read = await readJsonFile(file, OffsetsSchema);
    offsets = read.status === 'ok' ? read.value : {};
    return offsets;
  };

  return {
    async newMatches(checkId, logFile, matcher) {
      const known = (await load())[checkId];
      const from = known && known.path === logFile ? { offset: known.offset, ino: known.ino } : null;
      const chunk = await sysinfo.readLog(logFile, from, READ_MAX_BYTES, { privateDirs }).catch(async (err: { code?: string }) => {
        // A log that does not exist yet: every line it will have is new, so it is read from its start once it appears.
        if (err?.code === 'ENOENT' && (known?.path !== logFile || known.offset !== 0)) {
          offsets = { ...offsets, [checkId]: { path: logFile, offset: 0 } };
          await writeJsonAtomic(file, offsets);
        }
        throw err;
      });
      const { lines, consumed } = splitLines(chunk.bytes, chunk.bytes.length === READ_MAX_BYTES);
      const next = { path: logFile, offset: chunk.start + consumed, ino: chunk.ino };
      if (next.offset !== known?.offset || known.path !== logFile || known.ino !== chunk.ino) {
        offsets = { ...offsets, [checkId]: next };
        await writeJsonAtomic(file, offsets);
      }
      const found = await matchLines(lines, matcher, pacing);
      return { matches: found.matches, lastMatch: found.lastMatch, lines: lines.length, skipped: lines.length - found.examined };
    },
    async forget(keep) {
      const current = await load();
      const kept = Object.fromEntries(Object.entries(current).filter(([id]) => keep.has(id)));
      if (Object.keys(kept).length === Object.keys(current).length) return;
      offsets = kept;
      await (Object.keys(kept).length ? writeJsonAtomic(file, kept) : removeFile(file));
    },
  };
}
