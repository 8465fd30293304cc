// The server's registry of policy settings schemas, one per service: a policy is checked here before it is
// stored or sent. The agent checks again with its own service schema (src/services/*/policy.ts), which the
// server may not import (layers), so Monitoring's is mirrored here and test/server/policy-schemas.unit.test.ts
// checks that whatever the server stores, the agent accepts unchanged.
import { z } from 'zod';
import { SeveritySchema, type ServiceName } from '../protocol/model.js';

export const CHECK_TYPES = ['cpu', 'memory', 'disk', 'process', 'service', 'log', 'online'] as const;

const common = {
  /** Unique in the policy; part of each alert key. The server fills it from the type when absent. */
  id: z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/),
  intervalSec: z.number().int().min(1).max(86_400).default(60),
  /** How long the condition must hold before an alert is raised (cpu: the averaging window). */
  durationSec: z.number().int().min(0).max(86_400).default(0),
  severity: SeveritySchema.default('warning'),
  /** An alert clears only once the value is back past threshold minus this margin. */
  hysteresis: z.number().min(0).max(100).default(5),
};
const percent = (def: number) => z.number().min(0).max(100).default(def);

const checkSchemas = [
  z.object({ type: z.literal('cpu'), ...common, threshold: percent(90), durationSec: common.durationSec.default(300) }).strict(),
  z.object({ type: z.literal('memory'), ...common, threshold: percent(90) }).strict(),
  z
    .object({
      type: z.literal('disk'),
      ...common,
      threshold: z.number().min(0).max(100).optional(),
      minFreeBytes: z.number().int().min(0).optional(),
      mounts: z.array(z.string().min(1).max(4096)).max(64).default([]),
    })
    .strict()
    .refine((c) => c.threshold !== undefined || c.minFreeBytes !== undefined, 'a disk check needs threshold and/or minFreeBytes'),
  z.object({ type: z.literal('online'), ...common }).strict(),
  z.object({ type: z.literal('process'), ...common, names: z.array(z.string().min(1).max(256)).min(1).max(32) }).strict(),
  z.object({ type: z.literal('service'), ...common, name: z.string().min(1).max(256).regex(/^[A-Za-z0-9@._:-]+$/) }).strict(),
  z
    .object({
      type: z.literal('log'),
      ...common,
      path: z.string().min(1).max(4096),
      pattern: z.string().min(1).max(1024).refine(isRegex, 'not a valid regular expression'),
      threshold: z.number().int().min(0).default(0),
      hysteresis: common.hysteresis.default(0),
    })
    .strict(),
] as const;

export const MonitoringCheckSchema = z.discriminatedUnion('type', checkSchemas);

const DEFAULT_CHECKS = [
  { type: 'cpu', id: 'cpu', threshold: 90, durationSec: 300, intervalSec: 60 },
  { type: 'memory', id: 'memory', threshold: 90, intervalSec: 60 },
  { type: 'disk', id: 'disk', threshold: 90, intervalSec: 300 },
];

export const MonitoringSettingsSchema = z
  .object({
    checks: z.preprocess(
      withCheckIds,
      z
        .array(MonitoringCheckSchema)
        .max(100)
        .default(() => DEFAULT_CHECKS.map((c) => MonitoringCheckSchema.parse(c)))
        .refine((list) => new Set(list.map((c) => c.id)).size === list.length, 'check ids must be unique'),
    ),
  })
  .strict();
export type MonitoringSettings = z.infer<typeof MonitoringSettingsSchema>;

/** Consoles often send checks without ids: name them after their type (cpu, disk, disk-2, ...). */
function withCheckIds(checks: unknown): unknown {
  if (!Array.isArray(checks)) return checks;
  const taken = new Set(checks.map((c) => (c && typeof c === 'object' && typeof c.id === 'string' ? c.id : null)));
  return checks.map((c) => {
    if (!c || typeof c !== 'object' || 'id' in c || typeof c.type !== 'string') return c;
    let id = c.type as string;
    for (let n = 2; taken.has(id) && n <= 101; n++) id = `${c.type}-${n}`;
    taken.add(id);
    return { ...c, id };
  });
}

function isRegex(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

// Services whose schema is not mirrored yet accept any settings object; the agent validates them.
const AnySettingsSchema = z.record(z.string(), z.unknown());

export const POLICY_SCHEMAS: Record<ServiceName, z.ZodType<Record<string, unknown>>> = {
  monitoring: MonitoringSettingsSchema,
  assets: AnySettingsSchema,
  patches: AnySettingsSchema,
  backup: AnySettingsSchema,
  'endpoint-protection': AnySettingsSchema,
};

export type SettingsCheck = { ok: true; settings: Record<string, unknown> } | { ok: false; message: string };

/** Validates a policy's settings for its service and returns them with defaults (and check ids) filled in. */
export function checkPolicySettings(service: ServiceName, settings: unknown): SettingsCheck {
  const parsed = POLICY_SCHEMAS[service].safeParse(settings);
  if (parsed.success) return { ok: true, settings: parsed.data };
  const issue = parsed.error.issues[0]!;
  return { ok: false, message: `settings.${issue.path.join('.')}: ${issue.message}` };
}
