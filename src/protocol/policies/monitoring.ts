// The Monitoring policy: which checks run, how often, and when they raise and clear an alert.
// Shared by the agent (which runs it) and the server (which checks a policy before storing or sending it).
import * as z from 'zod';
import { SeveritySchema } from '../model.js';

const common = {
  id: z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/).describe('Unique name of the check in this policy; part of each alert key'),
  intervalSec: z.number().int().min(1).max(86_400).default(60).describe('How often the check samples (seconds)'),
  durationSec: z.number().int().min(0).max(86_400).default(0).describe('How long the condition must hold before an alert is raised (seconds; cpu: the averaging window)'),
  severity: SeveritySchema.default('warning').describe('Severity of the alert: info, warning or critical'),
  hysteresis: z.number().min(0).max(100).default(5).describe('Margin: an alert clears only once the value is back past threshold minus this margin (no flapping)'),
};
const percent = (def: number) => z.number().min(0).max(100).default(def).describe('Threshold in percent; the alert is raised above it');

export const CpuCheckSchema = z.object({ type: z.literal('cpu'), ...common, threshold: percent(90), durationSec: common.durationSec.default(300).describe('Averaging window of the cpu usage (seconds)') }).strict();
export const MemoryCheckSchema = z.object({ type: z.literal('memory'), ...common, threshold: percent(90) }).strict();
export const DiskCheckSchema = z
  .object({
    type: z.literal('disk'),
    ...common,
    threshold: z.number().min(0).max(100).optional().describe('Used space in percent above which a mount alerts (optional)'),
    minFreeBytes: z.number().int().min(0).optional().describe('Free space in bytes below which a mount alerts (optional); hysteresis is then a percent of it'),
    mounts: z.array(z.string().min(1).max(4096)).max(64).default([]).describe('Mount points (or any path on them) to watch; empty = every mount'),
  })
  .strict()
  .refine((c) => c.threshold !== undefined || c.minFreeBytes !== undefined, 'a disk check needs threshold and/or minFreeBytes');
export const OnlineCheckSchema = z.object({ type: z.literal('online'), ...common }).strict();
export const ProcessCheckSchema = z
  .object({ type: z.literal('process'), ...common, names: z.array(z.string().min(1).max(256)).min(1).max(32).describe('Process names that must be running') })
  .strict();
export const ServiceCheckSchema = z
  .object({
    type: z.literal('service'),
    ...common,
    name: z.string().min(1).max(256).regex(/^[A-Za-z0-9@._:-]+$/).describe('System service that must be active (systemd unit, launchd label or Windows service name)'),
  })
  .strict();
export const LogCheckSchema = z
  .object({
    type: z.literal('log'),
    ...common,
    path: z.string().min(1).max(4096).describe('Log file to watch; only lines written after the check started count'),
    pattern: z.string().min(1).max(1024).refine(isRegex, 'not a valid regular expression').describe('Regular expression a new line must match'),
    threshold: z.number().int().min(0).default(0).describe('Matching new lines per interval above which an alert is raised; log alerts clear when acknowledged'),
    hysteresis: common.hysteresis.default(0).describe('Margin below threshold before the alert clears by itself (log alerts default to 0: cleared by acknowledgment)'),
  })
  .strict();

export const MonitoringCheckSchema = z.discriminatedUnion('type', [CpuCheckSchema, MemoryCheckSchema, DiskCheckSchema, OnlineCheckSchema, ProcessCheckSchema, ServiceCheckSchema, LogCheckSchema]);
export type MonitoringCheck = z.infer<typeof MonitoringCheckSchema>;

export const defaultMonitoringPolicySettings = {
  checks: [
    { type: 'cpu', id: 'cpu', threshold: 90, durationSec: 300, intervalSec: 60 },
    { type: 'memory', id: 'memory', threshold: 90, intervalSec: 60 },
    { type: 'disk', id: 'disk', threshold: 90, intervalSec: 300 },
  ],
} as const;

export const MonitoringPolicySchema = z
  .object({
    checks: z
      .array(MonitoringCheckSchema)
      .max(100)
      .default(() => defaultMonitoringPolicySettings.checks.map((c) => MonitoringCheckSchema.parse(c)))
      .refine((list) => new Set(list.map((c) => c.id)).size === list.length, 'check ids must be unique')
      .describe('The checks to run; default: cpu 90% over 300 s, memory 90%, disk 90% on every mount'),
  })
  .strict();
export type MonitoringPolicy = z.infer<typeof MonitoringPolicySchema>;

function isRegex(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}
