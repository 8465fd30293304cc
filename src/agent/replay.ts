// Remembers the ids of commands already accepted, on disk, so a replay is refused even after a restart.
// Ids older than the command window are pruned: such a command is refused as expired anyway.
// Times are the server's: an id is kept with its command's signed ts and pruned by the server clock the
// connection checks the window with (server-time.ts), so no step of the device's wall clock can make the guard
// forget an id the window would still accept. Before this process's first handshake the server's time is unknown
// and nothing is pruned (no command is taken before one either). Journals of earlier agents hold the ts minus the
// skew then measured (device time): read as server time they are off by that skew, which matters only on a device
// more than the window off the server, for the window after the upgrade.
//
// On disk: replay.jsonl next to the configured replay.json, one {"id","ts"} line per accepted command
// (system/journal.ts). remember appends a line and resolves once it is durable: one write and one datasync per
// command whatever the number of ids, shared by the commands that arrive meanwhile.
// Invariants (a kill -9 between any two steps loses no id that was acked as accepted):
// - an id is in memory before its line is queued, and every rewrite writes the whole live set from memory;
// - open reads the journal and a replay.json of the earlier whole-file format, writes their live union as a fresh
//   journal, and deletes replay.json only once that journal is durable;
// - a line that does not parse was never acknowledged (acks wait for the datasync of the whole line): skipped.
import * as z from 'zod/mini';
import { IdSchema } from '../protocol/model.js';
import { RmError } from '../protocol/errors.js';
import { readJsonFile, removeFile } from '../system/files.js';
import { createLineJournal } from '../system/journal.js';

/** The server's time as the connection estimates it, or null while unknown (a Clock also fits). */
export interface GuardClock {
  now(): number | null;
}

/** The whole-file format before the journal; read once at open, folded in, then removed. */
const LegacyFileSchema = z.strictObject({ v: z.literal(1), seen: z.record(z.string(), z.int().check(z.nonnegative())) });
const JournalLineSchema = z.strictObject({ id: IdSchema, ts: z.int().check(z.nonnegative()) });
const JournalLinesSchema = z.array(JournalLineSchema);
/** Below this many ids the memory is not pruned (pruning is O(n), so it runs when the map doubled). */
const PRUNE_MIN = 1_024;

export interface ReplayGuard {
  open(): Promise<void>;
  seen(id: string): boolean;
  /** Records an accepted command id with its timestamp; resolves once it is on disk. */
  remember(id: string, ts: number): Promise<void>;
  /** What was wrong with the files at open (unreadable lines skipped, a corrupt replay.json dropped), or null. */
  problem(): string | null;
  /** Waits for pending remembers and closes the journal; remember is refused afterwards. */
  close(): Promise<void>;
}

/** The journal that replaces `file` (the earlier whole-file replay.json): replay.jsonl. */
export function journalPathOf(file: string): string {
  return `${file.replace(/\.json$/, '')}.jsonl`;
}

/** Keeps ids whose timestamp is within the window of `now` (twice the window: a command may come from the future). Pure. */
export function pruneSeen(seen: Readonly<Record<string, number>>, now: number, windowMs: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [id, ts] of Object.entries(seen)) if (Math.abs(now - ts) <= windowMs) out[id] = ts;
  return out;
}

export const journalLine = (id: string, ts: number): string => JSON.stringify({ id, ts });

/** The ids of a journal's text; a line that is not a valid entry is counted, except a torn last one (no newline). Pure. */
export function parseJournal(text: string): { seen: Map<string, number>; skipped: number } {
  const lines = text.split('\n');
  const tail = lines.pop() ?? '';
  let skipped = 0;
  const values: unknown[] = [];
  for (const line of lines) {
    if (!line.trim()) continue;
    try {
      values.push(JSON.parse(line));
    } catch {
      skipped += 1;
    }
  }
  // One validation of the whole array is several times faster at start than one per line; per line only on failure.
  const all = JournalLinesSchema.safeParse(values);
  const entries = all.success ? all.data : values.flatMap((v) => {
    const one = JournalLineSchema.safeParse(v);
    if (!one.success) skipped += 1;
    return one.success ? [one.data] : [];
  });
  // A crash mid-append leaves a partial last line; it was never acked, so it is dropped silently (or kept if whole).
  if (tail.trim()) {
    try {
      const last = JournalLineSchema.safeParse(JSON.parse(tail));
      if (last.success) entries.push(last.data);
    } catch {
      // torn
    }
  }
  const seen = new Map<string, number>();
  for (const { id, ts } of entries) seen.set(id, Math.max(ts, seen.get(id) ?? 0));
  return { seen, skipped };
}

/** Rewrite when the journal holds many more lines than live ids (compaction); bounded size at O(1) amortised cost. Pure. */
export function needsCompaction(lines: number, live: number): boolean {
  return lines > 2 * live + 1_000;
}

export function createReplayGuard(opts: { file: string; windowMs: number; clock: GuardClock }): ReplayGuard {
  const { clock, windowMs } = opts;
  const journalFile = journalPathOf(opts.file);
  let seen = new Map<string, number>();
  let pruneAt = PRUNE_MIN;
  let openProblem: string | null = null;
  let opened = false;
  let compacting = false;

  // Unknown time: every id counts as live (kept, and seen).
  const live = (ts: number, now = clock.now()) => now === null || Math.abs(now - ts) <= windowMs;
  const prune = () => {
    const now = clock.now();
    if (now === null) return;
    const kept = new Map<string, number>();
    for (const [id, ts] of seen) if (live(ts, now)) kept.set(id, ts);
    seen = kept;
    pruneAt = Math.max(PRUNE_MIN, 2 * seen.size);
  };
  const journal = createLineJournal({
    file: journalFile,
    snapshot: () => {
      prune();
      return [...seen].map(([id, ts]) => journalLine(id, ts));
    },
  });
  const unwritable = (err: unknown) => new RmError('STATE_UNWRITABLE', `${journalFile}: ${(err as Error).message ?? String(err)}`);

  // The journal is compacted when it holds many more lines than live ids. Counting live ids is an O(n) prune, so
  // it runs only once the journal could need it and at least half the live set was appended since the last one.
  let checkAt = 0;
  const scheduleCheck = (lines: number) => { checkAt = Math.max(2 * seen.size + 1_001, lines + Math.ceil(seen.size / 2)); };
  // Off the critical path: asked for once the command that crossed the line is durable; the remembers that
  // arrive during the rewrite are covered by it.
  function maybeCompact(): void {
    const lines = journal.lines();
    if (compacting || lines < checkAt) return;
    prune();
    if (!needsCompaction(lines, seen.size)) return scheduleCheck(lines);
    compacting = true;
    // A failed rewrite leaves the journal marked for a rewrite before its next append; nothing is lost.
    void journal.rewrite().catch(() => undefined).finally(() => {
      compacting = false;
      scheduleCheck(journal.lines());
    });
  }

  return {
    async open() {
      const problems: string[] = [];
      const legacy = await readJsonFile(opts.file, LegacyFileSchema);
      if (legacy.status === 'invalid') problems.push(`${opts.file} dropped: ${legacy.reason}`);
      let text: string | undefined;
      try {
        text = await journal.read();
      } catch (err) {
        problems.push(`${journalFile} unreadable, started afresh: ${(err as Error).message}`);
      }
      const parsed = parseJournal(text ?? '');
      if (parsed.skipped) problems.push(`${journalFile}: ${parsed.skipped} unreadable line(s) skipped`);
      seen = parsed.seen;
      if (legacy.status === 'ok') {
        let bad = 0;
        for (const [id, ts] of Object.entries(legacy.value.seen)) {
          if (IdSchema.safeParse(id).success) seen.set(id, Math.max(ts, seen.get(id) ?? 0));
          else bad += 1;
        }
        if (bad) problems.push(`${opts.file}: ${bad} invalid id(s) skipped`);
      }
      opened = true;
      try {
        await journal.rewrite();
        // Left in place it would only be folded in again at the next open.
        if (legacy.status !== 'missing') await removeFile(opts.file).catch((err: Error) => problems.push(`${opts.file} could not be removed: ${err.message}`));
      } catch (err) {
        // Not fatal: the journal stays marked for a rewrite, which the next remember retries before appending.
        problems.push(`${journalFile} could not be written: ${(err as Error).message}`);
      }
      scheduleCheck(journal.lines());
      openProblem = problems.length ? problems.join('; ') : null;
    },
    seen(id) {
      const ts = seen.get(id);
      return ts !== undefined && live(ts);
    },
    async remember(id, ts) {
      if (!opened) throw new RmError('INTERNAL', 'the replay guard was used before open()');
      const entry = JournalLineSchema.safeParse({ id, ts });
      if (!entry.success) throw new RmError('FRAME_INVALID', `command id or timestamp cannot be remembered: ${entry.error.issues[0]?.message ?? 'invalid'}`);
      seen.set(id, ts);
      if (seen.size >= pruneAt) prune();
      try {
        await journal.append(journalLine(id, ts));
      } catch (err) {
        // Not durable, so never acknowledged nor run: forget it, so the server's resend is taken once the disk is back.
        if (seen.get(id) === ts) seen.delete(id);
        throw unwritable(err);
      }
      maybeCompact();
    },
    problem: () => openProblem,
    close: () => journal.close(),
  };
}
