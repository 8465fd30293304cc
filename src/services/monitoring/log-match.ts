// Splitting a chunk of a log into whole lines, and matching them within a time budget in short slices, so that
// one log check never holds the event loop (IPC, heartbeats, commands) for more than a slice.

/** A line is matched on its first LINE_MAX_CHARS characters: bounds the cost of one match. */
export const LINE_MAX_CHARS = 4096;

export interface SplitLines {
  lines: string[];
  /** Bytes of the chunk taken (up to its last newline); a partial last line waits for the next read. */
  consumed: number;
}

/** Whole lines of a chunk, each cut to LINE_MAX_CHARS. A full read without a newline is one huge line: skipped. Pure. */
export function splitLines(bytes: Buffer, fullRead: boolean): SplitLines {
  const end = bytes.lastIndexOf(0x0a) + 1;
  if (end === 0) return { lines: [], consumed: fullRead ? bytes.length : 0 };
  const lines = bytes.toString('utf8', 0, end - 1).split('\n').filter((l) => l.length > 0);
  return { lines: lines.map((l) => (l.length > LINE_MAX_CHARS ? l.slice(0, LINE_MAX_CHARS) : l)), consumed: end };
}

export interface LineMatcher {
  test(line: string): boolean;
}

export interface MatchPacing {
  /** Total time (ms) the matching of one read may take; the lines left after it are skipped. */
  budgetMs: number;
  /** Time (ms) after which the event loop gets a turn. */
  sliceMs: number;
  now(): number;
  /** Gives the event loop a turn (setImmediate). */
  pause(): Promise<void>;
}

export interface MatchResult {
  matches: number;
  lastMatch: string | null;
  /** Lines examined; fewer than given when the budget ran out. */
  examined: number;
}

export async function matchLines(lines: readonly string[], matcher: LineMatcher, pacing: MatchPacing): Promise<MatchResult> {
  let matches = 0;
  let lastMatch: string | null = null;
  let spent = 0;
  let sliceStart = pacing.now();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (matcher.test(line)) {
      matches++;
      lastMatch = line.slice(0, 512);
    }
    const now = pacing.now();
    if (now - sliceStart >= pacing.sliceMs || i === lines.length - 1) {
      spent += now - sliceStart;
      if (spent >= pacing.budgetMs && i < lines.length - 1) return { matches, lastMatch, examined: i + 1 };
      if (i < lines.length - 1) await pacing.pause();
      sliceStart = pacing.now();
    }
  }
  return { matches, lastMatch, examined: lines.length };
}
