// Remembers the ids of commands already accepted, on disk, so a replay is refused even after a restart.
// Ids older than the command window are pruned: such a command is refused as expired anyway.
import { z } from 'zod';
import { readJsonFile, writeJsonAtomic } from '../system/files.js';
import type { Clock } from '../system/clock.js';

const ReplayFileSchema = z.object({ v: z.literal(1), seen: z.record(z.string(), z.number().int().nonnegative()) }).strict();

export interface ReplayGuard {
  open(): Promise<void>;
  seen(id: string): boolean;
  /** Records an accepted command id with its timestamp; resolves once it is on disk. */
  remember(id: string, ts: number): Promise<void>;
  /** Why the file could not be read at open (it is then started afresh), or null. */
  problem(): string | null;
}

/** Keeps ids whose timestamp is within the window of `now` (twice the window: a command may come from the future). Pure. */
export function pruneSeen(seen: Readonly<Record<string, number>>, now: number, windowMs: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [id, ts] of Object.entries(seen)) if (Math.abs(now - ts) <= windowMs) out[id] = ts;
  return out;
}

export function createReplayGuard(opts: { file: string; windowMs: number; clock: Clock }): ReplayGuard {
  let seen = new Map<string, number>();
  let openProblem: string | null = null;
  let writing: Promise<void> = Promise.resolve();

  return {
    async open() {
      const read = await readJsonFile(opts.file, ReplayFileSchema);
      openProblem = read.status === 'invalid' ? read.reason : null;
      const kept = read.status === 'ok' ? pruneSeen(read.value.seen, opts.clock.now(), opts.windowMs) : {};
      seen = new Map(Object.entries(kept));
    },
    seen: (id) => seen.has(id),
    remember(id, ts) {
      seen.set(id, ts);
      seen = new Map(Object.entries(pruneSeen(Object.fromEntries(seen), opts.clock.now(), opts.windowMs)));
      // Writes are chained so an older snapshot never lands after a newer one.
      const snapshot = { v: 1 as const, seen: Object.fromEntries(seen) };
      writing = writing.catch(() => undefined).then(() => writeJsonAtomic(opts.file, snapshot));
      return writing;
    },
    problem: () => openProblem,
  };
}
