import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { commandOutcome, planSteps, retryAt, serviceProblems, type PlanInput } from '../../src/agent/reconcile.js';
import type { Policy, ServiceState } from '../../src/protocol/model.js';

const NOW = 1_000_000;
const policy = (version = 1, settings: Record<string, unknown> = { level: 1 }): Policy => ({ id: 'pol-1', name: 'Default', service: 'monitoring', version, settings });
const state = (over: Partial<ServiceState> = {}): ServiceState => ({ name: 'monitoring', phase: 'running', policy: { id: 'pol-1', version: 1, applied: true }, reason: null, attempts: 0, since: NOW - 10, ...over });
const input = (over: Partial<PlanInput> = {}): PlanInput => ({
  desired: { revision: 1, services: { monitoring: { policy: policy() } } },
  current: [],
  supported: ['monitoring', 'assets'],
  prerequisiteMet: true,
  quarantineAfter: 3,
  now: NOW,
  policySchemas: { monitoring: z.object({ level: z.number().check(z.lte(5)) }) },
  ...over,
});
const kinds = (i: PlanInput) => planSteps(i).map((s) => `${s.kind}:${s.service}${s.reason ? `:${s.reason.code}` : ''}`);

describe('planSteps', () => {
  const table: Array<[string, PlanInput, string[]]> = [
    ['desired, not installed -> install then apply', input(), ['install:monitoring', 'apply:monitoring']],
    ['desired == current -> nothing (idempotent)', input({ current: [state()] }), []],
    ['new policy version -> apply only, no reinstall', input({ desired: { revision: 2, services: { monitoring: { policy: policy(2) } } }, current: [state()] }), ['apply:monitoring']],
    ['installed but not desired -> uninstall', input({ desired: { revision: 2, services: {} }, current: [state()] }), ['uninstall:monitoring']],
    ['unsupported service -> refuse', input({ desired: { revision: 1, services: { 'endpoint-protection': { policy: { ...policy(), service: 'endpoint-protection' } } } } }), ['refuse:endpoint-protection:SERVICE_NOT_SUPPORTED']],
    ['prerequisite missing -> refuse install', input({ prerequisiteMet: false }), ['refuse:monitoring:PREREQUISITE_MISSING']],
    ['prerequisite missing, already running -> keeps running', input({ prerequisiteMet: false, current: [state()] }), []],
    ['prerequisite missing, installed, new version -> apply', input({ prerequisiteMet: false, desired: { revision: 2, services: { monitoring: { policy: policy(2) } } }, current: [state()] }), ['apply:monitoring']],
    ['attempts reached -> quarantine', input({ current: [state({ phase: 'failed', attempts: 3, reason: { code: 'SERVICE_FAILED', message: 'boom' } })] }), ['quarantine:monitoring:SERVICE_FAILED']],
    ['quarantined -> no more steps', input({ current: [state({ phase: 'quarantined', policy: null, attempts: 3 })] }), []],
    ['invalid settings, not installed -> refuse, nothing installed', input({ desired: { revision: 1, services: { monitoring: { policy: policy(1, { level: 99 }) } } } }), ['refuse:monitoring:POLICY_INVALID']],
    ['invalid new settings, old running -> refuse apply', input({ desired: { revision: 2, services: { monitoring: { policy: policy(2, { level: 99 }) } } }, current: [state()] }), ['refuse:monitoring:POLICY_INVALID']],
    ['failed, backoff not over -> wait', input({ current: [state({ phase: 'failed', policy: null, attempts: 1, since: NOW - 10 })] }), []],
    ['failed, backoff over -> install again', input({ current: [state({ phase: 'failed', policy: null, attempts: 1, since: NOW - 60_000 })] }), ['install:monitoring', 'apply:monitoring']],
    ['failed apply after install -> apply only', input({ current: [state({ phase: 'failed', policy: { id: 'pol-1', version: 1, applied: false }, attempts: 1, since: NOW - 60_000 })] }), ['apply:monitoring']],
    ['crashed mid-install -> install again', input({ current: [state({ phase: 'installing', policy: null })] }), ['install:monitoring', 'apply:monitoring']],
  ];
  it.each(table)('%s', (_name, i, expected) => {
    expect(kinds(i)).toEqual(expected);
  });

  it('does not repeat a refusal already recorded with the same reason', () => {
    const first = planSteps(input({ prerequisiteMet: false }));
    const recorded = state({ phase: 'refused', policy: null, reason: first[0]!.reason! });
    expect(planSteps(input({ prerequisiteMet: false, current: [recorded] }))).toEqual([]);
    // once TeamViewer is there the refused service installs
    expect(kinds(input({ current: [recorded] }))).toEqual(['install:monitoring', 'apply:monitoring']);
  });

  it('keeps the old policy: an invalid new version never produces an apply step', () => {
    const steps = planSteps(input({ desired: { revision: 2, services: { monitoring: { policy: policy(2, { level: 'x' }) } } }, current: [state()] }));
    expect(steps.some((s) => s.kind === 'apply' || s.kind === 'install' || s.kind === 'uninstall')).toBe(false);
    expect(steps[0]!.reason!.message).toContain('pol-1 v2');
  });

  it('caps the retry backoff', () => {
    const s = state({ phase: 'failed', attempts: 50, since: 0 });
    expect(retryAt(s, { baseMs: 1000, maxMs: 60_000 })).toBe(60_000);
    expect(retryAt(state({ phase: 'failed', attempts: 1, since: 0 }), { baseMs: 1000, maxMs: 60_000 })).toBe(1000);
    expect(retryAt(state({ phase: 'failed', attempts: 3, since: 0 }), { baseMs: 1000, maxMs: 60_000 })).toBe(4000);
  });

  it('handles several services independently', () => {
    const i = input({
      desired: { revision: 3, services: { monitoring: { policy: policy() }, assets: { policy: { ...policy(), id: 'a', service: 'assets' } } } },
      current: [state(), { ...state({ name: 'backup' }) }],
    });
    expect(kinds(i)).toEqual(['install:assets', 'apply:assets', 'uninstall:backup']);
  });
});

describe('planSteps converges (property)', () => {
  const names = ['monitoring', 'assets', 'patches', 'backup', 'endpoint-protection'] as const;
  // Carries steps out as if each succeeded, the way the converger records them.
  function carryOut(current: ServiceState[], steps: ReturnType<typeof planSteps>): ServiceState[] {
    const byName = new Map(current.map((s) => [s.name, s]));
    for (const step of steps) {
      const prev = byName.get(step.service);
      const p = step.policy ? { id: step.policy.id, version: step.policy.version } : null;
      if (step.kind === 'install') byName.set(step.service, { name: step.service, phase: 'installing', policy: { ...p!, applied: false }, reason: null, attempts: 0, since: NOW });
      if (step.kind === 'apply') byName.set(step.service, { name: step.service, phase: 'running', policy: { ...p!, applied: true }, reason: null, attempts: 0, since: NOW });
      if (step.kind === 'uninstall') byName.delete(step.service);
      if (step.kind === 'refuse') byName.set(step.service, prev?.policy ? { ...prev, reason: step.reason! } : { name: step.service, phase: 'refused', policy: null, reason: step.reason!, attempts: 0, since: NOW });
    }
    return [...byName.values()];
  }

  it('after carrying out its steps there is nothing left to do, for any desired and current state', async () => {
    const fc = (await import('fast-check')).default;
    const entry = fc.record({ present: fc.boolean(), version: fc.integer({ min: 1, max: 3 }), valid: fc.boolean() });
    fc.assert(
      fc.property(fc.tuple(...names.map(() => entry)), fc.tuple(...names.map(() => fc.option(fc.integer({ min: 1, max: 3 })))), fc.boolean(), (wanted, installed, prerequisiteMet) => {
        const services: PlanInput['desired']['services'] = {};
        names.forEach((name, i) => {
          const w = wanted[i]!;
          if (w.present) services[name] = { policy: { id: `p-${name}`, name, service: name, version: w.version, settings: { level: w.valid ? 1 : 99 } } };
        });
        const current: ServiceState[] = names.flatMap((name, i) => {
          const v = installed[i];
          return v == null || name === 'endpoint-protection' ? [] : [state({ name, policy: { id: `p-${name}`, version: v, applied: true } })];
        });
        const schema = z.object({ level: z.number().check(z.lte(5)) });
        const base = { supported: ['monitoring', 'assets', 'patches', 'backup'] as const, prerequisiteMet, policySchemas: { monitoring: schema, assets: schema, patches: schema, backup: schema } };
        const after = carryOut(current, planSteps(input({ desired: { revision: 1, services }, current, ...base })));
        expect(planSteps(input({ desired: { revision: 1, services }, current: after, ...base }))).toEqual([]);
        // nothing undesired is left installed
        for (const s of after) expect(services[s.name]).toBeDefined();
      }),
      { numRuns: 300 },
    );
  });
});

describe('commandOutcome and serviceProblems', () => {
  it('acks done when in sync, rejected for refusals, failed otherwise', () => {
    expect(commandOutcome('monitoring', state(), policy())).toEqual({ status: 'done' });
    expect(commandOutcome('monitoring', state({ phase: 'refused', policy: null, reason: { code: 'PREREQUISITE_MISSING', message: 'm' } }), policy())).toMatchObject({ status: 'rejected' });
    expect(commandOutcome('monitoring', state({ phase: 'failed', reason: { code: 'SERVICE_FAILED', message: 'm' } }), policy(2))).toMatchObject({ status: 'failed' });
    expect(commandOutcome('monitoring', undefined, null)).toEqual({ status: 'done' });
    expect(commandOutcome('monitoring', state({ phase: 'failed' }), null)).toMatchObject({ status: 'failed' });
  });
  it('names the service in SERVICE_QUARANTINED / SERVICE_FAILED and keeps the table fix for refusals', () => {
    const ps = serviceProblems([
      state({ phase: 'quarantined', reason: { code: 'SERVICE_FAILED', message: 'disk on fire' } }),
      state({ name: 'assets', phase: 'failed', reason: { code: 'SERVICE_FAILED', message: 'x' } }),
      state({ name: 'backup', phase: 'running', reason: { code: 'POLICY_INVALID', message: 'bad v2' } }),
      state({ name: 'patches' }),
    ]);
    expect(ps.map((p) => p.code)).toEqual(['SERVICE_QUARANTINED', 'SERVICE_FAILED', 'POLICY_INVALID']);
    expect(ps[0]!.message).toContain('monitoring: disk on fire');
    expect(ps[2]!.fix).toContain('previous policy keeps running');
  });
});
