// What the API (and webhooks) show of each record: zod schemas (the OpenAPI document is generated from them) and
// the pure functions that build each view. Every time is epoch milliseconds with an ISO-8601 (UTC) twin `…Iso`.
import * as z from 'zod/mini';
import { ReportKindSchema } from '../protocol/frames.js';
import { IdSchema, ServiceNameSchema, SeveritySchema, TeamViewerFactsSchema } from '../protocol/model.js';
import { PERMISSIONS } from './access.js';
import type { DeviceServiceView } from './desired.js';
import { COMMAND_STATUSES, WEBHOOK_EVENTS } from './store/records.js';
import type { AccountRecord, AlertRecord, CommandRecord, DeviceRecord, EnrollmentTokenRecord, LatestReport, PolicyRecord, ReportRecord, RoleRecord, WebhookDeliveryRecord, WebhookRecord } from './store/store.js';

export const iso = (ms: number): string => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

const time = (what: string) => z.number().check(z.describe(`${what}, epoch milliseconds`));
const timeIso = (what: string) => z.string().check(z.describe(`${what}, ISO-8601 UTC`));
type Time = ReturnType<typeof time>;
type TimeIso = ReturnType<typeof timeIso>;
const when = <N extends string>(name: N, what: string) =>
  ({ [name]: time(what), [`${name}Iso`]: timeIso(what) }) as { [K in N]: Time } & { [K in `${N}Iso`]: TimeIso };
const whenOrNull = <N extends string>(name: N, what: string) =>
  ({ [name]: z.nullable(time(what)), [`${name}Iso`]: z.nullable(timeIso(what)) }) as { [K in N]: z.ZodMiniNullable<Time> } & { [K in `${N}Iso`]: z.ZodMiniNullable<TimeIso> };
const Reason = z.nullable(z.object({ code: z.string(), message: z.string() }));

export const ServiceViewSchema = z.object({
  name: ServiceNameSchema,
  policyId: z.nullable(z.string()),
  policyVersion: z.nullable(z.int()),
  activatedBy: z.nullable(z.string()),
  ...whenOrNull('activatedAt', 'when the service was activated'),
  phase: z.nullable(z.string()).check(z.describe('pending until the device reports the service; then its phase (installing, running, failed, quarantined, uninstalling, refused)')),
  appliedPolicyVersion: z.nullable(z.int()),
  applied: z.boolean().check(z.describe('true once the device runs the current policy version')),
  reason: Reason,
}).check(z.meta({ id: 'Service', description: 'A service on a device: what is activated (policy, by whom) and what the device reports' }));

export const DeviceViewSchema = z.object({
  id: IdSchema,
  alias: z.nullable(z.string()),
  hostname: z.string(),
  platform: z.string(),
  arch: z.string(),
  osRelease: z.string(),
  agentVersion: z.string(),
  tags: z.array(z.string()),
  online: z.boolean(),
  ...whenOrNull('lastSeen', 'last report, handshake or heartbeat'),
  ...when('enrolledAt', 'enrollment'),
  lastSeq: z.int().check(z.describe('highest report sequence number stored')),
  teamviewer: z.nullable(TeamViewerFactsSchema),
  services: z.array(ServiceViewSchema),
}).check(z.meta({ id: 'Device', description: 'A device and its services' }));

export const LatestReportSchema = z.object({ seq: z.int(), ...when('at', 'time the device made the report'), ...when('receivedAt', 'time the server stored it'), data: z.record(z.string(), z.unknown()) }).check(z.meta({ id: 'LatestReport', description: 'The last report of one kind' }));

export const DeviceDetailSchema = z.object({
  ...DeviceViewSchema.shape,
  latest: z.record(z.string(), LatestReportSchema).check(z.describe('the last report of each kind the account may see (alert reports follow the alert scope)')),
  reportUsage: z.array(z.object({ kind: ReportKindSchema, reports: z.int(), bytes: z.int() })).check(z.describe('report history kept on the server, per kind')),
}).check(z.meta({ id: 'DeviceDetail', description: 'A device with its latest reports and its report history usage' }));

export const ReportViewSchema = z.object({
  deviceId: IdSchema,
  seq: z.int(),
  kind: ReportKindSchema,
  ...when('at', 'time the device made the report'),
  ...when('receivedAt', 'time the server stored it'),
  bytes: z.int(),
  data: z.record(z.string(), z.unknown()),
  invalid: z.nullable(z.string()).check(z.describe('why the data did not match its kind (kept, not applied)')),
}).check(z.meta({ id: 'Report', description: 'A stored report' }));

export const AlertViewSchema = z.object({
  id: IdSchema,
  deviceId: IdSchema,
  alias: z.nullable(z.string()).check(z.describe("the device's alias")),
  hostname: z.nullable(z.string()).check(z.describe("the device's hostname")),
  key: z.string(),
  service: ServiceNameSchema,
  check: z.string(),
  severity: SeveritySchema,
  message: z.string(),
  value: z.nullable(z.number()),
  threshold: z.nullable(z.number()),
  open: z.boolean(),
  ...when('raisedAt', 'when the alert was raised'),
  ...whenOrNull('clearedAt', 'when the device cleared it'),
  ackedBy: z.nullable(z.string()),
  ...whenOrNull('ackedAt', 'when an account acknowledged it'),
}).check(z.meta({ id: 'Alert', description: 'An alert raised by a device, with the names of the device' }));

export const CommandViewSchema = z.object({
  id: IdSchema,
  deviceId: IdSchema,
  type: z.string(),
  body: z.record(z.string(), z.unknown()),
  actor: z.nullable(z.string()),
  status: z.enum(COMMAND_STATUSES),
  reason: Reason,
  attempts: z.int().check(z.describe('times it was put on the wire (redeliveries included)')),
  ...when('createdAt', 'creation'),
  ...when('updatedAt', 'last status change'),
}).check(z.meta({ id: 'Command', description: 'A command to a device and its status' }));

export const PolicyViewSchema = z.object({
  id: IdSchema,
  name: z.string(),
  service: ServiceNameSchema,
  version: z.int(),
  settings: z.record(z.string(), z.unknown()),
  createdBy: z.string(),
  ...when('createdAt', 'creation'),
  ...when('updatedAt', 'last change'),
}).check(z.meta({ id: 'Policy', description: 'A versioned policy of one service' }));

export const RoleViewSchema = z.object({ id: IdSchema, name: z.string(), permissions: z.array(z.enum(PERMISSIONS)), builtIn: z.boolean() }).check(z.meta({ id: 'Role', description: 'A role: a named set of permissions' }));

export const AccountViewSchema = z.object({ id: IdSchema, name: z.string(), roleIds: z.array(IdSchema), ...when('createdAt', 'creation'), disabled: z.boolean(), ...whenOrNull('disabledAt', 'when it was disabled') }).check(z.meta({ id: 'Account', description: 'An account (never its token)' }));

export const EnrollmentTokenViewSchema = z.object({
  id: IdSchema,
  label: z.nullable(z.string()),
  ...whenOrNull('expiresAt', 'expiry'),
  maxUses: z.nullable(z.int()),
  uses: z.int(),
  tags: z.array(z.string()),
  createdBy: z.string(),
  ...when('createdAt', 'creation'),
  revoked: z.boolean(),
  ...whenOrNull('revokedAt', 'revocation'),
  revokedBy: z.nullable(z.string()),
}).check(z.meta({ id: 'EnrollmentToken', description: 'An enrollment token (never the secret)' }));

export const WebhookViewSchema = z.object({ id: IdSchema, url: z.string(), events: z.array(z.enum(WEBHOOK_EVENTS)), createdBy: z.string(), ...when('createdAt', 'creation') }).check(z.meta({ id: 'Webhook', description: 'A webhook (never its secret)' }));

export const WebhookDeliveryViewSchema = z.object({
  id: IdSchema,
  event: z.enum(WEBHOOK_EVENTS),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.int(),
  ...when('nextAttemptAt', 'next attempt (pending only)'),
  lastError: z.nullable(z.string()),
  ...when('createdAt', 'creation'),
  ...whenOrNull('deliveredAt', 'delivery'),
}).check(z.meta({ id: 'WebhookDelivery', description: 'One delivery of an event to a webhook' }));

type Out<S extends z.ZodMiniType> = z.output<S>;

export const serviceView = (s: DeviceServiceView): Out<typeof ServiceViewSchema> => ({ ...s, activatedAtIso: isoOrNull(s.activatedAt) });

export function deviceView(d: DeviceRecord, online: boolean, services: readonly DeviceServiceView[]): Out<typeof DeviceViewSchema> {
  return {
    id: d.id,
    alias: d.facts.alias,
    hostname: d.facts.hostname,
    platform: d.facts.platform,
    arch: d.facts.arch,
    osRelease: d.facts.osRelease,
    agentVersion: d.facts.agentVersion,
    tags: d.tags,
    online,
    lastSeen: d.lastSeen,
    lastSeenIso: isoOrNull(d.lastSeen),
    enrolledAt: d.enrolledAt,
    enrolledAtIso: iso(d.enrolledAt),
    lastSeq: d.lastSeq,
    teamviewer: d.facts.teamviewer,
    services: services.map(serviceView),
  };
}

export const latestView = (l: LatestReport): Out<typeof LatestReportSchema> => ({ seq: l.seq, at: l.at, atIso: iso(l.at), receivedAt: l.receivedAt, receivedAtIso: iso(l.receivedAt), data: l.data });

export const reportView = (r: ReportRecord): Out<typeof ReportViewSchema> => ({ ...r, atIso: iso(r.at), receivedAtIso: iso(r.receivedAt) });

export function alertView(a: AlertRecord, device: Pick<DeviceRecord, 'facts'> | null): Out<typeof AlertViewSchema> {
  return {
    id: a.id,
    deviceId: a.deviceId,
    alias: device?.facts.alias ?? null,
    hostname: device?.facts.hostname ?? null,
    key: a.key,
    service: a.service,
    check: a.check,
    severity: a.severity,
    message: a.message,
    value: a.value,
    threshold: a.threshold,
    open: a.clearedAt === null,
    raisedAt: a.raisedAt,
    raisedAtIso: iso(a.raisedAt),
    clearedAt: a.clearedAt,
    clearedAtIso: isoOrNull(a.clearedAt),
    ackedBy: a.ackedBy,
    ackedAt: a.ackedAt,
    ackedAtIso: isoOrNull(a.ackedAt),
  };
}

export const commandView = (c: CommandRecord): Out<typeof CommandViewSchema> => ({
  id: c.id, deviceId: c.deviceId, type: c.type, body: c.body, actor: c.actor, status: c.status, reason: c.reason, attempts: c.attempts,
  createdAt: c.createdAt, createdAtIso: iso(c.createdAt), updatedAt: c.updatedAt, updatedAtIso: iso(c.updatedAt),
});

export const policyView = (p: PolicyRecord): Out<typeof PolicyViewSchema> => ({ ...p, createdAtIso: iso(p.createdAt), updatedAtIso: iso(p.updatedAt) });

export const roleView = (r: RoleRecord): Out<typeof RoleViewSchema> => ({ id: r.id, name: r.name, permissions: r.permissions, builtIn: r.builtIn });

export const accountView = (a: AccountRecord): Out<typeof AccountViewSchema> => ({
  id: a.id, name: a.name, roleIds: a.roleIds, createdAt: a.createdAt, createdAtIso: iso(a.createdAt), disabled: a.disabledAt !== null, disabledAt: a.disabledAt, disabledAtIso: isoOrNull(a.disabledAt),
});

export const enrollmentTokenView = (t: EnrollmentTokenRecord): Out<typeof EnrollmentTokenViewSchema> => ({
  id: t.id, label: t.label, expiresAt: t.expiresAt, expiresAtIso: isoOrNull(t.expiresAt), maxUses: t.maxUses, uses: t.uses, tags: t.tags, createdBy: t.createdBy,
  createdAt: t.createdAt, createdAtIso: iso(t.createdAt), revoked: t.revokedAt !== null, revokedAt: t.revokedAt, revokedAtIso: isoOrNull(t.revokedAt), revokedBy: t.revokedBy,
});

export const webhookView = (w: WebhookRecord): Out<typeof WebhookViewSchema> => ({ id: w.id, url: w.url, events: w.events, createdBy: w.createdBy, createdAt: w.createdAt, createdAtIso: iso(w.createdAt) });

export const deliveryView = (d: WebhookDeliveryRecord): Out<typeof WebhookDeliveryViewSchema> => ({
  id: d.id, event: d.event, status: d.status, attempts: d.attempts, nextAttemptAt: d.nextAttemptAt, nextAttemptAtIso: iso(d.nextAttemptAt), lastError: d.lastError,
  createdAt: d.createdAt, createdAtIso: iso(d.createdAt), deliveredAt: d.deliveredAt, deliveredAtIso: isoOrNull(d.deliveredAt),
});
