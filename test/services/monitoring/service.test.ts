// The Monitoring service on its own: a real log file, a stand-in `systemctl` on PATH, real processes.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { appendFile, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { CommandType, Frame } from '../../../src/protocol/frames.js';
import { makeFrame } from '../../../src/protocol/frames.js';
import type { Policy } from '../../../src/protocol/model.js';
import type { RmService, ServiceRuntime } from '../../../src/agent/contracts.js';
import { createMonitoringService } from '../../../src/services/monitoring/service.js';
import { MonitoringPolicySchema } from '../../../src/protocol/policies/monitoring.js';
import { silentLogger } from '../../../src/log.js';
import { systemClock } from '../../../src/system/clock.js';
import { createCommandRunner } from '../../../src/system/exec.js';

type Report = { kind: string; data: Record<string, unknown> };
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(binPath?: string) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rmagent-monitoring-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const reports: Report[] = [];
  const runtime: ServiceRuntime = {
    report: async (kind, data) => void reports.push({ kind, data }),
    stateDir: path.join(dir, 'state'),
    logger: silentLogger(),
    runner: createCommandRunner(binPath ? { path: binPath } : {}),
    clock: systemClock,
  };
  const service = createMonitoringService(runtime);
  cleanup.push(() => service.stop());
  return { dir, reports, service, runtime };
}

const policy = (settings: Record<string, unknown>): Policy => ({ id: 'p', name: 'p', service: 'monitoring', version: 1, settings });
const apply = (service: RmService, settings: Record<string, unknown>) => service.apply(policy(settings), MonitoringPolicySchema.parse(settings));

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 8_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('monitoring service', () => {
  it('log check: only new matching lines raise, once; alert.ack clears it', async () => {
    const { dir, reports, service, runtime } = await setup();
    const log = path.join(dir, 'app.log');
    await writeFile(log, 'ERROR before the check started\n');
    await service.install();
    await apply(service, { checks: [{ type: 'log', id: 'applog', path: log, pattern: 'ERROR', intervalSec: 1 }] });
    await new Promise((r) => setTimeout(r, 300));
    await appendFile(log, 'all fine\nERROR disk full\n');
    const raised = await waitFor('a log alert', () => reports.find((r) => r.kind === 'alert.raised'));
    expect(raised.data).toMatchObject({ key: 'monitoring/applog', check: 'applog', value: 1 });
    expect(raised.data.message).toContain('ERROR disk full');
    await appendFile(log, 'ERROR again\n');
    await new Promise((r) => setTimeout(r, 1_300));
    expect(reports.filter((r) => r.kind === 'alert.raised')).toHaveLength(1);

    const ack = makeFrame('alert.ack', { deviceId: 'd', actor: 'alice', key: 'monitoring/applog' }) as Frame & { type: CommandType };
    expect(await service.handleCommand!(ack)).toEqual({ status: 'done' });
    expect(reports.filter((r) => r.kind === 'alert.cleared')).toEqual([{ kind: 'alert.cleared', data: { key: 'monitoring/applog', service: 'monitoring', message: 'acknowledged by alice' } }]);
    // acknowledging again is harmless; keys of other services are not ours
    expect(await service.handleCommand!(ack)).toEqual({ status: 'done' });
    expect(await service.handleCommand!(makeFrame('alert.ack', { deviceId: 'd', actor: 'a', key: 'backup/x' }) as Frame & { type: CommandType })).toBeUndefined();

    // Lines written while the agent is down are read after the restart, old ones are not read again.
    await service.stop();
    await appendFile(log, 'ERROR while the agent was down\n');
    const restarted = createMonitoringService(runtime);
    cleanup.push(() => restarted.stop());
    await apply(restarted, { checks: [{ type: 'log', id: 'applog', path: log, pattern: 'ERROR', intervalSec: 1 }] });
    const again = await waitFor('a second log alert', () => reports.filter((r) => r.kind === 'alert.raised')[1]);
    expect(again.data).toMatchObject({ key: 'monitoring/applog', value: 1 });
    expect(again.data.message).toContain('while the agent was down');
  });

  it('service check asks systemctl through the runner; process check sees real processes', async () => {
    if (process.platform !== 'linux') return;
    const bin = await mkdtemp(path.join(os.tmpdir(), 'rmagent-bin-'));
    cleanup.push(() => rm(bin, { recursive: true, force: true }));
    const flag = path.join(bin, 'active');
    // Stand-in systemctl: "active" while the flag file exists.
    await writeFile(path.join(bin, 'systemctl'), `#!/bin/sh\nif [ -f "${flag}" ]; then echo active; exit 0; fi\necho inactive; exit 3\n`);
    await chmod(path.join(bin, 'systemctl'), 0o755);
    const { reports, service } = await setup(bin);
    // A process surely running under a known name (Node 24 names its main thread "MainThread", not node).
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanup.push(async () => sleeper.kill());
    await apply(service, {
      checks: [
        { type: 'service', id: 'sshd', name: 'ssh.service', intervalSec: 1, severity: 'critical' },
        { type: 'process', id: 'procs', names: ['sleep', 'no-such-daemon-rmagent'], intervalSec: 5 },
      ],
    });
    const down = await waitFor('service alert', () => reports.find((r) => r.kind === 'alert.raised' && r.data.key === 'monitoring/sshd'));
    expect(down.data).toMatchObject({ severity: 'critical', message: 'System service ssh.service is not active' });
    const proc = await waitFor('process alert', () => reports.find((r) => r.kind === 'alert.raised' && r.data.check === 'procs'));
    expect(proc.data.key).toBe('monitoring/procs/no-such-daemon-rmagent');
    expect(reports.some((r) => r.data.key === 'monitoring/procs/sleep')).toBe(false);
    await writeFile(flag, '');
    await waitFor('service alert to clear', () => reports.find((r) => r.kind === 'alert.cleared' && r.data.key === 'monitoring/sshd'));
  });

  it('uninstall clears active alerts and removes its state', async () => {
    const { dir, reports, service, runtime } = await setup();
    await mkdir(runtime.stateDir, { recursive: true });
    await service.install();
    await apply(service, { checks: [{ type: 'disk', id: 'd', threshold: 0.0001, mounts: [dir], intervalSec: 60 }] });
    await waitFor('disk alert', () => reports.find((r) => r.kind === 'alert.raised'));
    await service.stop(); // lets the in-flight sample finish persisting
    expect(JSON.parse(await readFile(path.join(runtime.stateDir, 'alerts.json'), 'utf8')).active).toHaveProperty([reports[0]!.data.key as string]);
    await service.uninstall();
    expect(reports.filter((r) => r.kind === 'alert.cleared')).toHaveLength(1);
    await expect(readFile(path.join(runtime.stateDir, 'alerts.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
