// The `rmagent status --json` contract (DESIGN.md): its schema, and the pure decision of health and exit code.
// MDM compliance scripts parse this; change it only by adding fields, and bump `schema` if a field changes meaning.
import * as z from 'zod/mini';
import { ERRORS, problem, type ErrorCode, type Problem } from '../protocol/errors.js';
import { ServiceStateSchema, TeamViewerFactsSchema, type ServiceState, type TeamViewerFacts } from '../protocol/model.js';
import { keyFingerprint } from '../protocol/sign.js';
import { tlsPinsInUse } from './tls-pins.js';

/** Above this the clock skew is a problem (CLOCK_SKEW); commands are checked against server time anyway. */
export const CLOCK_SKEW_PROBLEM_MS = 60_000;
import type { ConnectionStatus, OutboxStats, Registration } from './contracts.js';

export const STATUS_SCHEMA_ID = 'rmagent.status/v1';

export type Health = 'healthy' | 'degraded' | 'unhealthy';

/**
 * The schema of a status read back (`rmagent status`, the state-file snapshot). Built at each use: the daemon only
 * writes statuses, and this tree would otherwise stay in its memory for nothing.
 */
export function statusSchema() {
  const problem = z.strictObject({ code: z.string(), message: z.string(), fix: z.string() });
  return z.strictObject({
    schema: z.literal(STATUS_SCHEMA_ID),
    generatedAt: z.number(),
    agent: z.strictObject({ version: z.string(), commit: z.string(), runtime: z.string(), running: z.boolean(), pid: z.nullable(z.number()), startedAt: z.nullable(z.number()), source: z.enum(['daemon', 'state-files']) }),
    teamviewer: z.nullable(TeamViewerFactsSchema),
    registration: z.strictObject({
      registered: z.boolean(),
      enrolled: z.boolean(),
      deviceId: z.nullable(z.string()),
      server: z.nullable(z.string()),
      alias: z.nullable(z.string()),
      serverKeys: z.array(z.string()),
      registeredAt: z.nullable(z.number()),
      enrolledAt: z.nullable(z.number()),
    }),
    connection: z.strictObject({
      state: z.string(),
      since: z.nullable(z.number()),
      connectedAt: z.nullable(z.number()),
      lastError: z.nullable(z.object({ code: z.string(), message: z.string(), at: z.number() })),
      attempts: z.number(),
      nextRetryAt: z.nullable(z.number()),
      insecure: z.boolean(),
      /** Server time (its serverTime at the last handshake + monotonic time since) minus the device clock now (ms); null before a handshake. Absent in snapshots of older agents. */
      clockSkewMs: z.optional(z.nullable(z.number())),
      /** TLS certificate pins enforced on the next connection, and where they come from (tls-pins.ts). */
      tlsPins: z.optional(z.strictObject({ source: z.enum(['learned', 'config', 'none']), pins: z.array(z.string()) })),
    }),
    services: z.array(ServiceStateSchema),
    outbox: z.strictObject({ pending: z.number(), bytes: z.number(), oldestAt: z.nullable(z.number()), lastAckedSeq: z.number(), dropped: z.number() }),
    health: z.enum(['healthy', 'degraded', 'unhealthy']) satisfies z.ZodMiniType<Health>,
    problems: z.array(problem),
  });
}
export type AgentStatus = z.infer<ReturnType<typeof statusSchema>>;

// Problems that make the agent useless until someone acts; everything else only degrades it.
const UNHEALTHY: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'NOT_REGISTERED', 'AGENT_NOT_RUNNING', 'REGISTRATION_CORRUPT', 'TEAMVIEWER_MISSING', 'AUTH_FAILED', 'ENROLLMENT_REFUSED',
  'ENROLLMENT_TOKEN_MISSING', 'SERVER_KEY_MISMATCH', 'SERVER_PROOF_INVALID', 'DEVICE_ID_MISMATCH', 'ENROLLMENT_FAILED', 'PROTOCOL_UNSUPPORTED', 'INSECURE_TRANSPORT', 'STATE_UNWRITABLE', 'CLONED_IDENTITY', 'TLS_FAILED', 'TLS_PIN_MISMATCH',
]);

export function healthOf(problems: readonly Problem[]): Health {
  if (problems.some((p) => UNHEALTHY.has(p.code))) return 'unhealthy';
  return problems.length ? 'degraded' : 'healthy';
}

/**
 * Exit code of `rmagent status` (README "Exit codes"): 0 healthy, 1 degraded, 2 unhealthy, not running or not registered.
 * An unhealthy agent (a refused token, a server key mismatch...) is 2 even while it runs: it needs someone to act.
 */
export function statusExitCode(status: Pick<AgentStatus, 'agent' | 'registration' | 'health'>): 0 | 1 | 2 {
  if (!status.agent.running || !status.registration.registered || status.health === 'unhealthy') return 2;
  return status.health === 'healthy' ? 0 : 1;
}

export interface StatusInput {
  now: number;
  agent: AgentStatus['agent'];
  registration: Registration | null;
  teamviewer: TeamViewerFacts | null;
  teamviewerRequired: boolean;
  connection: ConnectionStatus | null;
  services: ServiceState[];
  outbox: OutboxStats | null;
  /** connection.pinSha256 from the configuration. */
  configPin?: string | undefined;
  /** Problems the parts already know about (identity, TeamViewer, converger, services). */
  partProblems: Problem[];
  /** Why the daemon could not be asked (shown with AGENT_NOT_RUNNING). */
  notRunningReason?: string;
}

const CONNECTION_PROBLEM_CODES = new Set(Object.keys(ERRORS));

/** Builds the status object and decides health from plain data. Pure. */
export function buildStatus(input: StatusInput): AgentStatus {
  const problems: Problem[] = [];
  const reg = input.registration;
  if (!input.agent.running) problems.push(problem('AGENT_NOT_RUNNING', input.notRunningReason));
  if (!reg) problems.push(problem('NOT_REGISTERED'));
  const conn = input.connection;
  if (conn?.insecure) problems.push(problem('INSECURE_TRANSPORT_ALLOWED'));
  const skew = conn?.clockSkewMs ?? null;
  if (skew !== null && Math.abs(skew) > CLOCK_SKEW_PROBLEM_MS) {
    problems.push(problem('CLOCK_SKEW', `the device clock is ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'behind' : 'ahead of'} the server (server time from the last handshake, kept on a monotonic clock)`));
  }
  if (conn?.lastError && conn.phase !== 'connected') {
    const code = CONNECTION_PROBLEM_CODES.has(conn.lastError.code) ? (conn.lastError.code as ErrorCode) : 'SERVER_UNREACHABLE';
    problems.push(problem(code, conn.lastError.message));
  }
  if (input.outbox && input.outbox.pending > 0 && conn?.phase !== 'connected' && reg?.deviceId) {
    problems.push(problem('OUTBOX_BACKLOG', `${input.outbox.pending} report(s) waiting`));
  }
  for (const p of input.partProblems) {
    if (!input.teamviewerRequired && p.code === 'TEAMVIEWER_MISSING') continue;
    problems.push(p);
  }
  const unique = dedupeProblems(problems);
  return {
    schema: STATUS_SCHEMA_ID,
    generatedAt: input.now,
    agent: input.agent,
    teamviewer: input.teamviewer,
    registration: {
      registered: reg !== null,
      enrolled: reg?.deviceId != null && reg.enrolledAt != null,
      deviceId: reg?.deviceId ?? null,
      server: reg?.serverUrl ?? null,
      alias: reg?.alias ?? null,
      serverKeys: (reg?.serverKeys ?? []).map(keyFingerprint),
      registeredAt: reg?.registeredAt ?? null,
      enrolledAt: reg?.enrolledAt ?? null,
    },
    connection: {
      state: conn?.phase ?? (reg ? 'stopped' : 'idle'),
      since: conn?.since ?? null,
      connectedAt: conn?.connectedAt ?? null,
      lastError: conn?.lastError ?? null,
      attempts: conn?.attempts ?? 0,
      nextRetryAt: conn?.nextRetryAt ?? null,
      insecure: conn?.insecure ?? false,
      clockSkewMs: conn?.clockSkewMs ?? null,
      tlsPins: tlsPinsInUse(reg, input.configPin),
    },
    services: input.services,
    outbox: {
      pending: input.outbox?.pending ?? 0,
      bytes: input.outbox?.bytes ?? 0,
      oldestAt: input.outbox?.oldestAt ?? null,
      lastAckedSeq: input.outbox?.lastAckedSeq ?? 0,
      dropped: input.outbox?.dropped ?? 0,
    },
    health: healthOf(unique),
    problems: unique,
  };
}


function dedupeProblems(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.code}|${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
