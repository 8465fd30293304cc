// The server's state: one JSON document, loaded once at start (schema-checked) and written atomically
// after each change. Writes are serialised and coalesced: commit() resolves once a write that includes
// every change made before the call is on disk, so a report is acknowledged only after it is durable.
import path from 'node:path';
import * as z from 'zod/mini';
import { DeviceFactsSchema, IdSchema, ServiceNameSchema, ServiceStateSchema, SeveritySchema } from '../protocol/model.js';
import { ReportKindSchema } from '../protocol/frames.js';
import { RmError } from '../protocol/errors.js';
import { readJsonFile, writeFileAtomic } from '../system/files.js';
import { PERMISSIONS } from './access.js';

const RoleSchema = z.strictObject({ id: IdSchema, name: z.string(), permissions: z.array(z.enum(PERMISSIONS)) });
const AccountSchema = z.strictObject({ id: IdSchema, name: z.string(), tokenHash: z.string(), roleIds: z.array(IdSchema), createdAt: z.number() });
const EnrollmentTokenSchema = z.strictObject({ id: IdSchema, tokenHash: z.string(), expiresAt: z.nullable(z.number()), maxUses: z.nullable(z.int()), uses: z.int(), createdBy: IdSchema, createdAt: z.number() });
const DeviceSchema = z.strictObject({
  id: IdSchema,
  publicKey: z.string(),
  facts: DeviceFactsSchema,
  enrolledAt: z.number(),
  lastSeen: z.nullable(z.number()),
  lastSeq: z.int().check(z.nonnegative()),
  /** Bumped whenever what the device should run changes; sent as desired.state.revision. */
  revision: z.int().check(z.nonnegative()),
  services: z.record(z.string(), ServiceStateSchema),
  /** Latest data of each report kind (status, inventory, patches, backup, ...). */
  latest: z.record(z.string(), z.object({ seq: z.number(), at: z.number(), data: z.record(z.string(), z.unknown()) })),
});
const PolicySchema = z.strictObject({ id: IdSchema, name: z.string(), service: ServiceNameSchema, version: z.int().check(z.gte(1)), settings: z.record(z.string(), z.unknown()), createdBy: IdSchema, updatedAt: z.number() });
const ActivationSchema = z.strictObject({ deviceId: IdSchema, service: ServiceNameSchema, policyId: IdSchema, activatedBy: IdSchema, at: z.number() });
const AlertRecordSchema = z.strictObject({
  id: IdSchema,
  deviceId: IdSchema,
  key: z.string(),
  service: ServiceNameSchema,
  check: z.string(),
  severity: SeveritySchema,
  message: z.string(),
  value: z.nullable(z.number()),
  threshold: z.nullable(z.number()),
  raisedAt: z.number(),
  clearedAt: z.nullable(z.number()),
  ackedBy: z.nullable(IdSchema),
  ackedAt: z.nullable(z.number()),
});
const ReportRecordSchema = z.strictObject({ deviceId: IdSchema, seq: z.int(), kind: ReportKindSchema, at: z.number(), receivedAt: z.number(), data: z.record(z.string(), z.unknown()), invalid: z.optional(z.string()) });
const CommandRecordSchema = z.strictObject({
  id: IdSchema,
  deviceId: IdSchema,
  type: z.string(),
  body: z.record(z.string(), z.unknown()),
  actor: z.nullable(IdSchema),
  createdAt: z.number(),
  /** queued = waiting for the device to come online; sent = on the wire, no ack yet. */
  status: z.enum(['queued', 'sent', 'accepted', 'rejected', 'done', 'failed']),
  reason: z.nullable(z.object({ code: z.string(), message: z.string() })),
  updatedAt: z.number(),
});

export const StoreDataSchema = z.strictObject({
  version: z.literal(1),
  roles: z.array(RoleSchema),
  accounts: z.array(AccountSchema),
  enrollmentTokens: z.array(EnrollmentTokenSchema),
  devices: z.array(DeviceSchema),
  policies: z.array(PolicySchema),
  activations: z.array(ActivationSchema),
  alerts: z.array(AlertRecordSchema),
  /** Per device, oldest first (bounded, see reports.ts). */
  reports: z.record(z.string(), z.array(ReportRecordSchema)),
  commands: z.array(CommandRecordSchema),
});

export type StoreData = z.infer<typeof StoreDataSchema>;
export type AccountRecord = z.infer<typeof AccountSchema>;
export type DeviceRecord = z.infer<typeof DeviceSchema>;
export type PolicyRecord = z.infer<typeof PolicySchema>;
export type ActivationRecord = z.infer<typeof ActivationSchema>;
export type AlertRecord = z.infer<typeof AlertRecordSchema>;
export type ReportRecord = z.infer<typeof ReportRecordSchema>;
export type CommandRecord = z.infer<typeof CommandRecordSchema>;

export function emptyStoreData(): StoreData {
  return { version: 1, roles: [], accounts: [], enrollmentTokens: [], devices: [], policies: [], activations: [], alerts: [], reports: {}, commands: [] };
}

export interface Store {
  /** Reads the file; a missing file gives an empty store, a corrupt one an error (never silently reset). */
  load(): Promise<{ created: boolean }>;
  readonly data: StoreData;
  commit(): Promise<void>;
  /** Waits for any write in flight. */
  flush(): Promise<void>;
}

export function createStore(dataDir: string): Store {
  const file = path.join(dataDir, 'store.json');
  let data: StoreData = emptyStoreData();
  let writing: Promise<void> | null = null;
  let next: Promise<void> | null = null;

  const write = (): Promise<void> => {
    // Compact: the store is rewritten often and can hold thousands of reports.
    writing = writeFileAtomic(file, JSON.stringify(data)).finally(() => { writing = null; });
    return writing;
  };

  return {
    get data() {
      return data;
    },
    async load() {
      const read = await readJsonFile(file, StoreDataSchema);
      if (read.status === 'missing') return { created: true };
      if (read.status === 'invalid') throw new RmError('SERVER_STORE_CORRUPT', `${file}: ${read.reason}`);
      data = read.value;
      return { created: false };
    },
    commit() {
      if (next) return next; // a write is already scheduled after the current one: it will include this change
      if (!writing) return write();
      next = writing.catch(() => undefined).then(() => { next = null; return write(); });
      return next;
    },
    async flush() {
      await (next ?? writing)?.catch(() => undefined);
    },
  };
}
