// Protocol v2 (docs/protocol.md): one envelope {v, id, type, ts, body, sig?} and a zod schema for the body of every
// frame type. Both agent and server parse every frame in and out through parseFrame/encodeFrame.
import * as z from 'zod/mini';
import { IdSchema, PROTOCOL_VERSION, DeviceFactsSchema, DesiredStateSchema, PolicySchema, ServiceNameSchema, ServiceStateSchema, TeamViewerFactsSchema, AlertSchema, SeveritySchema } from './model.js';
import type { ErrorCode } from './errors.js';
import { lazyRecord } from './lazy-record.js';
import { backupReportData, inventoryReportData, patchesReportData, watchdogReportData, type BackupReportData, type InventoryReportData, type PatchesReportData, type WatchdogReportData } from './report-data.js';
import type { Alert, ServiceState, TeamViewerFacts } from './model.js';

export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
/** Deeper values are refused: canonicalJson and JSON.stringify recurse and would overflow the stack. */
export const MAX_FRAME_DEPTH = 64;
/**
 * Links of the server key chain in server.hello: the server sends the path from the newest key the device says it
 * pins (agent.hello.pinnedKeys), so this bounds how many rotations a device may sleep through (the keys API lists
 * devices falling behind long before).
 */
export const MAX_ENDORSEMENTS = 256;
/** Server keys a device pins at most (agent.hello.pinnedKeys, server.hello.activeKeys, facts.serverKeys). */
export const MAX_PINNED_KEYS = 16;

const b64 = (min: number, max: number) => z.string().check(z.minLength(min), z.maxLength(max), z.regex(/^[A-Za-z0-9+/]+=*$/, 'base64'));
/**
 * Ed25519 signature: canonical base64 of 64 bytes, exactly as Node writes it. Node's decoder also accepts other
 * spellings of the same bytes (extra '=', other trailing bits), so without this a relayed frame could carry a
 * different but still valid `sig` (found by the rogue-server property run).
 */
const SignatureSchema = z.string().check(z.regex(/^[A-Za-z0-9+/]{85}[AQgw]==$/, 'base64 Ed25519 signature (88 characters)'));
/** Ed25519 public key: base64 of the 32 raw bytes. */
export const PublicKeySchema = b64(43, 44);
const deviceId = IdSchema;
/** 32 random bytes, base64: one per session and side. */
const nonce = () => b64(43, 44);
/**
 * What the sender sees of the TLS channel: RFC 9266 `tls-exporter` (32 bytes exported with the label
 * "EXPORTER-Channel-Binding" and no context), or `none` (plain ws:// on loopback, or TLS ended at a proxy).
 */
export const ChannelSchema = z.union([z.strictObject({ kind: z.literal('tls-exporter'), value: b64(43, 44) }), z.strictObject({ kind: z.literal('none') })]);
export type Channel = z.infer<typeof ChannelSchema>;
const actor = z.string().check(z.minLength(1), z.maxLength(128));
/** A link of the server key chain: `signedBy` signs `rmagent-key-endorse-v1:<signedBy>:<key>` (key-chain.ts). */
const EndorsementSchema = z.strictObject({ key: PublicKeySchema, signedBy: PublicKeySchema, sig: SignatureSchema });

export const EnvelopeSchema = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  id: IdSchema,
  type: z.string().check(z.minLength(1), z.maxLength(64)),
  ts: z.int().check(z.nonnegative()),
  body: z.unknown(),
  sig: z.optional(SignatureSchema),
});
export type Envelope = z.infer<typeof EnvelopeSchema>;

export const ReportKindSchema = z.enum(['status', 'service', 'teamviewer', 'alert.raised', 'alert.cleared', 'inventory', 'patches', 'backup', 'watchdog']);
export type ReportKind = z.infer<typeof ReportKindSchema>;

const statusReportData = () =>
  z.strictObject({
    os: z.partial(z.object({ platform: z.string(), distro: z.string(), release: z.string(), arch: z.string(), hostname: z.string() })),
    uptimeSec: z.number().check(z.nonnegative()),
    load: z.object({ cpuPercent: z.number().check(z.gte(0), z.lte(100)), avg1: z.nullable(z.number()) }),
    memory: z.object({ totalBytes: z.number().check(z.nonnegative()), usedBytes: z.number().check(z.nonnegative()), usedPercent: z.number().check(z.gte(0), z.lte(100)) }),
    disks: z.array(z.object({ mount: z.string(), fs: z.string(), sizeBytes: z.number().check(z.nonnegative()), usedBytes: z.number().check(z.nonnegative()), usedPercent: z.number().check(z.gte(0), z.lte(100)) })).check(z.maxLength(256)),
    network: z.array(z.object({ iface: z.string(), ip4: z.string(), ip6: z.string(), mac: z.string() })).check(z.maxLength(256)),
    hardware: z.partial(z.object({ manufacturer: z.string(), model: z.string(), serial: z.optional(z.string()), cpu: z.string(), cores: z.number() })),
  });
export type StatusReportData = z.infer<ReturnType<typeof statusReportData>>;

const alertClearedData = () => z.strictObject({ key: z.string().check(z.minLength(1), z.maxLength(256)), service: ServiceNameSchema, message: z.optional(z.string().check(z.maxLength(2048))) });

/**
 * The data schema of every report kind, checked by the server (built on first use: the agent builds its reports
 * through ReportData and never parses them). A report whose data does not match is kept flagged `invalid`.
 */
export const REPORT_DATA_SCHEMAS: Record<ReportKind, z.ZodMiniType> = lazyRecord({
  status: statusReportData,
  service: () => ServiceStateSchema,
  teamviewer: () => TeamViewerFactsSchema,
  'alert.raised': () => AlertSchema,
  'alert.cleared': alertClearedData,
  inventory: inventoryReportData,
  patches: patchesReportData,
  backup: backupReportData,
  watchdog: watchdogReportData,
} satisfies Record<ReportKind, () => z.ZodMiniType>);

/** The data of a report of kind K, as the agent builds it (types only). */
export interface ReportDataMap {
  status: StatusReportData;
  service: ServiceState;
  teamviewer: TeamViewerFacts;
  'alert.raised': Alert;
  'alert.cleared': z.input<ReturnType<typeof alertClearedData>>;
  inventory: InventoryReportData;
  patches: PatchesReportData;
  backup: BackupReportData;
  watchdog: WatchdogReportData;
}
export type ReportData<K extends ReportKind> = ReportDataMap[K];

export const ReportBodySchema = z.strictObject({ seq: z.int().check(z.gte(1)), kind: ReportKindSchema, at: z.int().check(z.nonnegative()), data: z.record(z.string(), z.unknown()) });
export type ReportBody = z.infer<typeof ReportBodySchema>;

const errorBody = () =>
  z.strictObject({
    code: z.string().check(z.minLength(1), z.maxLength(64)),
    message: z.string().check(z.maxLength(2048)),
    hint: z.optional(z.string().check(z.maxLength(2048))),
    ref: z.optional(IdSchema),
    retryAfterMs: z.optional(z.int().check(z.gte(0), z.lte(86_400_000))),
    /** true = the sender closes the connection after this frame. */
    fatal: z.optional(z.boolean()),
  });
export type ErrorBody = z.infer<ReturnType<typeof errorBody>>;

// Commands: signed by the server command key and bound to one device.
const commandBase = { deviceId, actor: z.optional(actor) };
/** The device's desired-state revision this change brings it to (the same counter as desired.state.revision). */
const revision = z.optional(z.int().check(z.nonnegative()));
// Built on first use (lazy-record.ts): a device meets few of them.
const COMMAND_BODY_BUILDERS = {
  desired: () => z.strictObject({ ...commandBase, state: DesiredStateSchema }),
  'service.install': () => z.strictObject({ ...commandBase, service: ServiceNameSchema, policy: PolicySchema, revision }),
  'service.uninstall': () => z.strictObject({ ...commandBase, service: ServiceNameSchema, revision }),
  'policy.assign': () => z.strictObject({ ...commandBase, service: ServiceNameSchema, policy: PolicySchema, revision }),
  'status.request': () => z.strictObject({ ...commandBase }),
  'inventory.request': () => z.strictObject({ ...commandBase, full: z._default(z.boolean(), false) }),
  'backup.run': () => z.strictObject({ ...commandBase }),
  'backup.restore': () => z.strictObject({ ...commandBase, actor, snapshot: z.optional(IdSchema), target: z.optional(z.string().check(z.maxLength(4096))), paths: z.optional(z.array(z.string().check(z.maxLength(4096))).check(z.maxLength(10_000))) }),
  'patches.install': () => z.strictObject({ ...commandBase }),
  'patches.scan': () => z.strictObject({ ...commandBase }),
  'alert.ack': () => z.strictObject({ ...commandBase, actor, key: z.string().check(z.minLength(1), z.maxLength(256)) }),
  'key.rotate': () => z.strictObject({
    ...commandBase, newKey: PublicKeySchema, retireKey: z.optional(PublicKeySchema), pins: z.optional(z.array(z.string().check(z.maxLength(64))).check(z.maxLength(8))),
    /** The chain to newKey, oldest first (from the server's oldest active key): a device adds newKey only if it leads there from its newest pin. */
    endorsements: z.optional(z.array(EndorsementSchema).check(z.maxLength(MAX_PINNED_KEYS))),
  }),
};
export const COMMAND_BODY_SCHEMAS = lazyRecord(COMMAND_BODY_BUILDERS);
export type CommandType = keyof typeof COMMAND_BODY_BUILDERS;
export const COMMAND_TYPES = Object.keys(COMMAND_BODY_BUILDERS) as CommandType[];
// A command's entry in BODY_SCHEMAS is the same schema object as in COMMAND_BODY_SCHEMAS.
const commandEntries = Object.fromEntries(COMMAND_TYPES.map((t) => [t, () => COMMAND_BODY_SCHEMAS[t]])) as { [K in CommandType]: () => (typeof COMMAND_BODY_SCHEMAS)[K] };

export const BODY_SCHEMAS = lazyRecord({
  // agent -> server, first frame of a connection (unsigned: it carries nothing secret).
  'agent.hello': () => z.strictObject({
    protocol: z.literal(PROTOCOL_VERSION), nonce: nonce(), deviceKey: PublicKeySchema, agentVersion: z.string().check(z.maxLength(64)),
    /** The server keys the device pins: the server sends the endorsement chain from the newest one it knows. */
    pinnedKeys: z.optional(z.array(PublicKeySchema).check(z.maxLength(MAX_PINNED_KEYS))),
  }),
  // server -> agent: signed by serverKey; proves the key over this session (agentNonce), device and channel.
  'server.hello': () => z.strictObject({
    protocol: z.literal(PROTOCOL_VERSION),
    agentNonce: nonce(),
    deviceKey: PublicKeySchema,
    nonce: nonce(),
    serverTime: z.int().check(z.nonnegative()),
    serverKey: PublicKeySchema,
    channel: ChannelSchema,
    /** Key rotations, oldest first: each key signed by its predecessor, so a device pinning an older key can follow. */
    endorsements: z.optional(z.array(EndorsementSchema).check(z.maxLength(MAX_ENDORSEMENTS))),
    /** Every key the server has not retired (serverKey among them): the device drops pinned keys not listed. */
    activeKeys: z.optional(z.array(PublicKeySchema).check(z.minLength(1), z.maxLength(MAX_PINNED_KEYS))),
  }),
  // server -> agent: signed by the key of server.hello; the device id is taken from here only.
  welcome: () => z.strictObject({ agentNonce: nonce(), deviceId, enrolled: z.boolean(), heartbeatSec: z.int().check(z.gte(1), z.lte(600)), lastSeq: z.int().check(z.nonnegative()) }),
  'report.ack': () => z.strictObject({ upTo: z.int().check(z.nonnegative()) }),
  ...commandEntries,
  // agent -> server: signed by the device key (auth: the registered one; enroll: publicKey, proof of possession).
  auth: () => z.strictObject({ deviceId, serverNonce: nonce(), channel: ChannelSchema, facts: DeviceFactsSchema }),
  enroll: () => z.strictObject({ token: z.string().check(z.minLength(8), z.maxLength(256)), publicKey: PublicKeySchema, serverNonce: nonce(), channel: ChannelSchema, facts: DeviceFactsSchema }),
  ack: () => z.strictObject({
    commandId: IdSchema,
    status: z.enum(['accepted', 'rejected', 'done', 'failed']),
    reason: z.optional(z.object({ code: z.string().check(z.maxLength(64)), message: z.string().check(z.maxLength(2048)) })),
  }),
  report: () => ReportBodySchema,
  /** `rmagent unenroll` on the device: the server forgets the device (and closes the connection). */
  unenroll: () => z.strictObject({ reason: z.optional(z.string().check(z.maxLength(256))) }),
  // both ways
  error: errorBody,
});

export type FrameType = keyof typeof BODY_SCHEMAS;
export type BodyOf<T extends FrameType> = z.infer<(typeof BODY_SCHEMAS)[T]>;
export type Frame<T extends FrameType = FrameType> = T extends FrameType ? { v: typeof PROTOCOL_VERSION; id: string; type: T; ts: number; body: BodyOf<T>; sig?: string } : never;

export const AGENT_TO_SERVER: readonly FrameType[] = ['agent.hello', 'auth', 'enroll', 'ack', 'report', 'unenroll', 'error'];
export const SERVER_TO_AGENT: readonly FrameType[] = ['server.hello', 'welcome', 'report.ack', 'error', ...COMMAND_TYPES];

export function isCommandType(type: string): type is CommandType {
  return Object.hasOwn(COMMAND_BODY_SCHEMAS, type);
}

export type ParseResult = { ok: true; frame: Frame } | { ok: false; code: ErrorCode; message: string; ref?: string };

/**
 * Parses one text frame: size, JSON, envelope, known type, allowed direction, body schema.
 * Never throws; the caller answers a failure with an error frame and keeps the connection.
 */
export function parseFrame(text: string, options: { maxBytes?: number; accept?: readonly FrameType[] } = {}): ParseResult {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (text.length > maxBytes || Buffer.byteLength(text, 'utf8') > maxBytes) return { ok: false, code: 'FRAME_TOO_LARGE', message: `frame is larger than ${maxBytes} bytes` };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: 'FRAME_INVALID', message: 'frame is not valid JSON' };
  }
  if (depthExceeds(raw, MAX_FRAME_DEPTH)) return { ok: false, code: 'FRAME_INVALID', message: `frame is nested deeper than ${MAX_FRAME_DEPTH} levels`, ...refOf(raw) };
  const env = EnvelopeSchema.safeParse(raw);
  if (!env.success) return { ok: false, code: 'FRAME_INVALID', message: describeIssues(env.error), ...refOf(raw) };
  const { type } = env.data;
  if (!Object.hasOwn(BODY_SCHEMAS, type) || (options.accept && !options.accept.includes(type as FrameType))) {
    return { ok: false, code: 'FRAME_UNKNOWN_TYPE', message: `unknown frame type ${JSON.stringify(type.slice(0, 64))}`, ref: env.data.id };
  }
  const body = BODY_SCHEMAS[type as FrameType].safeParse(env.data.body);
  if (!body.success) return { ok: false, code: 'FRAME_INVALID', message: `${type}: ${describeIssues(body.error)}`, ref: env.data.id };
  return { ok: true, frame: { ...env.data, body: body.data } as Frame };
}

/** Validates an outgoing frame (a bug here must not reach the peer) and returns its text. */
export function encodeFrame(frame: Frame): string {
  EnvelopeSchema.parse(frame);
  BODY_SCHEMAS[frame.type].parse(frame.body);
  return JSON.stringify(frame);
}

let counter = 0;
/** Builds an unsigned frame with a fresh unique id. */
export function makeFrame<T extends FrameType>(type: T, body: BodyOf<T>, ts = Date.now()): Frame<T> {
  counter = (counter + 1) % 1_000_000;
  const id = `${ts.toString(36)}-${counter.toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  return { v: PROTOCOL_VERSION, id, type, ts, body } as Frame<T>;
}

export function describeIssues(error: z.core.$ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

// Iterative, so a hostile 500 000-level value cannot overflow the stack while being measured.
function depthExceeds(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (!v || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Object.values(v)) if (child && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

function refOf(raw: unknown): { ref?: string } {
  if (raw && typeof raw === 'object' && 'id' in raw && typeof raw.id === 'string' && IdSchema.safeParse(raw.id).success) return { ref: raw.id };
  return {};
}

export { SeveritySchema };
