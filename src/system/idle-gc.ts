// One full garbage collection a little after a burst of work (an inventory, a patch scan), where the runtime exposes
// `gc` (the agent's single executables run with --expose-gc, installer/sea/build.sh). An idle agent allocates too
// little for V8 to collect its old generation again on its own: what a burst left (the inventory as objects, its
// report's JSON) otherwise stays resident until something else allocates (docs/benchmarks.md, issue 19).

export const IDLE_GC_DELAY_MS = 10_000;

/** A function that asks for one collection `delayMs` from now; a later ask moves it (one collection per burst). */
export function createIdleCollector(options: { gc?: (() => void) | undefined; delayMs?: number } = {}): () => void {
  const gc = 'gc' in options ? options.gc : runtimeGc();
  const delayMs = options.delayMs ?? IDLE_GC_DELAY_MS;
  let timer: NodeJS.Timeout | null = null;
  return () => {
    if (!gc) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      gc();
    }, delayMs);
    // Never what keeps a stopping process alive.
    timer.unref();
  };
}

// 'last-resort' is V8's collection that also compacts the old generation and gives its emptied pages back (what it does
// before an out-of-memory failure); a regular one leaves the pages the burst made the heap grow by.
const LAST_RESORT = { type: 'major', execution: 'sync', flavor: 'last-resort' } as const;

function runtimeGc(): (() => void) | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? () => (gc as (options: typeof LAST_RESORT) => void)(LAST_RESORT) : undefined;
}

/**
 * A function told the size of each large Buffer a busy job makes and drops (a backup job's decoded chunks): after
 * every `everyBytes`, one young-generation collection where the runtime exposes `gc`. Such a Buffer's memory is
 * freed only when a collection finds it dead, and V8 lets ~64 MB of it pile up before it collects on its own
 * (a restore's peak RSS: docs/benchmarks.md); a young collection of the job's small heap takes well under 1 ms.
 */
export function createBufferCollector(everyBytes: number, gc: ((options: { type: 'minor' }) => void) | undefined = runtimeMinorGc()): (bytes: number) => void {
  let made = 0;
  return (bytes) => {
    if (!gc || (made += bytes) < everyBytes) return;
    made = 0;
    gc({ type: 'minor' });
  };
}

function runtimeMinorGc(): ((options: { type: 'minor' }) => void) | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? (options) => (gc as (o: { type: 'minor' }) => void)(options) : undefined;
}
