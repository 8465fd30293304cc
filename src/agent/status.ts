// The `rmagent status --json` contract (DESIGN.md): its schema, and the pure decision of health and exit code.
// MDM compliance scripts parse this; change it only by adding fields, and bump `schema` if a field changes meaning.
import * as z from 'zod';
import { ERRORS, problem, type ErrorCode, type Problem } from '../protocol/errors.js';
import { ServiceStateSchema, TeamViewerFactsSchema, type ServiceState, type TeamViewerFacts } from '../protocol/model.js';
import { keyFingerprint } from '../protocol/sign.js';
import { tlsPinsInUse } from './tls-pins.js';
import type { ConnectionStatus, OutboxStats, Registration } from './contracts.js';

export const STATUS_SCHEMA_ID = 'rmagent.status/v1';

export type Health = 'healthy' | 'degraded' | 'unhealthy';

/**
 * The schema of a status read back (`rmagent status`, the state-file snapshot). Built at each use: the daemon only
 * writes statuses, and this tree would otherwise stay in its memory for nothing.
 */
export function statusSchema() {
  const problem = z.object({ code: z.string(), message: z.string(), fix: z.string() }).strict();
  return z
    .object({
      schema: z.literal(STATUS_SCHEMA_ID),
      generatedAt: z.number(),
      agent: z.object({ version: z.string(), commit: z.string(), runtime: z.string(), running: z.boolean(), pid: z.number().nullable(), startedAt: z.number().nullable(), source: z.enum(['daemon', 'state-files']) }).strict(),
      teamviewer: TeamViewerFactsSchema.nullable(),
      registration: z
        .object({
          registered: z.boolean(),
          enrolled: z.boolean(),
          deviceId: z.string().nullable(),
          server: z.string().nullable(),
          alias: z.string().nullable(),
          serverKeys: z.array(z.string()),
          registeredAt: z.number().nullable(),
          enrolledAt: z.number().nullable(),
        })
        .strict(),
      connection: z
        .object({
          state: z.string(),
          since: z.number().nullable(),
          connectedAt: z.number().nullable(),
          lastError: z.object({ code: z.string(), message: z.string(), at: z.number() }).nullable(),
          attempts: z.number(),
          nextRetryAt: z.number().nullable(),
          insecure: z.boolean(),
          /** TLS certificate pins enforced on the next connection, and where they come from (tls-pins.ts). */
          tlsPins: z.object({ source: z.enum(['learned', 'config', 'none']), pins: z.array(z.string()) }).strict().optional(),
        })
        .strict(),
      services: z.array(ServiceStateSchema),
      outbox: z.object({ pending: z.number(), bytes: z.number(), oldestAt: z.number().nullable(), lastAckedSeq: z.number(), dropped: z.number() }).strict(),
      health: z.enum(['healthy', 'degraded', 'unhealthy']) satisfies z.ZodType<Health>,
      problems: z.array(problem),
    })
    .strict();
}
export type AgentStatus = z.infer<ReturnType<typeof statusSchema>>;

// Problems that make the agent useless until someone acts; everything else only degrades it.
const UNHEALTHY: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'NOT_REGISTERED', 'AGENT_NOT_RUNNING', 'REGISTRATION_CORRUPT', 'TEAMVIEWER_MISSING', 'AUTH_FAILED', 'ENROLLMENT_REFUSED',
  'ENROLLMENT_TOKEN_MISSING', 'SERVER_KEY_MISMATCH', 'INSECURE_TRANSPORT', 'STATE_UNWRITABLE', 'CLONED_IDENTITY', 'TLS_FAILED', 'TLS_PIN_MISMATCH',
]);

export function healthOf(problems: readonly Problem[]): Health {
  if (problems.some((p) => UNHEALTHY.has(p.code))) return 'unhealthy';
  return problems.length ? 'degraded' : 'healthy';
}

/** Exit code of `rmagent status`: 0 healthy, 1 degraded (or unhealthy while running), 2 not running or not registered. */
export function statusExitCode(status: Pick<AgentStatus, 'agent' | 'registration' | 'health'>): 0 | 1 | 2 {
  if (!status.agent.running || !status.registration.registered) return 2;
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
