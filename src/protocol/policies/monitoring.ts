// The Monitoring policy: which checks run, how often, and when they raise and clear an alert.
// Shared by the agent (which runs it) and the server (which checks a policy before storing or sending it).
import * as z from 'zod/mini';
import { SeveritySchema } from '../model.js';

const common = {
  id: z.string().check(z.minLength(1), z.maxLength(64), z.regex(/^[A-Za-z0-9._-]+$/), z.describe('Unique name of the check in this policy; part of each alert key')),
  intervalSec: z._default(z.int().check(z.gte(1), z.lte(86_400)), 60).check(z.describe('How often the check samples (seconds)')),
  durationSec: z._default(z.int().check(z.gte(0), z.lte(86_400)), 0).check(z.describe('How long the condition must hold before an alert is raised (seconds; cpu: the averaging window)')),
  severity: z._default(SeveritySchema, 'warning').check(z.describe('Severity of the alert: info, warning or critical')),
  hysteresis: z._default(z.number().check(z.gte(0), z.lte(100)), 5).check(z.describe('Margin: an alert clears only once the value is back past threshold minus this margin (no flapping)')),
};
const percent = (def: number) => z._default(z.number().check(z.gte(0), z.lte(100)), def).check(z.describe('Threshold in percent; the alert is raised above it'));

export const CpuCheckSchema = z.strictObject({ type: z.literal('cpu'), ...common, threshold: percent(90), durationSec: z._default(common.durationSec, 300).check(z.describe('Averaging window of the cpu usage (seconds)')) });
export const MemoryCheckSchema = z.strictObject({ type: z.literal('memory'), ...common, threshold: percent(90) });
export const DiskCheckSchema = z.strictObject({
  type: z.literal('disk'),
  ...common,
  threshold: z.optional(z.number().check(z.gte(0), z.lte(100))).check(z.describe('Used space in percent above which a mount alerts (optional)')),
  minFreeBytes: z.optional(z.int().check(z.gte(0))).check(z.describe('Free space in bytes below which a mount alerts (optional); hysteresis is then a percent of it')),
  mounts: z._default(z.array(z.string().check(z.minLength(1), z.maxLength(4096))).check(z.maxLength(64)), []).check(z.describe('Mount points (or any path on them) to watch; empty = every mount')),
}).check(z.refine((c) => c.threshold !== undefined || c.minFreeBytes !== undefined, 'a disk check needs threshold and/or minFreeBytes'));
export const OnlineCheckSchema = z.strictObject({ type: z.literal('online'), ...common });
export const ProcessCheckSchema = z.strictObject({
  type: z.literal('process'),
  ...common,
  names: z.array(z.string().check(z.minLength(1), z.maxLength(1024))).check(z.minLength(1), z.maxLength(32), z.describe('Processes that must be running: each entry matches the whole executable name (or command line), `*` standing for any run of characters')),
  match: z._default(z.enum(['name', 'commandLine']), 'name').check(z.describe('What each entry is matched against: the executable name (base name of the program file or of argv[0]) or the full command line (arguments joined by single spaces)')),
});
export const ServiceCheckSchema = z.strictObject({
  type: z.literal('service'),
  ...common,
  name: z.string().check(z.minLength(1), z.maxLength(256), z.regex(/^[A-Za-z0-9@._:][A-Za-z0-9@._:-]*$/), z.describe('System service that must be active (systemd unit, launchd label or Windows service name); never starts with "-"')),
});
export const LogCheckSchema = z.strictObject({
  type: z.literal('log'),
  ...common,
  path: z.string().check(z.minLength(1), z.maxLength(4096), z.describe('Log file to watch; only lines written after the check started count')),
  pattern: z.string().check(
    z.minLength(1),
    z.maxLength(1024),
    z.refine(isRegex, 'not a valid regular expression'),
    z.refine((p) => backtrackingOnly(p) === null, { error: (issue) => `${backtrackingOnly(issue.input as string)} cannot be matched in linear time: log patterns are the syntax JavaScript and RE2 share` }),
    z.describe('Regular expression a new line must match (the syntax JavaScript and RE2 share: no backreferences or lookaround), matched in linear time against the first 4096 bytes of the line'),
  ),
  ignoreCase: z._default(z.boolean(), false).check(z.describe('Match the pattern without regard to case')),
  threshold: z._default(z.int().check(z.gte(0)), 0).check(z.describe('Matching new lines per interval above which an alert is raised; log alerts clear when acknowledged')),
  hysteresis: z._default(common.hysteresis, 0).check(z.describe('Margin below threshold before the alert clears by itself (log alerts default to 0: cleared by acknowledgment)')),
});

export const MonitoringCheckSchema = z.discriminatedUnion('type', [CpuCheckSchema, MemoryCheckSchema, DiskCheckSchema, OnlineCheckSchema, ProcessCheckSchema, ServiceCheckSchema, LogCheckSchema]);
export type MonitoringCheck = z.infer<typeof MonitoringCheckSchema>;

export const defaultMonitoringPolicySettings = {
  checks: [
    { type: 'cpu', id: 'cpu', threshold: 90, durationSec: 300, intervalSec: 60 },
    { type: 'memory', id: 'memory', threshold: 90, intervalSec: 60 },
    { type: 'disk', id: 'disk', threshold: 90, intervalSec: 300 },
  ],
} as const;

export const MonitoringPolicySchema = z.strictObject({
  checks: z
    ._default(z.array(MonitoringCheckSchema).check(z.maxLength(100)), () => defaultMonitoringPolicySettings.checks.map((c) => MonitoringCheckSchema.parse(c)))
    .check(
      z.refine((list) => new Set(list.map((c) => c.id)).size === list.length, 'check ids must be unique'),
      z.describe('The checks to run; default: cpu 90% over 300 s, memory 90%, disk 90% on every mount'),
    ),
});
export type MonitoringPolicy = z.infer<typeof MonitoringPolicySchema>;

/**
 * The first construct of a pattern that only a backtracking engine can run (backreference, lookaround), or null.
 * The device matches with an RE2-class engine (linear time); this refuses such patterns where policies are written.
 */
export function backtrackingOnly(source: string): string | null {
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(next)) return `the backreference \\${next}`;
      if (!inClass && next === 'k' && source[i + 2] === '<') return 'the named backreference \\k<...>';
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
    } else if (c === '(' && source[i + 1] === '?') {
      const look = /^\(\?(=|!|<=|<!)/.exec(source.slice(i))?.[0];
      if (look) return `the lookaround ${look}...)`;
    }
  }
  return null;
}

function isRegex(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}
