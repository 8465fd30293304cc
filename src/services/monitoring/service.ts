// The Monitoring service: one unref'd timer per check, samples from the edges (readings.ts), pure evaluation
// (checks.ts), persisted alerts (alerts.ts). A check that cannot check shows a problem and raises nothing.
import * as z from 'zod/mini';
import { createSysinfo, type Sysinfo } from '../../system/sysinfo.js';
import { systemClock } from '../../system/clock.js';
import { compileLinearPattern, type CompiledPattern } from '../../system/linear-regex.js';
import { problem, type Problem } from '../../protocol/errors.js';
import type { Alert, Policy } from '../../protocol/model.js';
import type { RmService, ServiceFactory, ServiceRuntime } from '../../agent/contracts.js';
import { MonitoringPolicySchema, type MonitoringCheck, type MonitoringPolicy } from '../../protocol/policies/monitoring.js';
import { evaluateSignal, initialSignalState, syncSignal, type SignalState } from './checks.js';
import { createAlertBook } from './alerts.js';
import { createLogWatch, LOG_MATCH_PACING } from './log-watch.js';
import type { MatchPacing } from './log-match.js';
import type { CpuCounterSample } from './cpu-window.js';
import { readCheck, type Reading } from './readings.js';
import type { Unavailable } from './unavailable.js';

const checkIdOf = (key: string) => key.split('/')[1] ?? '';
type LogCheck = Extract<MonitoringCheck, { type: 'log' }>;

const defaultPacing: MatchPacing = { ...LOG_MATCH_PACING, now: systemClock.monotonic, pause: () => new Promise((resolve) => setImmediate(resolve)) };

export const createMonitoringService: ServiceFactory = (runtime) => createMonitoringServiceWith(runtime, createSysinfo());

export function createMonitoringServiceWith(runtime: ServiceRuntime, sysinfo: Sysinfo, options: { pacing?: MatchPacing; platform?: string } = {}): RmService {
  const book = createAlertBook(runtime);
  let loaded = false;
  let generation = 0;
  let timers: NodeJS.Timeout[] = [];
  let policy: MonitoringPolicy = { checks: [] };
  let signals = new Map<string, SignalState>();
  const logWatch = createLogWatch(runtime.stateDir, sysinfo, options.pacing ?? defaultPacing, [runtime.stateDir, ...(runtime.privateDirs ?? [])]);
  const checkErrors = new Map<string, string>();
  const cannotCheck = new Map<string, Unavailable[]>();
  const patterns = new Map<string, { source: string; compiled: Promise<CompiledPattern> }>();
  const deps = {
    sysinfo,
    runner: runtime.runner,
    logWatch,
    platform: options.platform ?? process.platform,
    cpuSamples: new Map<string, CpuCounterSample[]>(),
    // The regex engine is loaded with the first log check's pattern, never before.
    pattern(check: LogCheck) {
      const source = `${check.ignoreCase ? 'i' : '-'}${check.pattern}`;
      const known = patterns.get(check.id);
      if (known?.source === source) return known.compiled;
      const compiled = compileLinearPattern(check.pattern, { ignoreCase: check.ignoreCase });
      patterns.set(check.id, { source, compiled });
      compiled.catch(() => patterns.delete(check.id));
      return compiled;
    },
  };
  let loadProblem: string | null = null;

  const ensureLoaded = async () => {
    if (loaded) return;
    loadProblem = (await book.load()).problem;
    if (loadProblem) runtime.logger.warn('monitoring alerts file unreadable; starting without active alerts', { reason: loadProblem });
    loaded = true;
  };

  const stopTimers = () => {
    generation++;
    for (const t of timers) clearInterval(t);
    timers = [];
  };

  const recordUnavailable = (check: MonitoringCheck, now: Unavailable[]) => {
    const before = JSON.stringify(cannotCheck.get(check.id) ?? []);
    if (now.length) cannotCheck.set(check.id, now);
    else cannotCheck.delete(check.id);
    if (JSON.stringify(now) === before) return;
    if (now.length) runtime.logger.warn('monitoring check cannot check', { check: check.id, problems: now });
    else runtime.logger.info('monitoring check can check again', { check: check.id });
  };

  async function tick(check: MonitoringCheck, gen: number): Promise<void> {
    const now = runtime.clock.now();
    let outcome;
    try {
      outcome = await readCheck(check, now, deps);
      checkErrors.delete(check.id);
    } catch (err) {
      checkErrors.set(check.id, (err as Error).message);
      runtime.logger.warn('monitoring check could not sample', { check: check.id, error: err });
      return;
    }
    if (gen !== generation) return;
    recordUnavailable(check, outcome.unavailable);
    for (const r of outcome.readings) {
      const prev = syncSignal(signals.get(r.key), book.isActive(r.key));
      const { state, decision } = evaluateSignal(prev, r.value, now, r.rule);
      if (decision === 'raise' && r.mayRaise === false) {
        signals.set(r.key, { ...state, active: false });
        continue;
      }
      signals.set(r.key, state);
      if (decision === 'raise') await book.raise(toAlert(check, r));
      if (decision === 'clear') await book.clear(r.key, r.clearMessage);
    }
  }

  // One sample of a check at a time: a slow source (a stuck mount, a long log) is never asked twice at once; a tick
  // that falls due meanwhile runs once when the running one ends. A timer callback never leaves a rejected promise.
  const inFlight = new Set<Promise<void>>();
  const running = new Map<string, { again: { check: MonitoringCheck; gen: number } | null }>();
  function runTick(check: MonitoringCheck, gen: number): void {
    const slot = running.get(check.id);
    if (slot) {
      slot.again = { check, gen };
      return;
    }
    const mine: { again: { check: MonitoringCheck; gen: number } | null } = { again: null };
    running.set(check.id, mine);
    const run = tick(check, gen)
      .catch((err: unknown) => {
        checkErrors.set(check.id, (err as Error).message);
        runtime.logger.warn('monitoring alert not recorded', { check: check.id, error: err });
      })
      .finally(() => {
        inFlight.delete(run);
        running.delete(check.id);
        if (mine.again && mine.again.gen === generation) runTick(mine.again.check, mine.again.gen);
      });
    inFlight.add(run);
  }

  const toAlert = (check: MonitoringCheck, r: Reading): Alert => ({
    key: r.key,
    service: 'monitoring',
    check: check.id,
    severity: check.severity,
    message: r.message.slice(0, 2048),
    value: r.value,
    threshold: r.rule.threshold,
  });

  const settle = async () => {
    while (inFlight.size) await Promise.all([...inFlight]);
  };

  return {
    name: 'monitoring',
    policySchema: MonitoringPolicySchema,
    async install() {
      await ensureLoaded();
    },
    async apply(_policy: Policy, settings: unknown) {
      await ensureLoaded();
      stopTimers();
      const gen = generation;
      policy = MonitoringPolicySchema.parse(settings);
      const ids = new Set(policy.checks.map((c) => c.id));
      for (const key of book.activeKeys()) if (!ids.has(checkIdOf(key))) await book.clear(key, 'check removed from the policy');
      await logWatch.forget(new Set(policy.checks.filter((c) => c.type === 'log').map((c) => c.id)));
      for (const id of [...cannotCheck.keys(), ...checkErrors.keys(), ...patterns.keys()]) {
        if (ids.has(id)) continue;
        cannotCheck.delete(id);
        checkErrors.delete(id);
        patterns.delete(id);
      }
      signals = new Map(book.activeKeys().map((k) => [k, initialSignalState(true)]));
      for (const check of policy.checks) {
        runTick(check, gen);
        const timer = setInterval(() => runTick(check, gen), check.intervalSec * 1000);
        timer.unref();
        timers.push(timer);
      }
    },
    async uninstall() {
      stopTimers();
      await settle();
      await ensureLoaded();
      await book.clearAll('monitoring service removed');
      await book.remove();
      await logWatch.forget(new Set());
      cannotCheck.clear();
    },
    async stop() {
      stopTimers();
      await settle();
    },
    problems(): Problem[] {
      const out = [...checkErrors].map(([id, msg]) => problem('SERVICE_FAILED', `monitoring check ${id}: ${msg}`));
      for (const [id, list] of cannotCheck) for (const u of list) out.push(problem(u.code, `check ${id}: ${u.reason}`));
      if (loadProblem) out.push(problem('SERVICE_FAILED', `monitoring alerts file was unreadable and was reset: ${loadProblem}`));
      return out;
    },
    async handleCommand(frame) {
      if (frame.type !== 'alert.ack') return undefined;
      const body = z.object({ key: z.string(), actor: z.string() }).parse(frame.body);
      if (!body.key.startsWith('monitoring/')) return undefined;
      await ensureLoaded();
      const check = policy.checks.find((c) => c.id === checkIdOf(body.key));
      // A log alert is an event: acknowledging it clears it, and the next matching line raises a new one.
      return book.ack(body.key, body.actor, check?.type === 'log');
    },
  };
}
