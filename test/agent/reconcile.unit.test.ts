import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { planSteps, retryAt, type PlanInput } from '../../src/agent/reconcile.js';
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
  policySchemas: { monitoring: z.object({ level: z.number().max(5) }) },
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
