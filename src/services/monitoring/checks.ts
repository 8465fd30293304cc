// Pure evaluation of monitoring samples: raise after the condition held for its duration, clear only past
// the hysteresis margin, so a value hovering at the threshold never flaps.
export type Direction = 'above' | 'below';

export interface SignalRule {
  direction: Direction;
  threshold: number;
  /** Clear only once the value is beyond threshold -/+ margin. */
  margin: number;
  /** The condition must hold this long (ms) before a raise. */
  durationMs: number;
}

export interface SignalState {
  active: boolean;
  /** Since when the condition holds without interruption (null = it does not). */
  breachSince: number | null;
}

export type Decision = 'raise' | 'clear' | null;

/** The state a signal starts from; after a restart an active (persisted) alert starts active so it is not raised again. */
export function initialSignalState(active: boolean): SignalState {
  return { active, breachSince: null };
}

export function isBreaching(value: number, rule: SignalRule): boolean {
  return rule.direction === 'above' ? value > rule.threshold : value < rule.threshold;
}

export function isClear(value: number, rule: SignalRule): boolean {
  return rule.direction === 'above' ? value < rule.threshold - rule.margin : value > rule.threshold + rule.margin;
}

export function evaluateSignal(state: SignalState, value: number, at: number, rule: SignalRule): { state: SignalState; decision: Decision } {
  const breaching = isBreaching(value, rule);
  const breachSince = breaching ? (state.breachSince ?? at) : null;
  if (state.active) {
    if (isClear(value, rule)) return { state: { active: false, breachSince }, decision: 'clear' };
    return { state: { active: true, breachSince }, decision: null };
  }
  if (breaching && at - breachSince! >= rule.durationMs) return { state: { active: true, breachSince }, decision: 'raise' };
  return { state: { active: false, breachSince }, decision: null };
}

export interface TimedSample {
  at: number;
  value: number;
}

/** Keeps the samples of the last `windowMs` (plus the one just before, so the window is known to be covered). */
export function pushWindow(window: readonly TimedSample[], sample: TimedSample, windowMs: number): TimedSample[] {
  const next = [...window, sample];
  const from = sample.at - windowMs;
  let first = 0;
  while (first < next.length - 1 && next[first + 1]!.at <= from) first++;
  return next.slice(first);
}

/** Average over the window and whether the samples cover all of it (cpu: "average usage over durationSec"). */
export function windowAverage(window: readonly TimedSample[], now: number, windowMs: number): { average: number; covered: boolean } {
  if (!window.length) return { average: 0, covered: false };
  const average = window.reduce((sum, s) => sum + s.value, 0) / window.length;
  return { average, covered: window[0]!.at <= now - windowMs };
}

/** The disks a check watches: each filter names a mount or a path on it (longest mount prefix wins). */
export function selectMounts<T extends { mount: string }>(disks: readonly T[], filters: readonly string[]): T[] {
  if (!filters.length) return [...disks];
  const picked = new Set<T>();
  for (const filter of filters) {
    const owner = disks
      .filter((d) => filter === d.mount || d.mount === '/' || [d.mount, `${d.mount}/`, `${d.mount}\\`].some((prefix) => /[\\/]$/.test(prefix) && filter.startsWith(prefix)))
      .sort((a, b) => b.mount.length - a.mount.length)[0];
    if (owner) picked.add(owner);
  }
  return [...picked];
}

/** How many new lines match; a partial last line waits for the next read. */
export function matchNewLines(text: string, pattern: RegExp): { matches: number; lastMatch: string | null; consumed: number } {
  const end = text.lastIndexOf('\n') + 1;
  let matches = 0;
  let lastMatch: string | null = null;
  for (const line of text.slice(0, end).split('\n')) {
    if (line && pattern.test(line)) {
      matches++;
      lastMatch = line.slice(0, 512);
    }
  }
  return { matches, lastMatch, consumed: Buffer.byteLength(text.slice(0, end), 'utf8') };
}

/** Whether a system service is active, from its manager's answer (systemctl is-active / launchctl print / sc query). */
export function serviceActive(platform: string, result: { code: number | null; stdout: string }): boolean {
  if (platform === 'win32') return /STATE\s*:\s*\d+\s+RUNNING/i.test(result.stdout);
  if (platform === 'darwin') return result.code === 0 && !/state = (not running|exited)/i.test(result.stdout);
  return result.code === 0 && result.stdout.trim() === 'active';
}
