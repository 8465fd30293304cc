// Log-check patterns run on an RE2-class engine (re2js, a pure-JS port of RE2: no native addon, so it fits the single
// executable): matching time grows linearly with the line, never exponentially as with a backtracking RegExp fed
// `^(a+)+$` and a line of a's. Loaded on first use only, so an agent whose policies have no log check never pays for
// it (~3.5 MB of RSS, docs/policies.md). Linear is not free: the cost is (line length x program size), so programs
// are capped too.
import { loadSeaModule } from './sea-module.js';
import { loadOnce } from './load-once.js';

type Re2js = typeof import('re2js');

/** Largest compiled program accepted (RE2 instructions). Typical log patterns compile to 5-200; at 500 a 4 KiB line costs <= ~15 ms. */
export const MAX_PROGRAM_SIZE = 500;

export const loadRe2js: () => Promise<Re2js> = loadOnce(async () => (await loadSeaModule<Re2js>('re2js.cjs')) ?? (await import('re2js')));

export interface LinearPattern {
  /** Whether the pattern matches anywhere in the line. */
  test(line: string): boolean;
  /** Instructions of the compiled program. */
  readonly size: number;
}

export type CompiledPattern = { ok: true; pattern: LinearPattern } | { ok: false; reason: string };

/** Compiles a pattern for linear-time matching; refuses what RE2 cannot run and programs over MAX_PROGRAM_SIZE. */
export async function compileLinearPattern(source: string, options: { ignoreCase?: boolean } = {}): Promise<CompiledPattern> {
  const { RE2JS } = await loadRe2js();
  let compiled: InstanceType<Re2js['RE2JS']>;
  try {
    compiled = RE2JS.compile(source, options.ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  const size = compiled.programSize();
  if (size > MAX_PROGRAM_SIZE) return { ok: false, reason: `it compiles to ${size} instructions, more than ${MAX_PROGRAM_SIZE} (fewer counted repeats like {100})` };
  return { ok: true, pattern: { test: (line) => compiled.test(line), size } };
}
