// The server's Monitoring policy schema: defaults, check ids, refusals, and agreement with the agent's own
// schema (what the server stores, the agent must accept unchanged).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkPolicySettings } from '../../src/server/policy-schemas.js';
import { MonitoringPolicySchema } from '../../src/protocol/policies/monitoring.js';

const severity = fc.constantFrom('info', 'warning', 'critical');
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const timing = { intervalSec: optional(fc.integer({ min: 1, max: 86_400 })), durationSec: optional(fc.integer({ min: 0, max: 86_400 })), severity: optional(severity) };
const check = fc.oneof(
  fc.record({ type: fc.constantFrom('cpu', 'memory'), threshold: optional(fc.integer({ min: 0, max: 100 })), ...timing }, { requiredKeys: ['type'] }),
  fc.record({ type: fc.constant('disk'), threshold: fc.integer({ min: 0, max: 100 }), mounts: optional(fc.constantFrom(['/'], ['/', '/home'])), ...timing }, { requiredKeys: ['type', 'threshold'] }),
  fc.record({ type: fc.constant('online'), ...timing }, { requiredKeys: ['type'] }),
  fc.record({ type: fc.constant('process'), names: fc.constantFrom(['sshd'], ['nginx', 'php-fpm']), ...timing }, { requiredKeys: ['type', 'names'] }),
  fc.record({ type: fc.constant('service'), name: fc.constantFrom('teamviewerd', 'ssh.service'), ...timing }, { requiredKeys: ['type', 'name'] }),
  fc.record({ type: fc.constant('log'), path: fc.constant('/var/log/syslog'), pattern: fc.constantFrom('error', 'fail(ed)?'), ...timing }, { requiredKeys: ['type', 'path', 'pattern'] }),
);
const strip = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;

describe('monitoring policy schema', () => {
  it('stores settings the agent accepts unchanged, for any mix of checks without ids', () => {
    fc.assert(
      fc.property(fc.array(check, { maxLength: 12 }), (checks) => {
        const server = checkPolicySettings('monitoring', strip({ checks }));
        if (!server.ok) throw new Error(server.message);
        const agent = MonitoringPolicySchema.safeParse(server.settings);
        return agent.success && JSON.stringify(agent.data) === JSON.stringify(server.settings);
      }),
      { numRuns: 200 },
    );
  });

  it('fills the same defaults as the agent when no checks are given', () => {
    const server = checkPolicySettings('monitoring', {});
    expect(server).toEqual({ ok: true, settings: MonitoringPolicySchema.parse({}) });
  });

  it('names checks after their type and keeps given ids', () => {
    const out = checkPolicySettings('monitoring', { checks: [{ type: 'disk', threshold: 90 }, { type: 'disk', id: 'disk-2', minFreeBytes: 1 }, { type: 'disk', threshold: 80 }] });
    expect(out.ok && (out.settings.checks as Array<{ id: string }>).map((c) => c.id)).toEqual(['disk', 'disk-2', 'disk-3']);
  });

  it('refuses unknown check types, bad severities, disk checks without a limit, duplicate ids and bad regexes, naming the field', () => {
    expect(checkPolicySettings('monitoring', { checks: [{ type: 'gpu' }] })).toMatchObject({ ok: false, message: expect.stringContaining('checks.0.type') });
    expect(checkPolicySettings('monitoring', { checks: [{ type: 'cpu', severity: 'loud' }] })).toMatchObject({ ok: false, message: expect.stringContaining('checks.0.severity') });
    expect(checkPolicySettings('monitoring', { checks: [{ type: 'disk' }] })).toMatchObject({ ok: false, message: expect.stringContaining('minFreeBytes') });
    expect(checkPolicySettings('monitoring', { checks: [{ type: 'cpu', id: 'a' }, { type: 'memory', id: 'a' }] })).toMatchObject({ ok: false, message: expect.stringContaining('unique') });
    expect(checkPolicySettings('monitoring', { checks: [{ type: 'log', path: '/x', pattern: '(' }] })).toMatchObject({ ok: false, message: expect.stringContaining('regular expression') });
    expect(checkPolicySettings('monitoring', { checks: [{ type: 'cpu', extra: 1 }] })).toMatchObject({ ok: false });
  });

  it('checks every service with the schema the agent uses, and stores the defaults it fills in', () => {
    expect(checkPolicySettings('backup', { paths: ['/home'] })).toMatchObject({ ok: false, message: expect.stringContaining('paths') });
    const backup = checkPolicySettings('backup', { folders: ['/home'], destination: '/mnt/backup' });
    expect(backup).toMatchObject({ ok: true, settings: { folders: ['/home'], retention: { keep: 7 } } });
    expect(checkPolicySettings('patches', { autoInstall: 'yes' })).toMatchObject({ ok: false });
    expect(checkPolicySettings('assets', {})).toMatchObject({ ok: true, settings: { software: true } });
  });

  it('stores any settings for Endpoint Protection, which agents refuse as not supported', () => {
    expect(checkPolicySettings('endpoint-protection', { realtime: true })).toEqual({ ok: true, settings: { realtime: true } });
  });
});
