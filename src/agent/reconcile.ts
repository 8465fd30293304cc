// Which steps bring the current service state to the desired state. Pure: plain data in, steps out;
// the converger carries the steps out (balena-supervisor's target -> current split).
import type * as z from 'zod/mini';
import { ERRORS, problem, type ErrorCode, type Problem } from '../protocol/errors.js';
import { describeIssues } from '../protocol/frames.js';
import type { DesiredState, Policy, ServiceName, ServiceState } from '../protocol/model.js';
import type { CommandOutcome } from './contracts.js';

export type StepKind = 'install' | 'apply' | 'uninstall' | 'refuse' | 'quarantine';
export interface StepReason {
  code: string;
  message: string;
}
export interface Step {
  kind: StepKind;
  service: ServiceName;
  policy?: Policy;
  reason?: StepReason;
}

export interface RetryBackoff {
  baseMs: number;
  maxMs: number;
}
export const DEFAULT_RETRY_BACKOFF: RetryBackoff = { baseMs: 2_000, maxMs: 5 * 60_000 };

export interface PlanInput {
  desired: DesiredState;
  current: ServiceState[];
  supported: readonly ServiceName[];
  prerequisiteMet: boolean;
  quarantineAfter: number;
  now: number;
  /** Each service's policy schema; a service without one accepts any settings. */
  policySchemas?: Partial<Record<ServiceName, z.ZodMiniType>>;
  backoff?: RetryBackoff;
}

/** A service is installed once its install step succeeded: from then on its state carries a policy. */
export function isInstalled(state: ServiceState | undefined): boolean {
  return state !== undefined && state.policy !== null;
}

/** Desired and current agree: same policy id and version, applied, running. */
export function inSync(state: ServiceState | undefined, policy: Policy): boolean {
  return state?.phase === 'running' && state.policy?.applied === true && state.policy.id === policy.id && state.policy.version === policy.version;
}

/** When a failed service may be tried again: exponential from its last failure, capped. */
export function retryAt(state: ServiceState, backoff: RetryBackoff = DEFAULT_RETRY_BACKOFF): number {
  const exp = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, Math.min(30, state.attempts - 1)));
  return state.since + exp;
}

export function reasonOf(code: ErrorCode, detail: string): StepReason {
  return { code, message: `${ERRORS[code].message}: ${detail}` };
}

/** The reason a policy's settings do not fit the service schema, or null when they fit. */
export function policyProblem(policy: Policy, service: ServiceName, schema: z.ZodMiniType | undefined): StepReason | null {
  const at = `${service} policy ${policy.id} v${policy.version}`;
  if (policy.service !== service) return reasonOf('POLICY_INVALID', `${at} is for the ${policy.service} service`);
  if (!schema) return null;
  const parsed = schema.safeParse(policy.settings);
  return parsed.success ? null : reasonOf('POLICY_INVALID', `${at}: ${describeIssues(parsed.error)}`);
}

const sameReason = (a: StepReason | null | undefined, b: StepReason) => a?.code === b.code && a.message === b.message;

export function planSteps(input: PlanInput): Step[] {
  const current = new Map(input.current.map((s) => [s.name, s]));
  const names = new Set<ServiceName>([...(Object.keys(input.desired.services) as ServiceName[]), ...current.keys()]);
  const steps: Step[] = [];
  for (const service of [...names].sort()) {
    const wanted = input.desired.services[service];
    steps.push(...(wanted ? planDesired(input, service, wanted.policy, current.get(service)) : planUnwanted(input, service, current.get(service))));
  }
  return steps;
}

function planUnwanted(input: PlanInput, service: ServiceName, state: ServiceState | undefined): Step[] {
  if (!state || state.phase === 'quarantined') return [];
  if (state.phase === 'failed' && state.attempts >= input.quarantineAfter) return [{ kind: 'quarantine', service, reason: state.reason ?? reasonOf('SERVICE_FAILED', service) }];
  if (state.phase === 'failed' && input.now < retryAt(state, input.backoff)) return [];
  return [{ kind: 'uninstall', service }];
}

function planDesired(input: PlanInput, service: ServiceName, policy: Policy, state: ServiceState | undefined): Step[] {
  // A refusal already recorded with the same reason is not repeated: idempotent, no report storm.
  const refuse = (reason: StepReason): Step[] => (sameReason(state?.reason, reason) ? [] : [{ kind: 'refuse', service, policy, reason }]);
  if (!input.supported.includes(service)) return refuse(reasonOf('SERVICE_NOT_SUPPORTED', service));
  if (state?.phase === 'quarantined') return [];
  if (state?.phase === 'failed' && state.attempts >= input.quarantineAfter) {
    return [{ kind: 'quarantine', service, policy, reason: state.reason ?? reasonOf('SERVICE_FAILED', service) }];
  }
  if (inSync(state, policy)) return [];
  const invalid = policyProblem(policy, service, input.policySchemas?.[service]);
  if (invalid) return refuse(invalid);
  if (state?.phase === 'failed' && input.now < retryAt(state, input.backoff)) return [];
  if (isInstalled(state)) return [{ kind: 'apply', service, policy }];
  if (!input.prerequisiteMet) return refuse(reasonOf('PREREQUISITE_MISSING', `${service} needs TeamViewer Host or the full client`));
  return [
    { kind: 'install', service, policy },
    { kind: 'apply', service, policy },
  ];
}

const REFUSAL_CODES: ReadonlySet<string> = new Set(['SERVICE_NOT_SUPPORTED', 'POLICY_INVALID', 'PREREQUISITE_MISSING']);

/** The ack of a service command once convergence ran: `policy` null = the service was to be removed. */
export function commandOutcome(name: ServiceName, state: ServiceState | undefined, policy: Policy | null): CommandOutcome {
  if (!policy) return state ? { status: 'failed', reason: state.reason ?? reasonOf('SERVICE_FAILED', `${name} is still installed`) } : { status: 'done' };
  if (inSync(state, policy)) return { status: 'done' };
  const reason = state?.reason ?? reasonOf('SERVICE_FAILED', `${name} did not reach policy ${policy.id} v${policy.version}`);
  return { status: REFUSAL_CODES.has(reason.code) ? 'rejected' : 'failed', reason };
}

/** What `status` shows for the services: quarantined, failing, or refused with the table's fix. */
export function serviceProblems(states: readonly ServiceState[]): Problem[] {
  return states.flatMap((s): Problem[] => {
    const why = s.reason?.message ?? 'unknown reason';
    if (s.phase === 'quarantined') return [problem('SERVICE_QUARANTINED', `${s.name}: ${why}`)];
    if (s.phase === 'failed') return [problem('SERVICE_FAILED', `${s.name}: ${why}`)];
    if (s.reason && Object.hasOwn(ERRORS, s.reason.code)) return [{ code: s.reason.code as ErrorCode, message: s.reason.message, fix: ERRORS[s.reason.code as ErrorCode].hint }];
    return [];
  });
}
