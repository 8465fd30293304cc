// Where each log check has read up to, kept on disk so a restart neither re-reads old lines nor skips
// the lines written while the agent was down.
import path from 'node:path';
import * as z from 'zod/mini';
import { readJsonFile, removeFile, writeJsonAtomic } from '../../system/files.js';
import type { Sysinfo } from '../../system/sysinfo.js';
import { matchNewLines } from './checks.js';

const READ_MAX_BYTES = 1024 * 1024;
const OffsetsSchema = z.record(z.string(), z.object({ path: z.string(), offset: z.int().check(z.gte(0)) }));

export interface LogWatch {
  /** New matching lines of `file` since the last call for this check (the first call only finds the end). */
  newMatches(checkId: string, file: string, pattern: RegExp): Promise<{ matches: number; lastMatch: string | null }>;
  forget(keep: ReadonlySet<string>): Promise<void>;
}

export function createLogWatch(stateDir: string, sysinfo: Pick<Sysinfo, 'tailFile'>): LogWatch {
  const file = path.join(stateDir, 'log-offsets.json');
  let offsets: z.infer<typeof OffsetsSchema> | null = null;
  const load = async () => {
    if (offsets) return offsets;
    const read = await readJsonFile(file, OffsetsSchema);
    offsets = read.status === 'ok' ? read.value : {};
    return offsets;
  };

  return {
    async newMatches(checkId, logFile, pattern) {
      const known = (await load())[checkId];
      const from = known && known.path === logFile ? known.offset : -1;
      const tail = await sysinfo.tailFile(logFile, from, READ_MAX_BYTES);
      const found = matchNewLines(tail.text, pattern);
      const start = tail.nextOffset - Buffer.byteLength(tail.text, 'utf8');
      // A full read without a newline is one huge line: skip it rather than stall on it.
      const next = found.consumed || tail.text.length < READ_MAX_BYTES ? start + found.consumed : tail.nextOffset;
      if (next !== known?.offset || known.path !== logFile) {
        offsets = { ...offsets, [checkId]: { path: logFile, offset: next } };
        await writeJsonAtomic(file, offsets);
      }
      return { matches: found.matches, lastMatch: found.lastMatch };
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
