// `rmagent doctor` judges from plain facts (src/agent/doctor.ts); what the running daemon reports counts as
// `rmagent status` counts it, so the two never disagree (issue 16: a refused token was "[warn] Enrolled: not yet"
// in doctor while status said ENROLLMENT_REFUSED).
import { describe, expect, it } from 'vitest';
import { doctorExitCode, judgeDoctor, type DoctorFacts } from '../../src/agent/doctor.js';
import { problem } from '../../src/protocol/errors.js';
import { healthOf, statusExitCode } from '../../src/agent/status.js';

const facts = (daemonProblems: DoctorFacts['daemonProblems']): DoctorFacts => ({
  teamviewer: { installed: true, edition: 'host', version: '15.1', teamviewerId: '1', serviceRunning: true, managed: true, owner: null, warnings: [] } as unknown as DoctorFacts['teamviewer'],
  teamviewerRequired: true,
  registration: { status: 'ok', value: { serverUrl: 'wss://rm.example.com/agent', enrollmentToken: 'tok-12345678', serverKeys: [], deviceId: null, machineId: 'm', publicKey: 'k', alias: null, assignmentId: null, registeredAt: 1, enrolledAt: null } },
  probe: { ok: true, latencyMs: 3, serverKey: null, error: null } as unknown as DoctorFacts['probe'],
  transport: { ok: true, insecure: false },
  modes: [],
  daemonRunning: true,
  daemonProblems,
  platform: 'linux',
  changes: { file: '/var/lib/rmagent/allow-changes', allowed: false },
});

describe('doctor and status agree', () => {
  it('a refused token fails the enrollment check (exit 2), as status is unhealthy (exit 2)', () => {
    const refused = [problem('ENROLLMENT_REFUSED', 'token expired')];
    const checks = judgeDoctor(facts(refused));
    expect(checks.find((c) => c.name === 'Enrolled with the server')).toMatchObject({ verdict: 'fail', code: 'ENROLLMENT_REFUSED' });
    expect(doctorExitCode(checks)).toBe(2);
    expect(statusExitCode({ agent: { running: true } as never, registration: { registered: true } as never, health: healthOf(refused) })).toBe(2);
  });

  it('what else the daemon reports is shown with the weight status gives it', () => {
    const checks = judgeDoctor(facts([problem('OUTBOX_BACKLOG', '3 reports waiting'), problem('SERVER_KEY_MISMATCH')]));
    expect(checks.filter((c) => c.name === 'Reported by the agent').map((c) => [c.code, c.verdict])).toEqual([['OUTBOX_BACKLOG', 'warn'], ['SERVER_KEY_MISMATCH', 'fail']]);
    expect(doctorExitCode(checks)).toBe(2);
  });

  it('without daemon problems a first connection still to come is a warning, not a failure', () => {
    const checks = judgeDoctor(facts([]));
    expect(checks.find((c) => c.name === 'Enrolled with the server')!.verdict).toBe('warn');
    expect(doctorExitCode(checks)).toBe(1);
  });
});
