// Whether the state folder can be written right now, learned from the agent's own writes: a disk that filled
// up or went read-only shows as STATE_UNWRITABLE in `status` until the next write succeeds.
import { problem, type Problem } from '../protocol/errors.js';

const UNWRITABLE = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EIO']);

/** The errno of a failed state write, when it means the folder cannot be written. Pure. */
export function unwritableReason(err: unknown): string | null {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code && UNWRITABLE.has(code) ? `${code}: ${(err as Error).message}` : null;
}

export interface StateHealth {
  /** Runs one state write and remembers whether it worked; the write's own result or error is passed on. */
  track<T>(write: Promise<T>): Promise<T>;
  problems(): Problem[];
}

export function createStateHealth(opts: { stateDir: string; onChange?: (reason: string | null) => void }): StateHealth {
  let failing: string | null = null;
  const set = (reason: string | null) => {
    if (reason === failing) return;
    failing = reason;
    opts.onChange?.(reason);
  };
  return {
    async track(write) {
      try {
        const value = await write;
        set(null);
        return value;
      } catch (err) {
        const reason = unwritableReason(err);
        if (reason) set(reason);
        throw err;
      }
    },
    problems: () => (failing ? [problem('STATE_UNWRITABLE', `${opts.stateDir}: ${failing}`)] : []),
  };
}
