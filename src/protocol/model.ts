// Domain shapes shared by agent and server: TeamViewer facts, services, policies, desired and current state.
import * as z from 'zod/mini';

/** Wire protocol version: envelope `v`, hello `protocol`, and the WebSocket subprotocol rmagent.v2 (docs/protocol.md). */
export const PROTOCOL_VERSION = 2;

const id = z.string().check(z.minLength(1), z.maxLength(128), z.regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only'));
export const IdSchema = id;

export const TeamViewerFactsSchema = z.strictObject({
  installed: z.boolean(),
  /** 'host' = TeamViewer Host, 'full' = full client; null when not installed or not known. */
  edition: z.nullable(z.enum(['host', 'full'])),
  version: z.nullable(z.string().check(z.maxLength(64))),
  teamviewerId: z.nullable(z.string().check(z.regex(/^\d{1,20}$/))),
  serviceRunning: z.nullable(z.boolean()),
  /** true/false when it can be read on this OS, null = unknown (e.g. Linux). */
  managed: z.nullable(z.boolean()),
  managementId: z.optional(z.nullable(z.string().check(z.maxLength(128)))),
  owner: z.optional(z.nullable(z.object({ account: z.nullable(z.string().check(z.maxLength(256))), company: z.nullable(z.string().check(z.maxLength(256))) }))),
  installPath: z.optional(z.nullable(z.string().check(z.maxLength(1024)))),
  /** Where the facts came from, e.g. 'global.conf', 'reg query', 'Info.plist'. */
  sources: z._default(z.array(z.string().check(z.maxLength(256))).check(z.maxLength(32)), []),
  /** Things that could not be read, in plain words (never secrets). */
  warnings: z._default(z.array(z.string().check(z.maxLength(512))).check(z.maxLength(32)), []),
  detectedAt: z.int().check(z.nonnegative()),
});
export type TeamViewerFacts = z.infer<typeof TeamViewerFactsSchema>;

export const SERVICE_NAMES = ['monitoring', 'assets', 'patches', 'backup', 'endpoint-protection'] as const;
export const ServiceNameSchema = z.enum(SERVICE_NAMES);
export type ServiceName = z.infer<typeof ServiceNameSchema>;

/** A policy as it travels: its settings are checked by the service's own schema on both sides. */
export const PolicySchema = z.strictObject({
  id,
  name: z.string().check(z.minLength(1), z.maxLength(200)),
  service: ServiceNameSchema,
  version: z.int().check(z.gte(1)),
  settings: z.record(z.string(), z.unknown()),
});
export type Policy = z.infer<typeof PolicySchema>;

export const DesiredServiceSchema = z.strictObject({ policy: PolicySchema, activatedBy: z.optional(z.string().check(z.maxLength(128))) });
export const DesiredStateSchema = z.strictObject({
  revision: z.int().check(z.nonnegative()),
  services: z.partialRecord(ServiceNameSchema, DesiredServiceSchema),
});
export type DesiredState = z.infer<typeof DesiredStateSchema>;

export const ServicePhaseSchema = z.enum(['pending', 'installing', 'running', 'failed', 'quarantined', 'uninstalling', 'refused']);
export type ServicePhase = z.infer<typeof ServicePhaseSchema>;

export const ServiceStateSchema = z.strictObject({
  name: ServiceNameSchema,
  phase: ServicePhaseSchema,
  policy: z.nullable(z.object({ id, version: z.int().check(z.gte(1)), applied: z.boolean() })),
  reason: z._default(z.nullable(z.object({ code: z.string(), message: z.string() })), null),
  attempts: z._default(z.int().check(z.nonnegative()), 0),
  since: z.int().check(z.nonnegative()),
});
export type ServiceState = z.infer<typeof ServiceStateSchema>;

export const DeviceFactsSchema = z.strictObject({
  hostname: z.string().check(z.maxLength(256)),
  platform: z.string().check(z.maxLength(32)),
  arch: z.string().check(z.maxLength(32)),
  osRelease: z.string().check(z.maxLength(256)),
  agentVersion: z.string().check(z.maxLength(64)),
  alias: z.nullable(z.string().check(z.maxLength(256))),
  teamviewer: z.nullable(TeamViewerFactsSchema),
  /** The server keys the device pins after this handshake (base64): the server lists devices lagging behind a rotation. */
  serverKeys: z.optional(z.array(z.string().check(z.regex(/^[A-Za-z0-9+/]{43}=$/, 'base64 Ed25519 public key'))).check(z.maxLength(16))),
});
export type DeviceFacts = z.infer<typeof DeviceFactsSchema>;

export const SeveritySchema = z.enum(['info', 'warning', 'critical']);
export const AlertSchema = z.strictObject({
  key: z.string().check(z.minLength(1), z.maxLength(256)),
  service: ServiceNameSchema,
  check: z.string().check(z.maxLength(128)),
  severity: SeveritySchema,
  message: z.string().check(z.maxLength(2048)),
  value: z.optional(z.nullable(z.number())),
  threshold: z.optional(z.nullable(z.number())),
});
export type Alert = z.infer<typeof AlertSchema>;
