// Domain shapes shared by agent and server: TeamViewer facts, services, policies, desired and current state.
import * as z from 'zod';

export const PROTOCOL_VERSION = 1;

const id = z.string().min(1).max(128).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only');
export const IdSchema = id;

export const TeamViewerFactsSchema = z
  .object({
    installed: z.boolean(),
    /** 'host' = TeamViewer Host, 'full' = full client; null when not installed or not known. */
    edition: z.enum(['host', 'full']).nullable(),
    version: z.string().max(64).nullable(),
    teamviewerId: z.string().regex(/^\d{1,20}$/).nullable(),
    serviceRunning: z.boolean().nullable(),
    /** true/false when it can be read on this OS, null = unknown (e.g. Linux). */
    managed: z.boolean().nullable(),
    managementId: z.string().max(128).nullable().optional(),
    owner: z.object({ account: z.string().max(256).nullable(), company: z.string().max(256).nullable() }).nullable().optional(),
    installPath: z.string().max(1024).nullable().optional(),
    /** Where the facts came from, e.g. 'global.conf', 'reg query', 'Info.plist'. */
    sources: z.array(z.string().max(256)).max(32).default([]),
    /** Things that could not be read, in plain words (never secrets). */
    warnings: z.array(z.string().max(512)).max(32).default([]),
    detectedAt: z.number().int().nonnegative(),
  })
  .strict();
export type TeamViewerFacts = z.infer<typeof TeamViewerFactsSchema>;

export const SERVICE_NAMES = ['monitoring', 'assets', 'patches', 'backup', 'endpoint-protection'] as const;
export const ServiceNameSchema = z.enum(SERVICE_NAMES);
export type ServiceName = z.infer<typeof ServiceNameSchema>;

/** A policy as it travels: its settings are checked by the service's own schema on both sides. */
export const PolicySchema = z
  .object({
    id,
    name: z.string().min(1).max(200),
    service: ServiceNameSchema,
    version: z.number().int().min(1),
    settings: z.record(z.string(), z.unknown()),
  })
  .strict();
export type Policy = z.infer<typeof PolicySchema>;

export const DesiredServiceSchema = z.object({ policy: PolicySchema, activatedBy: z.string().max(128).optional() }).strict();
export const DesiredStateSchema = z
  .object({
    revision: z.number().int().nonnegative(),
    services: z.partialRecord(ServiceNameSchema, DesiredServiceSchema),
  })
  .strict();
export type DesiredState = z.infer<typeof DesiredStateSchema>;

export const ServicePhaseSchema = z.enum(['pending', 'installing', 'running', 'failed', 'quarantined', 'uninstalling', 'refused']);
export type ServicePhase = z.infer<typeof ServicePhaseSchema>;

export const ServiceStateSchema = z
  .object({
    name: ServiceNameSchema,
    phase: ServicePhaseSchema,
    policy: z.object({ id, version: z.number().int().min(1), applied: z.boolean() }).nullable(),
    reason: z.object({ code: z.string(), message: z.string() }).nullable().default(null),
    attempts: z.number().int().nonnegative().default(0),
    since: z.number().int().nonnegative(),
  })
  .strict();
export type ServiceState = z.infer<typeof ServiceStateSchema>;

export const DeviceFactsSchema = z
  .object({
    hostname: z.string().max(256),
    platform: z.string().max(32),
    arch: z.string().max(32),
    osRelease: z.string().max(256),
    agentVersion: z.string().max(64),
    alias: z.string().max(256).nullable(),
    teamviewer: TeamViewerFactsSchema.nullable(),
  })
  .strict();
export type DeviceFacts = z.infer<typeof DeviceFactsSchema>;

export const SeveritySchema = z.enum(['info', 'warning', 'critical']);
export const AlertSchema = z
  .object({
    key: z.string().min(1).max(256),
    service: ServiceNameSchema,
    check: z.string().max(128),
    severity: SeveritySchema,
    message: z.string().max(2048),
    value: z.number().nullable().optional(),
    threshold: z.number().nullable().optional(),
  })
  .strict();
export type Alert = z.infer<typeof AlertSchema>;
