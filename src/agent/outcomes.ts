// Final outcomes of commands that must reach the server even when the connection or the agent does not survive
// until the ack is sent: a command that ran for long (a backup, a restore, a patch install), one whose outcome
// was known only after the session closed, and one a service settles later (a backup job that outlived the agent
// that started it, services/backup/job-launcher.ts). Each is written here (temp file, fsync, rename) before its
// ack is sent, sent again after every welcome, and dropped once the server has confirmed it: a report.ack that
// covers a report appended after the ack went out on the same connection (the server commits acks and reports
// of a connection in arrival order, so the ack is committed too). The server records only the first final ack of
// a command (later copies change nothing), so resending is safe.
import path from 'node:path';
import * as z from 'zod/mini';
import { IdSchema } from '../protocol/model.js';
import { readJsonFile, writeJsonAtomic } from '../system/files.js';
import type { Clock } from '../system/clock.js';
import type { Logger } from '../log.js';

export const OUTCOMES_FILE = 'outcomes.json';
/** Bounds: a device that stays offline for weeks keeps the newest outcomes, not an ever-growing file. */
export const MAX_OUTCOMES = 256;
export const MAX_OUTCOME_AGE_MS = 30 * 24 * 3_600_000;

// Built at each read and not kept: the file is read once at start, and its schema objects would otherwise stay in
// the idle daemon's heap (docs/benchmarks.md, issue 19).
const outcomeSchema = () => z.strictObject({
  commandId: IdSchema,
  status: z.enum(['done', 'failed', 'rejected']),
  reason: z.optional(z.strictObject({ code: z.string().check(z.maxLength(64)), message: z.string().check(z.maxLength(2048)) })),
  at: z.int().check(z.nonnegative()),
});
export type StoredOutcome = z.infer<ReturnType<typeof outcomeSchema>>;
const fileSchema = () => z.strictObject({ v: z.literal(1), outcomes: z.array(outcomeSchema()) });

export interface OutcomeJournal {
  /** Durably records a final outcome (replacing an earlier one of the same command). */
  record(outcome: Omit<StoredOutcome, 'at'>): Promise<void>;
  /** Outcomes the server has not confirmed yet, oldest first. */
  unconfirmed(): Promise<StoredOutcome[]>;
  /** The server has these outcomes: they are not sent again. */
  confirm(commandIds: readonly string[]): Promise<void>;
}

/** What to keep: newest per command, within the age and count bounds. Pure. */
export function trimOutcomes(outcomes: readonly StoredOutcome[], now: number): StoredOutcome[] {
  const byId = new Map<string, StoredOutcome>();
  for (const o of outcomes) if (now - o.at <= MAX_OUTCOME_AGE_MS) byId.set(o.commandId, o);
  return [...byId.values()].sort((a, b) => a.at - b.at).slice(-MAX_OUTCOMES);
}

export function createOutcomeJournal(opts: { stateDir: string; clock: Clock; logger: Logger }): OutcomeJournal {
  const file = path.join(opts.stateDir, OUTCOMES_FILE);
  let cache: StoredOutcome[] | null = null;
  // One change at a time: record and confirm read-modify-write the same file.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };
  const load = async (): Promise<StoredOutcome[]> => {
    if (cache) return cache;
    const read = await readJsonFile(file, fileSchema());
    if (read.status === 'invalid') opts.logger.warn('command outcomes unreadable; starting empty', { reason: read.reason });
    cache = read.status === 'ok' ? read.value.outcomes : [];
    return cache;
  };
  const save = async (outcomes: StoredOutcome[]) => {
    cache = trimOutcomes(outcomes, opts.clock.now());
    await writeJsonAtomic(file, { v: 1, outcomes: cache });
  };
  return {
    record: (outcome) => serial(async () => save([...(await load()), { ...outcome, at: opts.clock.now() }])),
    unconfirmed: () => serial(async () => [...(await load())]),
    confirm: (ids) =>
      serial(async () => {
        const drop = new Set(ids);
        const current = await load();
        if (current.some((o) => drop.has(o.commandId))) await save(current.filter((o) => !drop.has(o.commandId)));
      }),
  };
}
