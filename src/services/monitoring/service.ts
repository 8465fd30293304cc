// The Monitoring service: one unref'd timer per check, cheap samples from sysinfo, pure evaluation
// (checks.ts), persisted alerts (alerts.ts).
import * as z from 'zod/mini';
import { createSysinfo, type Sysinfo } from '../../system/sysinfo.js';
import { problem, type Problem } from '../../protocol/errors.js';
import type { Alert, Policy } from '../../protocol/model.js';
import type { RmService, ServiceFactory, ServiceRuntime } from '../../agent/contracts.js';
import { MonitoringPolicySchema, type MonitoringCheck, type MonitoringPolicy } from '../../protocol/policies/monitoring.js';
import { evaluateSignal, initialSignalState, pushWindow, selectMounts, serviceActive, windowAverage, type SignalRule, type SignalState, type TimedSample } from './checks.js';
import { createAlertBook } from './alerts.js';
import { createLogWatch } from './log-watch.js';

/** One thing a check measured, with the rule that judges it. */
interface Reading {
  key: string;
  value: number;
  rule: SignalRule;
  message: string;
  /** false = may only clear (e.g. the cpu window is not covered yet). */
  mayRaise?: boolean;
}

export const alertKey = (checkId: string, subject?: string) => (subject ? `monitoring/${checkId}/${subject}` : `monitoring/${checkId}`);
const checkIdOf = (key: string) => key.split('/')[1] ?? '';
const fmt = (n: number) => (Math.round(n * 100) / 100).toString();

export const createMonitoringService: ServiceFactory = (runtime) => createMonitoringServiceWith(runtime, createSysinfo());

export function createMonitoringServiceWith(runtime: ServiceRuntime, sysinfo: Sysinfo): RmService {
  const book = createAlertBook(runtime);
  let loaded = false;
  let generation = 0;
  let timers: NodeJS.Timeout[] = [];
  let policy: MonitoringPolicy = { checks: [] };
  let signals = new Map<string, SignalState>();
  const cpuWindows = new Map<string, TimedSample[]>();
  const logWatch = createLogWatch(runtime.stateDir, sysinfo);
  const checkErrors = new Map<string, string>();
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

  async function read(check: MonitoringCheck, now: number): Promise<Reading[]> {
    const base = { margin: check.hysteresis, durationMs: check.durationSec * 1000 };
    switch (check.type) {
      case 'cpu': {
        const windowMs = check.durationSec * 1000;
        const window = pushWindow(cpuWindows.get(check.id) ?? [], { at: now, value: await sysinfo.cpuPercent() }, windowMs);
        cpuWindows.set(check.id, window);
        const { average, covered } = windowAverage(window, now, windowMs);
        return [{ key: alertKey(check.id), value: average, rule: { direction: 'above', threshold: check.threshold, margin: check.hysteresis, durationMs: 0 }, mayRaise: covered || windowMs === 0, message: `CPU usage averaged ${fmt(average)}% over ${check.durationSec}s (threshold ${check.threshold}%)` }];
      }
      case 'memory': {
        const m = await sysinfo.memory();
        return [{ key: alertKey(check.id), value: m.usedPercent, rule: { ...base, direction: 'above', threshold: check.threshold }, message: `Memory usage is ${fmt(m.usedPercent)}% (threshold ${check.threshold}%)` }];
      }
      case 'disk': {
        const out: Reading[] = [];
        for (const d of selectMounts(await sysinfo.disks(), check.mounts)) {
          if (check.threshold !== undefined) out.push({ key: alertKey(check.id, `used:${d.mount}`), value: d.usedPercent, rule: { ...base, direction: 'above', threshold: check.threshold }, message: `Disk ${d.mount} is ${fmt(d.usedPercent)}% full (threshold ${check.threshold}%)` });
          if (check.minFreeBytes !== undefined) out.push({ key: alertKey(check.id, `free:${d.mount}`), value: d.availableBytes, rule: { ...base, direction: 'below', threshold: check.minFreeBytes, margin: (check.minFreeBytes * check.hysteresis) / 100 }, message: `Disk ${d.mount} has ${d.availableBytes} bytes free (minimum ${check.minFreeBytes})` });
        }
        return out;
      }
      case 'online':
        return [{ key: alertKey(check.id), value: sysinfo.online() ? 1 : 0, rule: { ...base, direction: 'below', threshold: 0.5, margin: 0 }, message: 'The device has no network connection' }];
      case 'process': {
        const running = await sysinfo.processes(check.names);
        return check.names.map((name) => ({ key: alertKey(check.id, name), value: running[name] ? 1 : 0, rule: { ...base, direction: 'below' as const, threshold: 0.5, margin: 0 }, message: `Process ${name} is not running` }));
      }
      case 'service': {
        const platform = process.platform;
        const [cmd, args] = platform === 'win32' ? ['sc', ['query', check.name]] : platform === 'darwin' ? ['launchctl', ['print', `system/${check.name}`]] : ['systemctl', ['is-active', check.name]];
        const result = await runtime.runner.run(cmd, args as string[], { timeoutMs: 10_000 });
        if (result.error && result.error !== 'TIMEOUT') throw new Error(`${cmd}: ${result.error}`);
        return [{ key: alertKey(check.id), value: serviceActive(platform, result) ? 1 : 0, rule: { ...base, direction: 'below', threshold: 0.5, margin: 0 }, message: `System service ${check.name} is not active` }];
      }
      case 'log': {
        const found = await logWatch.newMatches(check.id, check.path, new RegExp(check.pattern));
        return [{ key: alertKey(check.id), value: found.matches, rule: { ...base, direction: 'above', threshold: check.threshold }, message: `${found.matches} new line(s) in ${check.path} match /${check.pattern}/${found.lastMatch ? `: ${found.lastMatch}` : ''}` }];
      }
    }
  }

  async function tick(check: MonitoringCheck, gen: number): Promise<void> {
    const now = runtime.clock.now();
    let readings: Reading[];
    try {
      readings = await read(check, now);
      checkErrors.delete(check.id);
    } catch (err) {
      checkErrors.set(check.id, (err as Error).message);
      runtime.logger.warn('monitoring check could not sample', { check: check.id, error: err });
      return;
    }
    if (gen !== generation) return;
    for (const r of readings) {
      const prev = signals.get(r.key) ?? initialSignalState(book.isActive(r.key));
      const { state, decision } = evaluateSignal(prev, r.value, now, r.rule);
      if (decision === 'raise' && r.mayRaise === false) {
        signals.set(r.key, { ...state, active: false });
        continue;
      }
      signals.set(r.key, state);
      if (decision === 'raise') await book.raise(toAlert(check, r));
      if (decision === 'clear') await book.clear(r.key, `${r.message}; back to normal`);
    }
  }

  // A timer callback must never leave a rejected promise behind (it would take the agent down).
  const inFlight = new Set<Promise<void>>();
  function runTick(check: MonitoringCheck, gen: number): void {
    const run = tick(check, gen)
      .catch((err: unknown) => {
        checkErrors.set(check.id, (err as Error).message);
        runtime.logger.warn('monitoring alert not recorded', { check: check.id, error: err });
      })
      .finally(() => inFlight.delete(run));
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
      await Promise.all([...inFlight]);
      await ensureLoaded();
      await book.clearAll('monitoring service removed');
      await book.remove();
      await logWatch.forget(new Set());
    },
    async stop() {
      stopTimers();
      await Promise.all([...inFlight]);
    },
    problems(): Problem[] {
      const out = [...checkErrors].map(([id, msg]) => problem('SERVICE_FAILED', `monitoring check ${id}: ${msg}`));
      if (loadProblem) out.push(problem('SERVICE_FAILED', `monitoring alerts file was unreadable and was reset: ${loadProblem}`));
      return out;
    },
    async handleCommand(frame) {
      if (frame.type !== 'alert.ack') return undefined;
      const body = z.object({ key: z.string(), actor: z.string() }).parse(frame.body);
      if (!body.key.startsWith('monitoring/')) return undefined;
      await ensureLoaded();
      const check = policy.checks.find((c) => c.id === checkIdOf(body.key));
      return book.ack(body.key, body.actor, check?.type === 'log');
    },
  };
}
