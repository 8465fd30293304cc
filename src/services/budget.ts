// The heavy-job budget shared by every service: inventory, patch scans and backups run through one
// scheduler so that a device never does two of them at once, starts are spread by jitter (thousands of
// devices with the same policy must not all scan in the same second), their child commands run niced,
// and a policy's maintenance window can be checked with one pure function.
import type { Clock } from '../system/clock.js';
import type { CommandRunner } from '../system/exec.js';

export { WEEKDAYS, MaintenanceWindowSchema, ScheduleSchema, type MaintenanceWindow, type Schedule } from '../protocol/policies/schedule.js';
import { WEEKDAYS, type MaintenanceWindow, type Schedule } from '../protocol/policies/schedule.js';

/** true when `date` (local time) falls inside a window that opened on one of its days. */
export function inWindow(window: MaintenanceWindow, date: Date): boolean {
  const [h, m] = window.start.split(':').map(Number) as [number, number];
  // A window that opened yesterday may still be open (e.g. 23:00 for 120 min).
  for (const daysBack of [0, 1]) {
    const open = new Date(date.getFullYear(), date.getMonth(), date.getDate() - daysBack, h, m, 0, 0);
    if (!window.days.includes(WEEKDAYS[open.getDay()]!)) continue;
    const t = date.getTime();
    if (t >= open.getTime() && t < open.getTime() + window.durationMin * 60_000) return true;
  }
  return false;
}

/** A cron-lite schedule: every N hours, or daily at HH:MM (local) on some days. */


/** true when a run is due: never ran, the interval passed, or a daily slot passed since the last run. */
export function isDue(schedule: Schedule, lastRunAt: number | null, now: Date): boolean {
  if (lastRunAt === null) return true;
  if ('everyHours' in schedule) return now.getTime() - lastRunAt >= schedule.everyHours * 3_600_000;
  const slot = lastSlot(schedule, now);
  return slot !== null && slot > lastRunAt;
}

function lastSlot(schedule: { dailyAt: string; days: readonly string[] }, now: Date): number | null {
  const [h, m] = schedule.dailyAt.split(':').map(Number) as [number, number];
  for (let back = 0; back <= 7; back++) {
    const slot = new Date(now.getFullYear(), now.getMonth(), now.getDate() - back, h, m, 0, 0);
    if (slot.getTime() <= now.getTime() && schedule.days.includes(WEEKDAYS[slot.getDay()]!)) return slot.getTime();
  }
  return null;
}

export type HeavyJobResult<T> = { ran: true; value: T } | { ran: false; reason: 'stopped' | 'outside-window' };

export interface HeavyJobOptions {
  /** Largest random delay before the job queues (ms); 0 = start now. */
  maxJitterMs?: number;
  /** Checked when the job's turn comes: outside it the job does not run. */
  window?: MaintenanceWindow | null;
  /** The owning service stopped: a waiting job is dropped, a running one is told (and no longer awaited). */
  signal?: AbortSignal;
}

export interface HeavyJobScheduler {
  run<T>(name: string, work: (signal: AbortSignal) => Promise<T>, options?: HeavyJobOptions): Promise<HeavyJobResult<T>>;
  /** The job running now, if any (for status and tests). */
  running(): string | null;
  /** Cancels jitter waits and queued jobs (they resolve as 'stopped'); the running job finishes. */
  stop(): void;
}

/*
 * Invariants: at most one job's work() runs at any time (a promise chain); a job's jitter wait happens
 * before it joins the queue so waiting never blocks others; after stop() no new work starts; an aborted
 * job resolves at once as 'stopped' so a service's stop() never waits behind another service's job.
 */
/** `afterJob` runs when each job's work has ended (done or failed): the agent asks for a collection there (system/idle-gc.ts). */
export function createHeavyJobScheduler(deps: { clock: Clock; random: () => number; afterJob?: () => void }): HeavyJobScheduler {
  let tail: Promise<unknown> = Promise.resolve();
  let current: string | null = null;
  const halt = new AbortController();

  const sleep = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      if (ms <= 0 || signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      timer.unref();
      signal.addEventListener('abort', done, { once: true });
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
    });

  return {
    async run(name, work, options = {}) {
      const signal = options.signal ? AbortSignal.any([options.signal, halt.signal]) : halt.signal;
      const stoppedResult = { ran: false, reason: 'stopped' } as const;
      if (signal.aborted) return stoppedResult;
      await sleep(Math.floor(deps.random() * Math.max(0, options.maxJitterMs ?? 0)), signal);
      if (signal.aborted) return stoppedResult;
      const turn = tail.then(async (): Promise<HeavyJobResult<Awaited<ReturnType<typeof work>>>> => {
        if (signal.aborted) return stoppedResult;
        if (options.window && !inWindow(options.window, new Date(deps.clock.now()))) return { ran: false, reason: 'outside-window' };
        current = name;
        try {
          return { ran: true, value: await work(signal) };
        } finally {
          current = null;
          deps.afterJob?.();
        }
      });
      tail = turn.catch(() => undefined);
      const owner = options.signal;
      if (!owner) return turn;
      let onAbort = () => undefined as void;
      const abandoned = new Promise<typeof stoppedResult>((resolve) => {
        onAbort = () => resolve(stoppedResult);
        owner.addEventListener('abort', onAbort, { once: true });
      });
      try {
        return await Promise.race([turn, abandoned]);
      } finally {
        owner.removeEventListener('abort', onAbort);
      }
    },
    running: () => current,
    stop() {
      halt.abort();
    },
  };
}

/**
 * Wraps a runner so heavy commands run at low CPU priority (nice 10) and, where `ionice` exists,
 * best-effort low I/O priority. Windows has neither; the runner is returned as is.
 */
export function createNicedRunner(runner: CommandRunner, platform: NodeJS.Platform = process.platform): CommandRunner {
  if (platform === 'win32') return runner;
  let ionice: Promise<boolean> | undefined;
  return {
    async run(command, args, options) {
      ionice ??= platform === 'linux' ? runner.run('ionice', ['-c', '2', '-n', '7', '--', 'true'], { timeoutMs: 5_000 }).then((r) => r.code === 0) : Promise.resolve(false);
      // `--` ends each tool's options: the command and its arguments are never read as nice's or ionice's own.
      const io = (await ionice) ? ['ionice', '-c', '2', '-n', '7', '--'] : [];
      const result = await runner.run('nice', ['-n', '10', '--', ...io, command, ...args], options);
      if (result.error === 'ENOENT') return runner.run(command, args, options); // no `nice` here
      // nice/ionice exit 127/126 when the command itself cannot start: report it as the plain runner would.
      if (result.code === 127) return { code: null, stdout: result.stdout, stderr: result.stderr, error: 'ENOENT' };
      if (result.code === 126) return { code: null, stdout: result.stdout, stderr: result.stderr, error: 'EACCES' };
      return result;
    },
  };
}

export const DEFAULT_MAX_JITTER_MS = 10 * 60_000;

export interface Ticker {
  start(): void;
  /** Aborts the current period's signal and waits for a running tick. */
  stop(): Promise<void>;
  /** Aborted by stop(): hand it to the scheduler so queued heavy work of a stopped service never starts. */
  readonly signal: AbortSignal;
}

/**
 * Calls `tick` every `everyMs` (the first time one interval after start, so an agent start does not
 * begin with heavy work), never overlapping itself; stop() waits for a running tick.
 */
export function createTicker(everyMs: number, tick: () => Promise<void>, onError: (err: unknown) => void): Ticker {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let stopped = true;
  let lifetime = new AbortController();
  const fire = () => {
    if (stopped || running) return;
    running = tick().catch(onError).finally(() => {
      running = null;
      if (!stopped) schedule();
    });
  };
  const schedule = () => {
    timer = setTimeout(fire, everyMs);
    timer.unref();
  };
  return {
    get signal() {
      return lifetime.signal;
    },
    start() {
      if (!stopped) return;
      stopped = false;
      if (lifetime.signal.aborted) lifetime = new AbortController();
      schedule();
    },
    async stop() {
      stopped = true;
      lifetime.abort();
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}
