// An append-only file of lines: an append resolves once its line is durable, and the appends that arrive while a
// write+datasync is in flight share the next one (group commit). The file is opened per batch, not held open:
// a state folder with a file open for writing cannot be remounted read-only (the kernel answers EBUSY), and on
// Windows an open handle blocks the rename of a rewrite; it costs two syscalls per batch.
//
// Invariants:
// - One pump does all file work in order, so a rewrite never races an append and lines land in call order.
// - After a failed write or sync the file may end in a torn line: the next turn rewrites the whole file from
//   snapshot() before anything is appended again, so a good line is never glued to a torn one.
// - The caller's snapshot() must return every line appended so far (its live set, in memory before append() is
//   called): a rewrite then makes the appends queued before it durable too, and they resolve with it.
// - A rewrite is atomic (writeFileAtomic: temp file, fsync, rename, fsync dir): a crash leaves the old file, whole
//   up to its last synced line, or the new one.
import { fsAsync as fs } from './fs-async.js';
import path from 'node:path';
import { PRIVATE_FILE_MODE, removeFile, writeFileAtomic } from './files.js';

export interface LineJournal {
  /** The file's text, or undefined when there is none; removes temp files left by a rewrite a crash cut short. */
  read(): Promise<string | undefined>;
  /** Appends one line (no newline in it); resolves once it is durable. */
  append(line: string): Promise<void>;
  /** Replaces the file by snapshot() and reopens it for appending; resolves once durable, with the appends it covers. */
  rewrite(): Promise<void>;
  /** Lines in the file: those of the last rewrite plus those appended since. */
  lines(): number;
  /** Finishes pending work; later appends and rewrites are refused. */
  close(): Promise<void>;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

export function createLineJournal(opts: { file: string; snapshot: () => string[]; mode?: number }): LineJournal {
  const { file, snapshot } = opts;
  const mode = opts.mode ?? PRIVATE_FILE_MODE;
  let lineCount = 0;
  // True until the first rewrite, and after any failure: the file must be rewritten before the next append.
  let mustRewrite = true;
  let queued: string[] = [];
  let appendWaiters: Waiter[] = [];
  let rewriteWaiters: Waiter[] = [];
  let closeWaiters: Waiter[] = [];
  let closed = false;
  let pumping = false;

  const settle = (waiters: Waiter[], err?: unknown) => {
    for (const w of waiters) if (err === undefined) w.resolve(); else w.reject(err);
  };

  async function appendTurn(): Promise<void> {
    const lines = queued;
    const waiters = appendWaiters;
    queued = [];
    appendWaiters = [];
    try {
      // The mode only applies if the file vanished since the last rewrite (then created private again).
      const handle = await fs.open(file, 'a', mode);
      try {
        const text = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
        await handle.writeAll(text, 0, text.length, null);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      lineCount += lines.length;
      settle(waiters);
    } catch (err) {
      mustRewrite = true;
      settle(waiters, err);
    }
  }

  async function rewriteTurn(): Promise<void> {
    // Everything queued so far is in the caller's memory, hence in the snapshot taken now.
    const waiters = [...appendWaiters, ...rewriteWaiters];
    queued = [];
    appendWaiters = [];
    rewriteWaiters = [];
    try {
      const lines = snapshot();
      await writeFileAtomic(file, lines.length ? `${lines.join('\n')}\n` : '', mode);
      lineCount = lines.length;
      mustRewrite = false;
      settle(waiters);
    } catch (err) {
      mustRewrite = true;
      settle(waiters, err);
    }
  }

  async function pump(): Promise<void> {
    if (pumping) return;
    pumping = true;
    try {
      // Each turn takes all that is waiting; bounded because every turn empties the queues it serves.
      for (;;) {
        if (rewriteWaiters.length || (queued.length && mustRewrite)) await rewriteTurn();
        else if (queued.length) await appendTurn();
        else if (closeWaiters.length) {
          const waiters = closeWaiters;
          closeWaiters = [];
          settle(waiters);
        } else return;
      }
    } finally {
      pumping = false;
    }
  }

  const closedError = () => new Error(`${file}: the journal is closed`);

  return {
    async read() {
      await removeStrayTemps(file);
      try {
        return await fs.readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    },
    append(line) {
      if (closed) return Promise.reject(closedError());
      return new Promise<void>((resolve, reject) => {
        queued.push(line);
        appendWaiters.push({ resolve, reject });
        void pump();
      });
    },
    rewrite() {
      if (closed) return Promise.reject(closedError());
      return new Promise<void>((resolve, reject) => {
        rewriteWaiters.push({ resolve, reject });
        void pump();
      });
    },
    lines: () => lineCount,
    close() {
      closed = true;
      return new Promise<void>((resolve, reject) => {
        closeWaiters.push({ resolve, reject });
        void pump();
      });
    },
  };
}

/** Removes `.NAME.<12 hex>.tmp` files next to `file`: what writeFileAtomic leaves when a crash cuts it short. */
export async function removeStrayTemps(file: string): Promise<void> {
  const dir = path.dirname(file);
  const prefix = `.${path.basename(file)}.`;
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (name.startsWith(prefix) && /^[0-9a-f]{12}\.tmp$/.test(name.slice(prefix.length))) await removeFile(path.join(dir, name));
  }
}
