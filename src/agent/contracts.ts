// The interfaces between the agent's parts. agent.ts (the composition root) builds each part and hands
// it the others it needs through these; no part imports another part's implementation.
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { CommandRunner } from '../system/exec.js';
import type { Clock } from '../system/clock.js';
import type { ReportBody, ReportData, ReportKind, Frame, CommandType } from '../protocol/frames.js';
import type { DesiredState, DeviceFacts, Policy, ServiceName, ServiceState, TeamViewerFacts } from '../protocol/model.js';
import type { Problem } from '../protocol/errors.js';
import type * as z from 'zod/mini';

/** The edges every part may use, passed in rather than imported. */
export interface AgentContext {
  config: Config;
  logger: Logger;
  runner: CommandRunner;
  clock: Clock;
}

// ---- registration (identity.ts) -------------------------------------------------------------
export interface Registration {
  /** Server URL (ws:// or wss://) recorded by `rmagent enroll`. */
  serverUrl: string;
  /** Present until the server has enrolled the device; then dropped from disk. */
  enrollmentToken: string | null;
  /** Pinned server command keys (base64 raw Ed25519); empty = pin on first enrollment. */
  serverKeys: string[];
  deviceId: string | null;
  machineId: string;
  publicKey: string;
  alias: string | null;
  assignmentId: string | null;
  registeredAt: number;
  enrolledAt: number | null;
  /** TLS certificate pins announced by the server (key.rotate {pins}); see tls-pins.ts for when they apply. */
  tlsPins?: string[];
  /** The config pin (connection.pinSha256) in force when tlsPins were learned. */
  tlsPinsBase?: string | null;
}

export interface IdentityStore {
  /** Current registration (null when not registered); re-read from disk when asked to. */
  load(): Promise<Registration | null>;
  privateKeyPem(): Promise<string>;
  /** After a welcome: store the device id, pin the server key if none was pinned, drop the token. */
  markEnrolled(deviceId: string, serverKey: string): Promise<Registration>;
  /** Replace the pinned keys (key rotation). */
  setServerKeys(keys: string[]): Promise<Registration>;
  /** Replace the learned TLS pins, recording the config pin they were learned over. */
  setTlsPins(pins: string[], base: string): Promise<Registration>;
  /** Problems found at load (cloned disk, corrupt file, loose permissions). */
  problems(): Problem[];
}

// ---- outbox (outbox.ts) ----------------------------------------------------------------------
export interface OutboxStats {
  pending: number;
  bytes: number;
  oldestAt: number | null;
  lastAckedSeq: number;
  nextSeq: number;
  dropped: number;
}

export interface Outbox {
  /** Durably stores a report and returns its sequence number. Resolves only once it is on disk. */
  append(kind: ReportKind, data: Record<string, unknown>): Promise<number>;
  /** Reports not yet acknowledged, oldest first (only those numbered above `afterSeq` when given). */
  pending(limit?: number, afterSeq?: number): Promise<ReportBody[]>;
  /** The server has stored every report up to `seq`. */
  ackUpTo(seq: number): Promise<void>;
  stats(): OutboxStats;
  /** Called after each append so the connection can flush. */
  onAppend(listener: () => void): void;
}

// ---- connection (connection.ts) --------------------------------------------------------------
export type ConnectionPhase = 'idle' | 'connecting' | 'handshaking' | 'connected' | 'backoff' | 'stopped';

export interface ConnectionStatus {
  phase: ConnectionPhase;
  serverUrl: string | null;
  since: number;
  connectedAt: number | null;
  lastError: { code: string; message: string; at: number } | null;
  attempts: number;
  nextRetryAt: number | null;
  insecure: boolean;
  /** Server time minus the device clock now (ms): server time is the signed serverTime of the last handshake plus monotonic time since, so a step of the device clock shows at once. Null before a handshake. */
  clockSkewMs: number | null;
}

export interface CommandOutcome {
  status: 'done' | 'failed' | 'rejected';
  reason?: { code: string; message: string };
  /** No final ack now: the service hands the command to work that outlives this call (a backup job that keeps
   * running while the agent stops) and settles it later through ServiceRuntime.settle. */
  later?: boolean;
}

/** What the connection hands verified commands to (the agent's command dispatcher). */
export type CommandHandler = (frame: Frame & { type: CommandType }) => Promise<CommandOutcome>;

export interface Connection {
  start(): void;
  stop(): Promise<void>;
  /** A command's final outcome known after its handling returned (outcomes.ts: journaled, sent when connected). */
  settle(commandId: string, outcome: CommandOutcome): Promise<void>;
  /** Tells the server this device leaves (`rmagent unenroll`); false when not connected. Stops reconnecting. */
  unenroll(reason: string): Promise<boolean>;
  status(): ConnectionStatus;
  /** The SPKI pin of the server certificate on the live connection; null when there is none or it is not TLS. */
  peerCertificatePin(): string | null;
  /** Called on every phase change, e.g. to refresh the status snapshot. */
  onStatus(listener: (s: ConnectionStatus) => void): void;
}

// ---- TeamViewer (teamviewer/) ----------------------------------------------------------------
export interface TeamViewerWatcher {
  current(): TeamViewerFacts | null;
  /** Detect now (also runs every teamviewer.detectIntervalSec); listeners hear about changes only. */
  refresh(): Promise<TeamViewerFacts>;
  onChange(listener: (facts: TeamViewerFacts, previous: TeamViewerFacts | null) => void): void;
  start(): void;
  stop(): void;
}

// ---- services (services/) ---------------------------------------------------------------------
/** Queues a report; its data has the shape the server checks for its kind (protocol/report-data.ts). */
export type ReportFn = <K extends ReportKind>(kind: K, data: ReportData<K>) => Promise<void>;

export interface ServiceRuntime {
  /** Queue a report in the outbox (durable). */
  report: ReportFn;
  /** The final outcome of a command whose handling returned `later` (kept until the server has it). */
  settle?(commandId: string, outcome: CommandOutcome): Promise<void>;
  /** The service's own folder under the state folder. */
  stateDir: string;
  /** Folders whose files a policy must never make a service read or reveal (the agent's whole state folder). */
  privateDirs?: readonly string[];
  logger: Logger;
  runner: CommandRunner;
  clock: Clock;
}

export interface RmService {
  readonly name: ServiceName;
  readonly policySchema: z.ZodMiniType;
  /** One-time set-up on this device (idempotent). */
  install(): Promise<void>;
  /** Start or change behaviour to match the policy (idempotent; settings already validated). */
  apply(policy: Policy, settings: unknown): Promise<void>;
  /** Stop and remove what install created (idempotent). */
  uninstall(): Promise<void>;
  /** Stop timers without uninstalling (agent shutdown). */
  stop(): Promise<void>;
  /** Service-specific problems for status. */
  problems(): Problem[];
  /** Service-specific command (e.g. backup.restore, alert.ack); undefined = not handled. */
  handleCommand?(frame: Frame & { type: CommandType }): Promise<CommandOutcome | undefined>;
}

export type ServiceFactory = (runtime: ServiceRuntime) => RmService;

export interface Converger {
  /** Load persisted desired/current state and resume services. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Replace the whole desired state (from a `desired` frame). */
  /**
   * Replace the desired state. Each service change passes the same gate as its own command (Backup: only its owner
   * installs or changes it, as `activatedBy` or `actor`); a vetoed service keeps what it had and the outcome says why.
   */
  setDesired(state: DesiredState, actor?: string): Promise<CommandOutcome>;
  /** Apply one command (service.install / service.uninstall / policy.assign). */
  applyCommand(frame: Frame & { type: CommandType }): Promise<CommandOutcome>;
  /** Re-evaluate (e.g. TeamViewer became present). */
  kick(): void;
  services(): ServiceState[];
  problems(): Problem[];
  /** The running service instance for service-specific commands. */
  service(name: ServiceName): RmService | undefined;
}

export type { DeviceFacts };
