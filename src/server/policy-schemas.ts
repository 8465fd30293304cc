// The server's registry of policy settings schemas, one per service: a policy is checked here before it is
// stored or sent. The agent checks again with its own service schema (both sides must agree).
import { z } from 'zod';
import { SeveritySchema, type ServiceName } from '../protocol/model.js';

export const CHECK_TYPES = ['cpu', 'memory', 'disk', 'process', 'service', 'log', 'online'] as const;

export const MonitoringCheckSchema = z
  .object({
    type: z.enum(CHECK_TYPES),
    /** Percent for cpu/memory/disk, count for process/service/log matches, seconds offline for online. */
    threshold: z.number().min(0),
    /** How long the condition must hold before an alert is raised. */
    durationSec: z.number().int().min(0).max(86_400).default(0),
    intervalSec: z.number().int().min(5).max(86_400).default(60),
    severity: SeveritySchema,
    name: z.string().min(1).max(128).optional(),
    /** process name, service name, mount point or log file, depending on the type. */
    target: z.string().min(1).max(1024).optional(),
    /** log checks: the text or regular expression to count. */
    pattern: z.string().min(1).max(1024).optional(),
  })
  .strict()
  .refine((c) => !['process', 'service', 'log'].includes(c.type) || c.target !== undefined, { message: 'process, service and log checks need a target', path: ['target'] });

export const MonitoringSettingsSchema = z.object({ checks: z.array(MonitoringCheckSchema).min(1).max(100) }).strict();
export type MonitoringSettings = z.infer<typeof MonitoringSettingsSchema>;

// Services whose schema is not pinned down yet accept any settings object; the agent validates them.
const AnySettingsSchema = z.record(z.string(), z.unknown());

export const POLICY_SCHEMAS: Record<ServiceName, z.ZodType<Record<string, unknown>>> = {
  monitoring: MonitoringSettingsSchema,
  assets: AnySettingsSchema,
  patches: AnySettingsSchema,
  backup: AnySettingsSchema,
  'endpoint-protection': AnySettingsSchema,
};

export type SettingsCheck = { ok: true; settings: Record<string, unknown> } | { ok: false; message: string };

/** Validates a policy's settings for its service and returns them with defaults filled in. */
export function checkPolicySettings(service: ServiceName, settings: unknown): SettingsCheck {
  const parsed = POLICY_SCHEMAS[service].safeParse(settings);
  if (parsed.success) return { ok: true, settings: parsed.data };
  const issue = parsed.error.issues[0]!;
  return { ok: false, message: `settings.${issue.path.join('.')}: ${issue.message}` };
}
