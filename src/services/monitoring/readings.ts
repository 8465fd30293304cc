// What each check measures now: readings (a value and the rule that judges it) or, where its source cannot be read,
// "cannot check" (unavailable.ts). The samples come from the sysinfo edge and the command runner.
import type { Sysinfo } from '../../system/sysinfo.js';
import type { CommandRunner } from '../../system/exec.js';
import type { CompiledPattern } from '../../system/linear-regex.js';
import type { MonitoringCheck } from '../../protocol/policies/monitoring.js';
import type { SignalRule } from './checks.js';
import { pushCounters, windowAverage, type CpuCounterSample } from './cpu-window.js';
import type { LogWatch } from './log-watch.js';
import { readServiceAnswer, serviceQuery } from './service-answer.js';
import { unavailableFrom, type Unavailable } from './unavailable.js';

/** One thing a check measured, with the rule that judges it. */
export interface Reading {
  key: string;
  value: number;
  rule: SignalRule;
  /** Says what is wrong (the alert's message). */
  message: string;
  /** Says that it is over (the clear's message). */
  clearMessage: string;
  /** false = may only clear (e.g. the cpu window is not covered yet). */
  mayRaise?: boolean;
}

export interface Outcome {
  readings: Reading[];
  /** What could not be checked; with no readings, the whole check (no alert is raised or cleared for it). */
  unavailable: Unavailable[];
}

export interface ReadingDeps {
  sysinfo: Sysinfo;
  runner: CommandRunner;
  logWatch: LogWatch;
  platform: string;
  /** The compiled pattern of a log check (compiled once per pattern). */
  pattern(check: Extract<MonitoringCheck, { type: 'log' }>): Promise<CompiledPattern>;
  /** The cpu check's counter samples, kept between readings. */
  cpuSamples: Map<string, CpuCounterSample[]>;
}

export const alertKey = (checkId: string, subject?: string) => (subject ? `monitoring/${checkId}/${subject}` : `monitoring/${checkId}`);
const fmt = (n: number) => (Math.round(n * 100) / 100).toString();
const ok = (readings: Reading[]): Outcome => ({ readings, unavailable: [] });
const cannot = (u: Unavailable): Outcome => ({ readings: [], unavailable: [u] });

/** Runs an edge call; its "cannot check" errors become an outcome, other errors are thrown on (a real fault). */
async function guarded(subject: string, work: () => Promise<Outcome>): Promise<Outcome> {
  try {
    return await work();
  } catch (err) {
    const u = unavailableFrom(err, subject);
    if (u) return cannot(u);
    throw err;
  }
}

export async function readCheck(check: MonitoringCheck, now: number, deps: ReadingDeps): Promise<Outcome> {
  const base = { margin: check.hysteresis, durationMs: check.durationSec * 1000 };
  switch (check.type) {
    case 'cpu': {
      const counters = deps.sysinfo.cpuCounters();
      if (!counters) return cannot({ code: 'CHECK_SOURCE_UNAVAILABLE', reason: 'the OS gives no CPU time counters' });
      const windowMs = check.durationSec * 1000;
      const samples = pushCounters(deps.cpuSamples.get(check.id) ?? [], { at: now, ...counters }, windowMs);
      deps.cpuSamples.set(check.id, samples);
      const average = windowAverage(samples, windowMs, Math.min(1000, (check.intervalSec * 1000) / 4));
      if (!average) return ok([]);
      const over = `averaged ${fmt(average.percent)}% over the last ${check.durationSec}s (threshold ${check.threshold}%)`;
      return ok([{ key: alertKey(check.id), value: average.percent, rule: { direction: 'above', threshold: check.threshold, margin: check.hysteresis, durationMs: 0 }, mayRaise: average.covered, message: `CPU usage ${over}`, clearMessage: `CPU usage is back to normal: ${over}` }]);
    }
    case 'memory': {
      const m = await deps.sysinfo.memory();
      const is = `${fmt(m.usedPercent)}% (threshold ${check.threshold}%)`;
      return ok([{ key: alertKey(check.id), value: m.usedPercent, rule: { ...base, direction: 'above', threshold: check.threshold }, message: `Memory usage is ${is}`, clearMessage: `Memory usage is back to normal: ${is}` }]);
    }
    case 'disk':
      return readDisks(check, base, deps.sysinfo);
    case 'online': {
      const rule: SignalRule = { ...base, direction: 'below', threshold: 0.5, margin: 0 };
      return ok([{ key: alertKey(check.id), value: deps.sysinfo.online() ? 1 : 0, rule, message: 'The device has no network connection', clearMessage: 'The device is back online' }]);
    }
    case 'process':
      return guarded('the process list (/proc)', async () => {
        const running = await deps.sysinfo.processes(check.names, check.match);
        const rule: SignalRule = { ...base, direction: 'below', threshold: 0.5, margin: 0 };
        return ok(check.names.map((name) => ({
          key: alertKey(check.id, name),
          value: running[name] ? 1 : 0,
          rule,
          message: check.match === 'name' ? `Process ${name} is not running` : `No process runs with the command line ${name}`,
          clearMessage: check.match === 'name' ? `Process ${name} is running again` : `A process with the command line ${name} is running again`,
        })));
      });
    case 'service': {
      const { command, args } = serviceQuery(deps.platform, check.name);
      const answer = readServiceAnswer(deps.platform, await deps.runner.run(command, args, { timeoutMs: 10_000 }));
      if (answer.kind === 'unavailable') return cannot({ code: answer.code, reason: answer.reason });
      const rule: SignalRule = { ...base, direction: 'below', threshold: 0.5, margin: 0 };
      const state = answer.kind === 'inactive' ? ` (${answer.state})` : '';
      return ok([{ key: alertKey(check.id), value: answer.kind === 'active' ? 1 : 0, rule, message: `System service ${check.name} is not active${state}`, clearMessage: `System service ${check.name} is active again` }]);
    }
    case 'log': {
      const compiled = await deps.pattern(check);
      if (!compiled.ok) return cannot({ code: 'CHECK_PATTERN_REFUSED', reason: `/${check.pattern}/: ${compiled.reason}` });
      return guarded(check.path, async () => {
        const found = await deps.logWatch.newMatches(check.id, check.path, compiled.pattern);
        const what = `${check.path} match /${check.pattern}/`;
        const reading: Reading = {
          key: alertKey(check.id),
          value: found.matches,
          rule: { ...base, direction: 'above', threshold: check.threshold },
          message: `${found.matches} new line(s) in ${what}${found.lastMatch ? `: ${found.lastMatch}` : ''}`,
          clearMessage: `New lines in ${what} are back to normal: ${found.matches} in the last ${check.intervalSec}s (threshold ${check.threshold})`,
        };
        const slow: Unavailable[] = found.skipped ? [{ code: 'CHECK_TIMED_OUT', reason: `matching /${check.pattern}/ against ${check.path} ran out of its time budget: ${found.skipped} of ${found.lines} new lines were skipped` }] : [];
        return { readings: [reading], unavailable: slow };
      });
    }
  }
}

/** Every local disk, or the filesystems holding the named paths (whatever their type: tmpfs, overlay, a share). */
async function readDisks(check: Extract<MonitoringCheck, { type: 'disk' }>, base: { margin: number; durationMs: number }, sysinfo: Sysinfo): Promise<Outcome> {
  const out: Outcome = { readings: [], unavailable: [] };
  const disks = new Map<string, Awaited<ReturnType<Sysinfo['diskOf']>>>();
  if (!check.mounts.length) {
    const all = await guarded('the mount table', async () => {
      for (const d of await sysinfo.disks()) disks.set(d.mount, d);
      return ok([]);
    });
    out.unavailable.push(...all.unavailable);
  }
  for (const target of check.mounts) {
    const one = await guarded(target, async () => {
      const d = await sysinfo.diskOf(target);
      disks.set(d.mount, d);
      return ok([]);
    });
    out.unavailable.push(...one.unavailable);
  }
  for (const d of disks.values()) {
    if (check.threshold !== undefined) {
      const is = `${fmt(d.usedPercent)}% full (threshold ${check.threshold}%)`;
      out.readings.push({ key: alertKey(check.id, `used:${d.mount}`), value: d.usedPercent, rule: { ...base, direction: 'above', threshold: check.threshold }, message: `Disk ${d.mount} is ${is}`, clearMessage: `Disk ${d.mount} is back to normal: ${is}` });
    }
    if (check.minFreeBytes !== undefined) {
      const has = `${d.availableBytes} bytes free (minimum ${check.minFreeBytes})`;
      out.readings.push({ key: alertKey(check.id, `free:${d.mount}`), value: d.availableBytes, rule: { ...base, direction: 'below', threshold: check.minFreeBytes, margin: (check.minFreeBytes * check.hysteresis) / 100 }, message: `Disk ${d.mount} has ${has}`, clearMessage: `Disk ${d.mount} is back to normal: ${has}` });
    }
  }
  return out;
}
