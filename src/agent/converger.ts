// Carries out the steps planSteps decides: installs, applies, uninstalls services, persists desired and
// current state, reports each step, retries failures with capped backoff and quarantines what keeps failing.
import path from 'node:path';
import * as z from 'zod/mini';
import { readJsonFile, writeJsonAtomic } from '../system/files.js';
import { waitAtMost } from '../system/wait.js';
import { problem, type Problem } from '../protocol/errors.js';
import type { CommandType, Frame } from '../protocol/frames.js';
import { DesiredStateSchema, PolicySchema, PROTOCOL_VERSION, ServiceStateSchema, type DesiredState, type Policy, type ServiceName, type ServiceState } from '../protocol/model.js';
import type { ServiceRegistry } from '../services/registry.js';
import type { AgentContext, CommandOutcome, Converger, ReportFn, RmService, ServiceRuntime } from './contracts.js';
import { commandOutcome, DEFAULT_RETRY_BACKOFF, inSync, planSteps, policyProblem, reasonOf, retryAt, serviceProblems, type RetryBackoff, type Step } from './reconcile.js';
import { compareText } from '../system/compare-text.js';

export const DESIRED_FILE = 'desired.json';
export const SERVICES_FILE = 'services.json';

/**
 * One service as persisted: its state, the last policy it applied successfully (resumed at start), and the step
 * running now. A step still marked at the next start was cut short by the agent's end (a crash, the watchdog, the
 * service manager): it counts as a failed attempt, so a step that kills the agent ends quarantined, not in a loop.
 * The file's schemas are built at each read and not kept: it is read once at start (docs/benchmarks.md, issue 19).
 */
const serviceRecordSchema = () => z.strictObject({
  state: ServiceStateSchema,
  policy: z.nullable(PolicySchema),
  inProgress: z.optional(z.strictObject({ kind: z.enum(['install', 'apply', 'uninstall']), since: z.int() })),
});
const servicesFileSchema = () => z.strictObject({ services: z.array(serviceRecordSchema()) });
type ServiceRecord = z.infer<ReturnType<typeof serviceRecordSchema>>;
type StepMark = NonNullable<ServiceRecord['inProgress']>;

export interface ConvergerOptions {
  context: AgentContext;
  stateDir: string;
  registry: ServiceRegistry;
  report: ReportFn;
  /** Late final outcomes of commands (ServiceRuntime.settle); absent = services cannot hand commands over. */
  settle?: ServiceRuntime['settle'];
  prerequisiteMet: () => boolean;
  /** Retry delays of failed steps (default 2 s doubling to 5 min). */
  retry?: RetryBackoff;
}

const STOP_WAIT_MS = 30_000;

export function createConverger(opts: ConvergerOptions): Converger {
  const { context, registry } = opts;
  const { logger, clock } = context;
  const backoff = opts.retry ?? DEFAULT_RETRY_BACKOFF;
  const desiredFile = path.join(opts.stateDir, DESIRED_FILE);
  const servicesFile = path.join(opts.stateDir, SERVICES_FILE);
  let desired: DesiredState = { revision: 0, services: {} };
  const records = new Map<ServiceName, ServiceRecord>();
  const instances = new Map<ServiceName, RmService>();
  const loadProblems: Problem[] = [];
  let retryTimer: NodeJS.Timeout | null = null;
  let stopped = false;
  const now = () => Math.max(0, Math.floor(clock.now()));

  // The exclusive runner. Invariants:
  // - every change to desired state, service records or service instances runs inside `exclusive`;
  // - tasks run one after another in arrival order, so two steps never overlap;
  // - a failing task never blocks the queue (its error goes to its caller only);
  // - after stop() no new task starts; stop() waits (bounded) for the one running.
  let queue: Promise<unknown> = Promise.resolve();
  function exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = queue.then(() => (stopped ? Promise.reject(new Error('converger stopped')) : task()));
    queue = run.catch(() => undefined);
    return run;
  }

  const saveDesired = () => writeJsonAtomic(desiredFile, desired);
  const mark = (kind: StepMark['kind']): StepMark => ({ kind, since: now() });
  /** Records (durably) the step about to run, or that none runs. */
  async function markStep(name: ServiceName, kind: StepMark['kind'] | null): Promise<void> {
    const rec = records.get(name) ?? { state: blank(name), policy: null };
    const { inProgress: _was, ...rest } = rec;
    records.set(name, kind ? { ...rest, inProgress: mark(kind) } : rest);
    await saveRecords();
  }
  const saveRecords = () => writeJsonAtomic(servicesFile, { services: [...records.values()] });

  async function setState(name: ServiceName, state: ServiceState, policy: Policy | null | undefined, report = true, inProgress?: StepMark): Promise<void> {
    records.set(name, { state, policy: policy === undefined ? (records.get(name)?.policy ?? null) : policy, ...(inProgress ? { inProgress } : {}) });
    await saveRecords();
    if (report) await opts.report('service', state).catch((err: unknown) => logger.warn('service report not queued', { service: name, error: err }));
  }

  async function instanceOf(name: ServiceName): Promise<RmService> {
    const existing = instances.get(name);
    if (existing) return existing;
    const created = await registry.create(name, {
      report: opts.report,
      ...(opts.settle ? { settle: opts.settle } : {}),
      stateDir: path.join(opts.stateDir, 'services', name),
      privateDirs: [opts.stateDir],
      logger: logger.child({ service: name }),
      runner: context.runner,
      clock,
    });
    if (!created) throw new Error(`no implementation of the ${name} service`);
    instances.set(name, created);
    return created;
  }

  const settingsOf = async (name: ServiceName, policy: Policy): Promise<unknown> => (await registry.policySchema(name))?.parse(policy.settings) ?? policy.settings;
  const blank = (name: ServiceName): ServiceState => ({ name, phase: 'pending', policy: null, reason: null, attempts: 0, since: now() });

  async function fail(step: Step, err: unknown): Promise<void> {
    const prev = records.get(step.service)?.state ?? blank(step.service);
    const reason = reasonOf('SERVICE_FAILED', `${step.service} ${step.kind}: ${(err as Error).message ?? String(err)}`);
    logger.warn('service step failed', { service: step.service, step: step.kind, attempts: prev.attempts + 1, error: err });
    await setState(step.service, { ...prev, phase: 'failed', reason, attempts: prev.attempts + 1, since: now() }, undefined);
  }

  /** Carries out one step; false = it failed and the service's remaining steps are skipped. */
  async function execute(step: Step): Promise<boolean> {
    const name = step.service;
    const prev = records.get(name)?.state ?? blank(name);
    try {
      switch (step.kind) {
        case 'install':
          await setState(name, { ...prev, phase: 'installing', reason: null, since: now() }, undefined, true, mark('install'));
          await (await instanceOf(name)).install();
          await setState(name, { ...prev, phase: 'installing', reason: null, policy: { id: step.policy!.id, version: step.policy!.version, applied: false }, since: now() }, undefined, false);
          return true;
        case 'apply': {
          const policy = step.policy!;
          await markStep(name, 'apply');
          await (await instanceOf(name)).apply(policy, await settingsOf(name, policy));
          await setState(name, { name, phase: 'running', policy: { id: policy.id, version: policy.version, applied: true }, reason: null, attempts: 0, since: now() }, policy);
          return true;
        }
        case 'uninstall': {
          await setState(name, { ...prev, phase: 'uninstalling', since: now() }, undefined, true, mark('uninstall'));
          const instance = registry.supported.includes(name) ? await instanceOf(name) : undefined;
          await instance?.stop();
          await instance?.uninstall();
          instances.delete(name);
          records.delete(name);
          await saveRecords();
          return true;
        }
        case 'refuse': {
          const state: ServiceState = prev.policy ? { ...prev, reason: step.reason!, since: now() } : { ...blank(name), phase: 'refused', reason: step.reason! };
          logger.warn('service step refused', { service: name, code: step.reason!.code });
          await setState(name, state, undefined);
          return false;
        }
        case 'quarantine':
          logger.error('service quarantined', { service: name, attempts: prev.attempts, reason: step.reason?.message });
          await setState(name, { ...prev, phase: 'quarantined', reason: step.reason ?? prev.reason, since: now() }, undefined);
          return false;
      }
    } catch (err) {
      await fail(step, err);
      return false;
    }
  }

  async function convergeNow(): Promise<void> {
    // Only the services the desired state names: the others' code stays unloaded.
    const named = (Object.keys(desired.services) as ServiceName[]).filter((n) => registry.supported.includes(n));
    const policySchemas = Object.fromEntries(await Promise.all(named.map(async (n) => [n, await registry.policySchema(n)] as const)));
    const steps = planSteps({
      desired,
      current: [...records.values()].map((r) => r.state),
      supported: registry.supported,
      prerequisiteMet: opts.prerequisiteMet(),
      quarantineAfter: context.config.quarantineAfter,
      now: now(),
      policySchemas,
      backoff,
    });
    const skipped = new Set<ServiceName>();
    for (const step of steps) {
      if (stopped) return;
      if (skipped.has(step.service)) continue;
      if (!(await execute(step))) skipped.add(step.service);
    }
    scheduleRetry();
  }

  // One timer for the earliest failed step that may be retried (or quarantined); bounded by the backoff cap.
  function scheduleRetry(): void {
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = null;
    const due = [...records.values()].filter((r) => r.state.phase === 'failed').map((r) => (r.state.attempts >= context.config.quarantineAfter ? now() : retryAt(r.state, backoff)));
    if (stopped || !due.length) return;
    retryTimer = setTimeout(kick, Math.max(0, Math.min(...due) - now()) + 5);
    retryTimer.unref();
  }

  function kick(): void {
    if (stopped) return;
    exclusive(convergeNow).catch((err: unknown) => logger.error('convergence failed', { error: err }));
  }

  /** A new intent for a service gives a quarantined or failing one a fresh start. */
  async function freshStart(name: ServiceName): Promise<void> {
    const rec = records.get(name);
    if (rec && (rec.state.phase === 'quarantined' || rec.state.phase === 'failed')) await setState(name, { ...rec.state, phase: 'pending', attempts: 0, since: now() }, undefined, false);
  }

  // A service may veto a command about itself before anything changes (e.g. Backup: only its owner
  // installs or changes it): an outcome = refused as is, undefined = go ahead.
  async function serviceGate(name: ServiceName, frame: Frame & { type: CommandType }): Promise<CommandOutcome | undefined> {
    if (!registry.supported.includes(name)) return undefined;
    const existed = instances.has(name);
    const instance = await instanceOf(name);
    const outcome = await instance.handleCommand?.(frame);
    if (outcome && !existed) instances.delete(name);
    return outcome;
  }

  async function assign(frame: Frame & { type: 'service.install' | 'policy.assign' }): Promise<CommandOutcome> {
    const { service: name, policy, actor } = frame.body;
    if (!registry.supported.includes(name)) return { status: 'rejected', reason: reasonOf('SERVICE_NOT_SUPPORTED', name) };
    const invalid = policyProblem(policy, name, await registry.policySchema(name));
    if (invalid) return { status: 'rejected', reason: invalid };
    return exclusive(async () => {
      const vetoed = await serviceGate(name, frame);
      if (vetoed) return vetoed;
      const wanted = desired.services[name]?.policy;
      if (inSync(records.get(name)?.state, policy) && wanted?.id === policy.id && wanted.version === policy.version) return { status: 'done' };
      desired = { ...desired, services: { ...desired.services, [name]: { policy, ...(actor ? { activatedBy: actor } : {}) } } };
      await saveDesired();
      await freshStart(name);
      await convergeNow();
      return commandOutcome(name, records.get(name)?.state, policy);
    });
  }

  async function remove(frame: Frame & { type: 'service.uninstall' }): Promise<CommandOutcome> {
    const name = frame.body.service;
    return exclusive(async () => {
      if (!desired.services[name] && !records.has(name)) return { status: 'done' };
      const vetoed = await serviceGate(name, frame);
      if (vetoed) return vetoed;
      const { [name]: _removed, ...rest } = desired.services;
      desired = { ...desired, services: rest };
      await saveDesired();
      await freshStart(name);
      await convergeNow();
      return commandOutcome(name, records.get(name)?.state, null);
    });
  }

  async function load(): Promise<void> {
    const d = await readJsonFile(desiredFile, DesiredStateSchema);
    if (d.status === 'ok') desired = d.value;
    if (d.status === 'invalid') loadProblems.push(problem('SERVICE_STATE_CORRUPT', `${DESIRED_FILE}: ${d.reason}`));
    const s = await readJsonFile(servicesFile, servicesFileSchema());
    if (s.status === 'ok') for (const rec of s.value.services) records.set(rec.state.name, rec);
    // Steps the previous run did not finish: the agent ended during them. Each is a failed attempt.
    for (const [name, rec] of records) {
      if (!rec.inProgress) continue;
      const reason = reasonOf('SERVICE_STEP_INTERRUPTED', `${name} ${rec.inProgress.kind}: the agent ended during this step (crash, watchdog or service-manager restart)`);
      logger.warn('service step interrupted by the agent\'s end; counted as a failed attempt', { service: name, step: rec.inProgress.kind, attempts: rec.state.attempts + 1 });
      await setState(name, { ...rec.state, phase: 'failed', reason, attempts: rec.state.attempts + 1, since: now() }, undefined);
    }
    if (s.status === 'invalid') loadProblems.push(problem('SERVICE_STATE_CORRUPT', `${SERVICES_FILE}: ${s.reason}`));
    for (const p of loadProblems) logger.warn('service state unreadable; starting empty', { problem: p.message });
  }

  // Services installed before a restart run again with the last policy they applied.
  async function resume(): Promise<void> {
    for (const [name, rec] of records) {
      // A restart is the documented way to retry a quarantined service, unless restarts are what put it there.
      if (rec.state.phase === 'quarantined' && rec.state.reason?.code !== 'SERVICE_STEP_INTERRUPTED') await setState(name, { ...rec.state, phase: 'pending', attempts: 0, since: now() }, undefined, false);
      const current = records.get(name)!.state;
      // Quarantined, or due to be (its last attempts ended the agent): not run again at start.
      if (current.phase === 'quarantined' || (current.phase === 'failed' && current.attempts >= context.config.quarantineAfter)) continue;
      if (!rec.policy || !registry.supported.includes(name)) continue;
      try {
        await markStep(name, 'apply');
        await (await instanceOf(name)).apply(rec.policy, await settingsOf(name, rec.policy));
        await markStep(name, null);
      } catch (err) {
        await fail({ kind: 'apply', service: name, policy: rec.policy }, err);
      }
    }
  }

  return {
    async start() {
      stopped = false;
      await exclusive(async () => {
        await load();
        await resume();
        await convergeNow();
      });
    },
    async stop() {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      await waitAtMost(STOP_WAIT_MS, queue);
      for (const instance of instances.values()) await instance.stop().catch((err: unknown) => logger.warn('service stop failed', { service: instance.name, error: err }));
    },
    async setDesired(state, actor) {
      return exclusive(async () => {
        let next = state;
        let vetoed: CommandOutcome | undefined;
        for (const [name, entry] of Object.entries(state.services) as Array<[ServiceName, NonNullable<DesiredState['services'][ServiceName]>]>) {
          const before = desired.services[name];
          if (before?.policy.id === entry.policy.id && before.policy.version === entry.policy.version) continue;
          // The same check the service's own command gets (service.install when new, policy.assign when changed).
          const as = { v: PROTOCOL_VERSION, id: `desired-${state.revision}-${name}`, ts: now(), type: before ? 'policy.assign' : 'service.install', body: { deviceId: 'desired', service: name, policy: entry.policy, ...((entry.activatedBy ?? actor) ? { actor: entry.activatedBy ?? actor } : {}) } } as Frame & { type: CommandType };
          const outcome = await serviceGate(name, as);
          if (!outcome) continue;
          const services = { ...next.services };
          if (before) services[name] = before;
          else delete services[name];
          next = { ...next, services };
          vetoed ??= outcome;
          logger.warn('desired state: a service change was refused; the service keeps its current state', { service: name, code: outcome.reason?.code });
        }
        for (const name of new Set([...Object.keys(desired.services), ...Object.keys(next.services)]) as Set<ServiceName>) {
          const before = desired.services[name]?.policy;
          const after = next.services[name]?.policy;
          if (before?.id !== after?.id || before?.version !== after?.version) await freshStart(name);
        }
        desired = next;
        await saveDesired();
        await convergeNow();
        // Applied, except the vetoed service: not "rejected" (which would mean nothing changed).
        return vetoed ? { status: 'failed' as const, ...(vetoed.reason ? { reason: vetoed.reason } : {}) } : { status: 'done' as const };
      });
    },
    async applyCommand(frame: Frame & { type: CommandType }): Promise<CommandOutcome> {
      if (frame.type === 'service.install' || frame.type === 'policy.assign') return assign(frame);
      if (frame.type === 'service.uninstall') return remove(frame);
      return { status: 'rejected', reason: { code: 'FRAME_UNKNOWN_TYPE', message: `${frame.type} is not a service command` } };
    },
    kick,
    services() {
      return [...records.values()].map((r) => r.state).sort((a, b) => compareText(a.name, b.name));
    },
    problems() {
      return [...loadProblems, ...serviceProblems([...records.values()].map((r) => r.state)), ...[...instances.values()].flatMap((i) => i.problems())];
    },
    service: (name) => instances.get(name),
  };
}
