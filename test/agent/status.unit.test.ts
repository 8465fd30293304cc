import { describe, expect, it } from 'vitest';
import { buildStatus, statusExitCode, statusSchema, type StatusInput } from '../../src/agent/status.js';
import { problem } from '../../src/protocol/errors.js';
import type { Registration } from '../../src/agent/contracts.js';

const registration: Registration = {
  serverUrl: 'ws://127.0.0.1:1/agent', enrollmentToken: null, serverKeys: ['A'.repeat(43) + '='], deviceId: 'dev-1', machineId: 'm',
  publicKey: 'B'.repeat(43) + '=', alias: null, assignmentId: null, registeredAt: 1, enrolledAt: 2,
};
const tv = { installed: true, edition: 'host' as const, version: '15.50.3', teamviewerId: '123456789', serviceRunning: true, managed: null, sources: [], warnings: [], detectedAt: 1 };
const base: StatusInput = {
  now: 10,
  agent: { version: '0.1.0', commit: 'x', runtime: 'v20', running: true, pid: 1, startedAt: 1, source: 'daemon' },
  registration,
  teamviewer: tv,
  teamviewerRequired: true,
  connection: { phase: 'connected', serverUrl: registration.serverUrl, since: 3, connectedAt: 3, lastError: null, attempts: 0, nextRetryAt: null, insecure: false, clockSkewMs: 40 },
  services: [],
  outbox: { pending: 0, bytes: 0, oldestAt: null, lastAckedSeq: 4, nextSeq: 5, dropped: 0 },
  partProblems: [],
};

describe('status contract', () => {
  it('is healthy with exit 0 when registered, connected and TeamViewer is present', () => {
    const s = buildStatus(base);
    expect(statusSchema().parse(s)).toEqual(s);
    expect([s.health, statusExitCode(s), s.problems]).toEqual(['healthy', 0, []]);
    expect(s.registration.serverKeys[0]).toMatch(/^SHA256:/);
  });

  it('is degraded with exit 1 while disconnected with reports waiting', () => {
    const s = buildStatus({ ...base, connection: { ...base.connection!, phase: 'backoff', lastError: { code: 'SERVER_UNREACHABLE', message: 'ECONNREFUSED', at: 5 } }, outbox: { ...base.outbox!, pending: 3 } });
    expect(s.health).toBe('degraded');
    expect(statusExitCode(s)).toBe(1);
    expect(s.problems.map((p) => p.code)).toEqual(['SERVER_UNREACHABLE', 'OUTBOX_BACKLOG']);
    expect(s.problems[0]!.fix).toMatch(/retrying/);
  });

  it('says unhealthy, exit 2 (someone must act, even though the agent runs), when TeamViewer is missing and required, and ignores it when not required', () => {
    const missing = [problem('TEAMVIEWER_MISSING')];
    const s = buildStatus({ ...base, partProblems: missing });
    expect([s.health, statusExitCode(s)]).toEqual(['unhealthy', 2]);
    expect(buildStatus({ ...base, partProblems: missing, teamviewerRequired: false }).health).toBe('healthy');
  });

  it('exits 2 when not registered or not running', () => {
    const unregistered = buildStatus({ ...base, registration: null, connection: null });
    expect(statusExitCode(unregistered)).toBe(2);
    expect(unregistered.problems[0]!.code).toBe('NOT_REGISTERED');
    const down = buildStatus({ ...base, agent: { ...base.agent, running: false, pid: null, source: 'state-files' }, connection: null, notRunningReason: 'ENOENT' });
    expect(statusExitCode(down)).toBe(2);
    expect(down.problems[0]).toMatchObject({ code: 'AGENT_NOT_RUNNING', message: expect.stringContaining('ENOENT') });
  });

  it('reports an insecure connection as a problem', () => {
    const s = buildStatus({ ...base, connection: { ...base.connection!, insecure: true } });
    expect(s.problems.map((p) => p.code)).toContain('INSECURE_TRANSPORT_ALLOWED');
  });
});
