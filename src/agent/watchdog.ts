// The watchdog (as osquery's): a self-imposed memory and CPU budget. When the agent exceeds it, the watchdog
// records the restart, says why, and the daemon exits with WATCHDOG_EXIT_CODE so the service manager starts
// it afresh. Repeated restarts back off (startDelayMs) and show as a WATCHDOG_RESTARTS problem: never a silent loop.
import path from 'node:path';
import * as z from 'zod/mini';
import { readJsonFile, writeJsonAtomic } from '../system/files.js';
import type { Clock } from '../system/clock.js';
import { problem, type Problem } from '../protocol/errors.js';

/** EX_TEMPFAIL: "try again later"; the service units restart the agent on it. */
export const WATCHDOG_EXIT_CODE = 75;
export const WATCHDOG_FILE = 'watchdog.json';
const MAX_HISTORY = 50;
const MAX_SAMPLES = 10_000;

export interface ResourceSample {
  at: number;
  rssBytes: number;
  /** Cumulative CPU time of the process (user + system), microseconds, as process.cpuUsage() gives it. */
  cpuMicros: number;
}

export interface Budget {
  maxRssBytes: number;
  /** Average over windowMs, in percent of one core (a busy multi-threaded process can exceed 100). */
  maxCpuPercent: number;
  windowMs: number;
}

export type BudgetVerdict = { ok: true } | { ok: false; kind: 'memory' | 'cpu'; reason: string };

const mb = (bytes: number) => `${Math.round(bytes / (1024 * 1024))} MB`;
const valid = (s: ResourceSample) => [s.at, s.rssBytes, s.cpuMicros].every((n) => Number.isFinite(n) && n >= 0);

/**
 * Pure: is the agent within its budget? Memory trips on the latest sample (RSS rarely falls back by itself);
 * CPU trips when the average over a full window is above the limit (short bursts are normal). Samples are
 * in time order; invalid ones are ignored, and too few samples mean "ok".
 */
export function judgeBudget(samples: readonly ResourceSample[], budget: Budget): BudgetVerdict {
  const usable = samples.filter(valid);
  const last = usable[usable.length - 1];
  if (!last) return { ok: true };
  if (last.rssBytes > budget.maxRssBytes) {
    return { ok: false, kind: 'memory', reason: `memory ${mb(last.rssBytes)} is above the budget of ${mb(budget.maxRssBytes)}` };
  }
  // The newest sample that is at least one window older than the last: the window is fully covered.
  let first: ResourceSample | undefined;
  for (let i = usable.length - 2; i >= 0; i--) {
    if (last.at - usable[i]!.at >= budget.windowMs) {
      first = usable[i];
      break;
    }
  }
  if (!first || last.cpuMicros < first.cpuMicros) return { ok: true };
  const elapsedMs = last.at - first.at;
  if (elapsedMs <= 0) return { ok: true };
  const percent = ((last.cpuMicros - first.cpuMicros) / 1000 / elapsedMs) * 100;
  if (percent > budget.maxCpuPercent) {
    return { ok: false, kind: 'cpu', reason: `CPU ${percent.toFixed(0)}% over ${Math.round(elapsedMs / 1000)} s is above the budget of ${budget.maxCpuPercent}%` };
  }
  return { ok: true };
}

export interface RestartPolicy {
  /** Delay before starting work after the second restart within windowMs; doubles with each further one. */
  baseMs: number;
  maxMs: number;
  /** Restarts older than this are forgotten (a long healthy run resets the backoff). */
  windowMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { baseMs: 10_000, maxMs: 15 * 60_000, windowMs: 60 * 60_000 };

/** Restarts (timestamps) that still count at `now`. */
export function recentRestarts(history: readonly number[], now: number, opts: Pick<RestartPolicy, 'windowMs'>): number[] {
  return history.filter((t) => Number.isFinite(t) && t <= now && now - t <= opts.windowMs);
}

/** Pure: how long to wait before starting work. One recent restart: none; then base, 2x base, ... capped at maxMs. */
export function restartDelay(history: readonly number[], now: number, opts: RestartPolicy = DEFAULT_RESTART_POLICY): number {
  const n = recentRestarts(history, now, opts).length;
  if (n <= 1) return 0;
  return Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(n - 2, 30));
}

// Built at each read and not kept: the file is read once at start, and its schema objects would otherwise stay in
// the idle daemon's heap (docs/benchmarks.md, issue 19).
const restartSchema = () => z.strictObject({ at: z.int().check(z.nonnegative()), kind: z.enum(['memory', 'cpu']), reason: z.string().check(z.maxLength(512)) });
export type RestartRecord = z.infer<ReturnType<typeof restartSchema>>;
export const watchdogFileSchema = () => z.strictObject({ restarts: z.array(restartSchema()).check(z.maxLength(1000)) });

export interface WatchdogOptions {
  stateDir: string;
  budget: Budget;
  clock: Clock;
  intervalMs: number;
  /** Called once, after the restart is recorded on disk; the daemon reports it, stops and exits with WATCHDOG_EXIT_CODE. */
  onExceeded(reason: string, kind: 'memory' | 'cpu'): void;
  restart?: RestartPolicy;
  /** Restarts within restart.windowMs from which status shows WATCHDOG_RESTARTS (default 2). */
  problemAfter?: number;
  /** The process's own figures; injectable so a test can feed chosen values. */
  sample?: () => { rssBytes: number; cpuMicros: number };
  /** Told when watchdog.json is corrupt or cannot be written (the watchdog keeps working). */
  onWarning?: (message: string) => void;
}

export interface Watchdog {
  /** Reads the restart history and starts sampling every intervalMs. */
  start(): Promise<void>;
  stop(): void;
  /** How long the agent should wait before starting its work (backoff after repeated restarts). Valid after start(). */
  startDelayMs(): number;
  /** Restarts that still count, oldest first (for status and the server). */
  restarts(): RestartRecord[];
  problems(): Problem[];
}

const ownUsage = () => {
  const cpu = process.cpuUsage();
  return { rssBytes: process.memoryUsage().rss, cpuMicros: cpu.user + cpu.system };
};

export function createWatchdog(opts: WatchdogOptions): Watchdog {
  const file = path.join(opts.stateDir, WATCHDOG_FILE);
  const policy = opts.restart ?? DEFAULT_RESTART_POLICY;
  const problemAfter = opts.problemAfter ?? 2;
  const sample = opts.sample ?? ownUsage;
  let history: RestartRecord[] = [];
  let delay = 0;
  let samples: ResourceSample[] = [];
  let timer: NodeJS.Timeout | null = null;
  let tripped = false;

  const recent = () => {
    const now = opts.clock.now();
    return history.filter((r) => r.at <= now && now - r.at <= policy.windowMs);
  };

  // Keep the samples one window (plus one) needs, bounded in count.
  function remember(s: ResourceSample): void {
    samples.push(s);
    const keepFrom = s.at - opts.budget.windowMs * 2;
    if (samples.length > MAX_SAMPLES || (samples[0] && samples[0].at < keepFrom)) samples = samples.filter((x) => x.at >= keepFrom).slice(-MAX_SAMPLES);
  }

  async function trip(verdict: { kind: 'memory' | 'cpu'; reason: string }): Promise<void> {
    history = [...recent(), { at: opts.clock.now(), kind: verdict.kind, reason: verdict.reason.slice(0, 512) }].slice(-MAX_HISTORY);
    try {
      await writeJsonAtomic(file, { restarts: history });
    } catch (err) {
      opts.onWarning?.(`${file} not written: ${(err as Error).message}`);
    }
    opts.onExceeded(verdict.reason, verdict.kind);
  }

  function check(): void {
    if (tripped) return;
    remember({ at: opts.clock.now(), ...sample() });
    const verdict = judgeBudget(samples, opts.budget);
    if (verdict.ok) return;
    tripped = true;
    if (timer) clearInterval(timer);
    timer = null;
    void trip(verdict);
  }

  return {
    async start() {
      const read = await readJsonFile(file, watchdogFileSchema());
      if (read.status === 'invalid') opts.onWarning?.(`${file} ignored: ${read.reason}`);
      history = read.status === 'ok' ? read.value.restarts : [];
      history = recent();
      delay = restartDelay(history.map((r) => r.at), opts.clock.now(), policy);
      samples = [];
      tripped = false;
      check();
      if (!tripped) {
        timer = setInterval(check, opts.intervalMs);
        timer.unref();
      }
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
    startDelayMs: () => delay,
    restarts: () => recent(),
    problems() {
      const r = recent();
      if (r.length < problemAfter) return [];
      const last = r[r.length - 1]!;
      return [problem('WATCHDOG_RESTARTS', `${r.length} restarts in the last ${Math.round(policy.windowMs / 60_000)} min, last: ${last.reason}`)];
    },
  };
}
