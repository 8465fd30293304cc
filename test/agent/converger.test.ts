// The converger with real files in a temp folder and the real Monitoring service sampling this machine's disks.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as z from 'zod/mini';
import { createConverger } from '../../src/agent/converger.js';
import type { AgentContext, Converger, ServiceFactory } from '../../src/agent/contracts.js';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { makeFrame, type CommandType, type Frame } from '../../src/protocol/frames.js';
import type { Policy, ServiceState } from '../../src/protocol/model.js';
import { createServiceRegistry, serviceLoaders, type ServiceRegistry } from '../../src/services/registry.js';
import { createHeavyJobScheduler } from '../../src/services/budget.js';
import { systemClock } from '../../src/system/clock.js';
import { createCommandRunner } from '../../src/system/exec.js';

type Report = { kind: string; data: Record<string, unknown> };
const dirs: string[] = [];
const running: Converger[] = [];
afterEach(async () => {
  for (const c of running.splice(0)) await c.stop();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function setup(opts: { registry?: ServiceRegistry; prerequisite?: () => boolean; quarantineAfter?: number } = {}) {
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'rmagent-converger-'));
  dirs.push(stateDir);
  const reports: Report[] = [];
  const context: AgentContext = {
    config: configSchema().parse({ stateDir, logDir: stateDir, quarantineAfter: opts.quarantineAfter ?? 3 }),
    logger: silentLogger(),
    runner: createCommandRunner(),
    clock: systemClock,
  };
  const make = () => {
    const c = createConverger({
      context,
      stateDir,
      registry: opts.registry ?? createServiceRegistry(serviceLoaders(createHeavyJobScheduler({ clock: systemClock, random: Math.random }))),
      report: async (kind, data) => void reports.push({ kind, data: structuredClone(data) }),
      prerequisiteMet: opts.prerequisite ?? (() => true),
      retry: { baseMs: 20, maxMs: 80 },
    });
    running.push(c);
    return c;
  };
  return { stateDir, reports, make };
}

async function waitForAsync(what: string, probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const monitoringPolicy = (version: number, settings: Record<string, unknown>): Policy => ({ id: 'mon-tmp', name: 'Temp disk', service: 'monitoring', version, settings });
const diskSettings = (threshold: number, mount: string) => ({ checks: [{ type: 'disk', id: 'tmpdisk', threshold, mounts: [mount], intervalSec: 1, hysteresis: 1 }] });
const command = (type: 'service.install' | 'policy.assign', policy: Policy) => makeFrame(type, { deviceId: 'dev-1', service: policy.service, policy, actor: 'admin' }) as Frame & { type: CommandType };
const raised = (reports: Report[]) => reports.filter((r) => r.kind === 'alert.raised');

describe('converger with the Monitoring service', () => {
  it('installs, raises a real disk alert once, survives a restart, clears it on a new policy version without reinstalling', async () => {
    const { stateDir, reports, make } = await setup();
    const first = make();
    await first.start();
    expect(await first.applyCommand(command('service.install', monitoringPolicy(1, diskSettings(0.0001, stateDir))))).toEqual({ status: 'done' });
    expect(first.services()).toMatchObject([{ name: 'monitoring', phase: 'running', policy: { id: 'mon-tmp', version: 1, applied: true } }]);
    expect(reports.filter((r) => r.kind === 'service').map((r) => (r.data as ServiceState).phase)).toEqual(['installing', 'running']);

    const alert = await waitFor('the disk alert', () => raised(reports)[0]);
    expect(alert.data).toMatchObject({ service: 'monitoring', check: 'tmpdisk', threshold: 0.0001 });
    const key = alert.data.key as string;
    expect(key).toMatch(/^monitoring\/tmpdisk\/used:/);
    for (const f of ['desired.json', 'services.json']) expect((await stat(path.join(stateDir, f))).mode & 0o777).toBe(0o600);

    // Restart: the service resumes with its policy, samples again, and does not raise the same alert twice.
    await first.stop();
    const second = make();
    await second.start();
    expect(second.services()[0]).toMatchObject({ phase: 'running', policy: { version: 1 } });
    await new Promise((r) => setTimeout(r, 1500));
    expect(raised(reports)).toHaveLength(1);

    // A new policy version converges by applying only; the alert clears once.
    const serviceReportsBefore = reports.filter((r) => r.kind === 'service').length;
    expect(await second.applyCommand(command('policy.assign', monitoringPolicy(2, diskSettings(100, stateDir))))).toEqual({ status: 'done' });
    const newServiceReports = reports.filter((r) => r.kind === 'service').slice(serviceReportsBefore).map((r) => (r.data as ServiceState).phase);
    expect(newServiceReports).toEqual(['running']);
    const cleared = await waitFor('the alert to clear', () => reports.find((r) => r.kind === 'alert.cleared'));
    expect(cleared.data.key).toBe(key);

    // The same policy again is done without work.
    const count = reports.length;
    expect(await second.applyCommand(command('policy.assign', monitoringPolicy(2, diskSettings(100, stateDir))))).toEqual({ status: 'done' });
    await new Promise((r) => setTimeout(r, 1200));
    expect(reports.slice(count).filter((r) => r.kind !== 'alert.cleared' && r.kind !== 'alert.raised')).toEqual([]);
    expect(reports.filter((r) => r.kind === 'alert.cleared')).toHaveLength(1);
  });

  it('refuses unsupported services, invalid policies (keeping the old one) and installs while TeamViewer is missing', async () => {
    let teamviewer = false;
    const { stateDir, make } = await setup({ prerequisite: () => teamviewer });
    const c = make();
    await c.start();
    const ep = makeFrame('service.install', { deviceId: 'dev-1', service: 'endpoint-protection', policy: { ...monitoringPolicy(1, {}), service: 'endpoint-protection' } }) as Frame & { type: CommandType };
    expect(await c.applyCommand(ep)).toMatchObject({ status: 'rejected', reason: { code: 'SERVICE_NOT_SUPPORTED' } });

    const v1 = monitoringPolicy(1, diskSettings(100, stateDir));
    expect(await c.applyCommand(command('service.install', v1))).toMatchObject({ status: 'rejected', reason: { code: 'PREREQUISITE_MISSING' } });
    expect(c.services()[0]).toMatchObject({ phase: 'refused', reason: { code: 'PREREQUISITE_MISSING' } });
    expect(c.problems().map((p) => p.code)).toContain('PREREQUISITE_MISSING');

    teamviewer = true;
    c.kick();
    await waitFor('monitoring to run once TeamViewer is present', () => c.services()[0]?.phase === 'running');

    const bad = monitoringPolicy(2, { checks: [{ type: 'disk', id: 'x' }] });
    const outcome = await c.applyCommand(command('policy.assign', bad));
    expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'POLICY_INVALID' } });
    expect(c.services()[0]).toMatchObject({ phase: 'running', policy: { version: 1, applied: true } });
    const desired = JSON.parse(await readFile(path.join(stateDir, 'desired.json'), 'utf8'));
    expect(desired.services.monitoring.policy.version).toBe(1);
  });

  it('uninstalls what is no longer desired and clears its alerts', async () => {
    const { stateDir, reports, make } = await setup();
    const c = make();
    await c.start();
    await c.setDesired({ revision: 1, services: { monitoring: { policy: monitoringPolicy(1, diskSettings(0.0001, stateDir)) } } });
    await waitFor('the disk alert', () => raised(reports)[0]);
    await c.setDesired({ revision: 2, services: {} });
    expect(c.services()).toEqual([]);
    expect(reports.filter((r) => r.kind === 'alert.cleared')).toHaveLength(1);
    expect(JSON.parse(await readFile(path.join(stateDir, 'services.json'), 'utf8'))).toEqual({ services: [] });
  });

  it('starts empty with a typed problem when its state files are corrupt', async () => {
    const { stateDir, make } = await setup();
    await writeFile(path.join(stateDir, 'desired.json'), '{not json');
    await writeFile(path.join(stateDir, 'services.json'), JSON.stringify({ services: [{ state: { name: 'nope' } }] }));
    const c = make();
    await c.start();
    expect(c.services()).toEqual([]);
    expect(c.problems().map((p) => p.code)).toEqual(['SERVICE_STATE_CORRUPT', 'SERVICE_STATE_CORRUPT']);
  });
});

describe('converger loading services on demand', () => {
  it('loads only the services a policy names, across commands and a restart', async () => {
    const loads: string[] = [];
    const real = serviceLoaders(createHeavyJobScheduler({ clock: systemClock, random: Math.random }));
    const counted = Object.fromEntries(Object.entries(real).map(([name, load]) => [name, async () => (loads.push(name), load!())]));
    const { make } = await setup({ registry: createServiceRegistry(counted) });
    const first = make();
    await first.start();
    expect(loads).toEqual([]);
    expect(await first.applyCommand(command('service.install', monitoringPolicy(1, {})))).toEqual({ status: 'done' });
    expect(await first.applyCommand(command('policy.assign', monitoringPolicy(2, {})))).toEqual({ status: 'done' });
    expect(loads).toEqual(['monitoring']);
    await first.stop();
    const second = make();
    await second.start();
    expect(second.services()).toMatchObject([{ name: 'monitoring', phase: 'running' }]);
    expect(loads).toEqual(['monitoring']);
  });
});

describe('converger retries and quarantine', () => {
  // A real service implementation whose installation fails on purpose (a broken device), in the test's own registry.
  function brokenService(counter: { installs: number }): ServiceFactory {
    return () => ({
      name: 'monitoring',
      policySchema: z.looseObject({}),
      install: async () => {
        counter.installs++;
        throw new Error('disk on fire');
      },
      apply: async () => undefined,
      uninstall: async () => undefined,
      stop: async () => undefined,
      problems: () => [],
    });
  }

  it('retries with backoff, then quarantines with the last reason instead of looping', async () => {
    const counter = { installs: 0 };
    const { reports, make } = await setup({ registry: createServiceRegistry({ monitoring: async () => brokenService(counter) }), quarantineAfter: 3 });
    const c = make();
    await c.start();
    const outcome = await c.applyCommand(command('service.install', monitoringPolicy(1, {})));
    expect(outcome).toMatchObject({ status: 'failed', reason: { code: 'SERVICE_FAILED' } });
    expect(outcome.reason?.message).toContain('disk on fire');
    await waitFor('quarantine', () => c.services()[0]?.phase === 'quarantined', 5_000);
    expect(counter.installs).toBe(3);
    const problem = c.problems().find((p) => p.code === 'SERVICE_QUARANTINED');
    expect(problem?.message).toContain('monitoring');
    expect(problem?.message).toContain('disk on fire');
    await new Promise((r) => setTimeout(r, 400));
    expect(counter.installs).toBe(3);
    const phases = reports.filter((r) => r.kind === 'service').map((r) => (r.data as ServiceState).phase);
    expect(phases.filter((p) => p === 'failed')).toHaveLength(3);
    expect(phases.at(-1)).toBe('quarantined');

    // Re-assigning the policy gives it a fresh start.
    await c.applyCommand(command('policy.assign', monitoringPolicy(2, {})));
    expect(counter.installs).toBe(4);
  });

  it('a step the agent dies in counts as a failed attempt: a crash loop ends quarantined, and stays so across restarts', async () => {
    // apply never returns: as when it crashes the agent or gets it restarted by the watchdog or the service manager.
    const applies = { count: 0 };
    let release = () => undefined as void;
    const released = new Promise<void>((r) => { release = r; });
    const hanging: ServiceFactory = () => ({
      name: 'monitoring', policySchema: z.looseObject({}), install: async () => undefined,
      apply: async () => { applies.count++; await released; }, uninstall: async () => undefined, stop: async () => undefined, problems: () => [],
    });
    const { stateDir, make } = await setup({ registry: createServiceRegistry({ monitoring: async () => hanging }), quarantineAfter: 3 });
    const marked = async () => (JSON.parse(await readFile(path.join(stateDir, 'services.json'), 'utf8')) as { services: Array<{ inProgress?: { kind: string } }> }).services[0]?.inProgress?.kind;
    const first = make();
    await first.start();
    void first.applyCommand(command('service.install', monitoringPolicy(1, {})));
    await waitForAsync('the apply step marked', async () => (await marked()) === 'apply');
    // Each "restart" is a new agent on the same state while the old one is gone mid-step.
    for (let restart = 1; restart <= 2; restart++) {
      void make().start();
      await waitForAsync(`restart ${restart} runs the step again`, async () => applies.count === restart + 1);
    }
    const last = make();
    await last.start(); // the third interrupted attempt: not run again
    expect(applies.count).toBe(3);
    expect(last.services()).toMatchObject([{ name: 'monitoring', phase: 'quarantined', attempts: 3, reason: { code: 'SERVICE_STEP_INTERRUPTED' } }]);
    expect(last.problems().find((p) => p.code === 'SERVICE_QUARANTINED')?.message).toContain('the agent ended during this step');
    const again = make();
    await again.start();
    expect(again.services()[0]).toMatchObject({ phase: 'quarantined' });
    expect(applies.count).toBe(3);
    release();
  });

  it('lets a service veto a command about itself before anything changes', async () => {
    const installs: string[] = [];
    // A service that only lets 'owner' install or change it (the Backup rule), vetoing in handleCommand.
    const guarded: ServiceFactory = () => ({
      name: 'monitoring',
      policySchema: z.looseObject({}),
      install: async () => void installs.push('install'),
      apply: async () => undefined,
      uninstall: async () => undefined,
      stop: async () => undefined,
      problems: () => [],
      handleCommand: async (frame) => ((frame.body as { actor?: string }).actor === 'owner' ? undefined : { status: 'rejected', reason: { code: 'API_FORBIDDEN', message: 'only the owner' } }),
    });
    const { stateDir, make } = await setup({ registry: createServiceRegistry({ monitoring: async () => guarded }) });
    const c = make();
    await c.start();
    const frame = (actor: string) => makeFrame('service.install', { deviceId: 'dev-1', service: 'monitoring', policy: monitoringPolicy(1, {}), actor }) as Frame & { type: CommandType };
    expect(await c.applyCommand(frame('mallory'))).toMatchObject({ status: 'rejected', reason: { code: 'API_FORBIDDEN' } });
    expect(installs).toEqual([]);
    expect(c.services()).toEqual([]);
    expect(c.service('monitoring')).toBeUndefined();
    await expect(stat(path.join(stateDir, 'desired.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await c.applyCommand(frame('owner'))).toEqual({ status: 'done' });
    expect(installs).toEqual(['install']);
  });
});
