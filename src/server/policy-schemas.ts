// The server's registry of policy settings schemas, one per service: a policy is checked here before it is
// stored or sent. The schemas are the agent's own (src/protocol/policies/), so both sides always agree;
// the server only adds the convenience of naming checks that came without an id.
import * as z from 'zod/mini';
import type { ServiceName } from '../protocol/model.js';
import { MonitoringPolicySchema } from '../protocol/policies/monitoring.js';
import { assetsPolicySchema } from '../protocol/policies/assets.js';
import { patchesPolicySchema } from '../protocol/policies/patches.js';
import { backupPolicySchema } from '../protocol/policies/backup.js';

export const MonitoringSettingsSchema = z.strictObject({ checks: z.pipe(z.transform(withCheckIds), MonitoringPolicySchema.shape.checks) });
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


// No agent runs Endpoint Protection: the API refuses its policies and activation (SERVICE_NOT_SUPPORTED); the agent
// would answer the same. The schema accepts anything: the refusal is the API's, with its own code.
const AnySettingsSchema = z.record(z.string(), z.unknown());

export const POLICY_SCHEMAS: Record<ServiceName, z.ZodMiniType<Record<string, unknown>>> = {
  monitoring: MonitoringSettingsSchema,
  assets: assetsPolicySchema,
  patches: patchesPolicySchema,
  backup: backupPolicySchema,
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

/**
 * JSON Schema (draft 2020-12) of a service's policy settings as the API accepts them (input form: fields with a
 * default may be left out), from the same zod schemas; monitoring checks need no id (the server names them).
 */
export function policyJsonSchema(service: ServiceName): Record<string, unknown> {
  const schema = z.toJSONSchema(POLICY_SCHEMAS[service], { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  if (service === 'monitoring') dropRequired(schema, 'id');
  return schema;
}

function dropRequired(node: unknown, name: string): void {
  if (!node || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  if (Array.isArray(o.required)) o.required = o.required.filter((r) => r !== name);
  for (const v of Object.values(o)) (Array.isArray(v) ? v : [v]).forEach((x) => dropRequired(x, name));
}
