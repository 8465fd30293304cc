import { afterEach, describe, expect, it } from 'vitest';
import { readFile, writeFile, access } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPatchesService } from '../../../src/services/patches/service.js';
import { createHeavyJobScheduler } from '../../../src/services/budget.js';
import { makeFrame, type Frame, type CommandType } from '../../../src/protocol/frames.js';
import type { Policy } from '../../../src/protocol/model.js';
import type { RmService } from '../../../src/agent/contracts.js';
import { serviceRuntime, standIn, tempDir } from '../budget/service-runtime.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/packages/', import.meta.url));
const policy = (settings: Record<string, unknown>): Policy => ({ id: 'patches-p', name: 'Patches', service: 'patches', version: 1, settings });
const installCommand = () => makeFrame('patches.install', { deviceId: 'dev-1' }) as Frame & { type: CommandType };
const TUESDAY_0230 = new Date(2026, 10, 24, 2, 30).getTime(); // local time
const window = { days: ['tue'], start: '02:00', durationMin: 60 };

const cleanups: Array<() => Promise<void>> = [];
const services: RmService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  for (const c of cleanups.splice(0)) await c();
});

/** Stand-in apt/apt-get on PATH: apt lists the fixture, apt-get records its arguments and "installs". */
async function setup(options: { now?: number; tickMs?: number } = {}) {
  const { dir, cleanup } = await tempDir('patches');
  cleanups.push(cleanup);
  const bin = path.join(dir, 'bin');
  const calls = path.join(dir, 'apt-get.calls');
  await standIn(bin, 'apt', `[ "$1" = list ] || exit 2; cat "${path.join(FIXTURES, 'apt-upgradable.txt')}"`);
  await standIn(bin, 'apt-get', `echo "$DEBIAN_FRONTEND $*" >> "${calls}"; echo "Setting up libssl3"; exit 0`);
  const stateRoot = path.join(dir, 'state');
  const { runtime, reports, clock } = serviceRuntime(path.join(stateRoot, 'services', 'patches'), { path: bin, now: options.now ?? TUESDAY_0230 });
  const scheduler = createHeavyJobScheduler({ clock, random: () => 0 });
  const service = createPatchesService({ scheduler, platform: 'linux', tickMs: options.tickMs ?? 3_600_000 })(runtime);
  services.push(service);
  await service.install();
  const aptGetCalls = async () => (await readFile(calls, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const optIn = () => writeFile(path.join(stateRoot, 'allow-changes'), '');
  return { service, reports, clock, aptGetCalls, optIn, bin, dir };
}

describe('Patch Management', () => {
  it('reports pending updates with severity from the apt pockets', async () => {
    const { service, reports, aptGetCalls } = await setup();
    await service.apply(policy({}), { refresh: false });
    const outcome = (await service.handleCommand!(installCommand()))!;
    expect(outcome).toEqual({ status: 'rejected', reason: { code: 'PATCH_INSTALL_NOT_ALLOWED', message: 'policy-disabled' } });
    expect(reports).toHaveLength(1);
    expect(reports[0]!.kind).toBe('patches');
    expect(reports[0]!.data).toMatchObject({ event: 'scan', manager: 'apt', count: 5, bySeverity: { security: 3, unspecified: 2 } });
    expect(await aptGetCalls()).toEqual([]);
  });

  it('does not install without the local opt-in file, even with autoInstall inside the window', async () => {
    const { service, aptGetCalls } = await setup();
    await service.apply(policy({}), { autoInstall: true, window, refresh: false });
    const outcome = (await service.handleCommand!(installCommand()))!;
    expect(outcome.reason?.message).toBe('not-opted-in');
    expect(await aptGetCalls()).toEqual([]);
    expect(service.problems().map((p) => p.code)).toEqual(['PATCH_INSTALL_NOT_ALLOWED']);
    expect(service.problems()[0]!.message).toContain('allow-changes');
  });

  it('does not install outside the maintenance window', async () => {
    const { service, optIn, aptGetCalls } = await setup({ now: new Date(2026, 10, 24, 14, 0).getTime() });
    await optIn();
    await service.apply(policy({}), { autoInstall: true, window, refresh: false });
    expect((await service.handleCommand!(installCommand()))!.reason?.message).toBe('outside-window');
    expect(await aptGetCalls()).toEqual([]);
  });

  it('installs (security only) inside the window when allowed and opted in, reports the run, once per window', async () => {
    const { service, reports, optIn, aptGetCalls, clock } = await setup();
    await optIn();
    await service.apply(policy({}), { autoInstall: true, securityOnly: true, window, refresh: false });
    expect(await service.handleCommand!(installCommand())).toEqual({ status: 'done' });
    const calls = await aptGetCalls();
    expect(calls).toHaveLength(1);
    expect(calls[0]).toBe('noninteractive -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install --only-upgrade -- apt libssl3 bash');
    const install = reports.find((r) => r.data.event === 'install')!;
    expect(install.data).toMatchObject({ manager: 'apt', result: 'succeeded', exitCode: 0, requested: ['apt', 'libssl3', 'bash'] });
    expect(String(install.data.outputTail)).toContain('Setting up libssl3');
    expect(reports.map((r) => r.data.event)).toEqual(['scan', 'install', 'scan']);

    clock.advance(10 * 60_000);
    expect((await service.handleCommand!(installCommand()))!.reason?.message).toBe('already-ran-in-window');
    expect(await aptGetCalls()).toHaveLength(1);
  });

  it('a failed install is reported as failed', async () => {
    const { service, reports, optIn, bin } = await setup();
    await standIn(bin, 'apt-get', 'echo "E: Could not get lock /var/lib/dpkg/lock-frontend" >&2; exit 100');
    await optIn();
    await service.apply(policy({}), { autoInstall: true, window, refresh: false });
    const outcome = (await service.handleCommand!(installCommand()))!;
    expect(outcome.status).toBe('failed');
    const install = reports.find((r) => r.data.event === 'install')!;
    expect(install.data).toMatchObject({ result: 'failed', exitCode: 100 });
    expect(String(install.data.outputTail)).toContain('Could not get lock');
  });

  it('scans on its schedule and installs by itself inside the window', async () => {
    const { service, reports, optIn, aptGetCalls } = await setup({ tickMs: 20 });
    await optIn();
    await service.apply(policy({}), { autoInstall: true, window, refresh: false, maxJitterSec: 0 });
    for (let i = 0; i < 500 && !reports.some((r) => r.data.event === 'install'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(reports.map((r) => r.data.event).slice(0, 2)).toEqual(['scan', 'install']);
    expect((await aptGetCalls())[0]).toMatch(/ upgrade$/);
  });

  it('on this machine: a real read-only scan (apt list --upgradable) is reported, nothing installed', async () => {
    const { dir, cleanup } = await tempDir('patches-real');
    cleanups.push(cleanup);
    const { runtime, reports, clock } = serviceRuntime(path.join(dir, 'services', 'patches'));
    const service = createPatchesService({ scheduler: createHeavyJobScheduler({ clock, random: () => 0 }), platform: 'linux', tickMs: 3_600_000 })(runtime);
    services.push(service);
    await service.install();
    await service.apply(policy({}), { refresh: false }); // autoInstall off: installing is impossible
    await service.handleCommand!(installCommand());
    const scan = reports[0]!;
    expect(scan.data).toMatchObject({ event: 'scan', manager: 'apt' });
    const pending = scan.data.pending as { name: string; version: string; severity: string }[];
    expect(pending.length).toBe(scan.data.count);
    for (const u of pending) expect(u.name).toMatch(/^[a-z0-9][a-z0-9+.-]*$/);
    console.log(`pending updates on this machine: ${pending.length} (${JSON.stringify(scan.data.bySeverity)})`);
    await expect(access(path.join(dir, 'allow-changes'))).rejects.toThrow();
  });
});

describe('patches.scan', () => {
  const scanCommand = () => makeFrame('patches.scan', { deviceId: 'dev-1' }) as Frame & { type: CommandType };

  it('scans and reports now, whatever the schedule, and never installs', async () => {
    const { service, reports, optIn, aptGetCalls } = await setup();
    await optIn();
    // Scheduled every 24 h and allowed to install in the open window: the command still only scans.
    await service.apply(policy({}), { schedule: { everyHours: 24 }, autoInstall: true, window, refresh: false });
    expect(await service.handleCommand!(scanCommand())).toEqual({ status: 'done' });
    expect(reports.map((r) => [r.kind, r.data.event])).toEqual([['patches', 'scan']]);
    expect(reports[0]!.data).toMatchObject({ manager: 'apt', count: 5 });
    expect(await service.handleCommand!(scanCommand())).toEqual({ status: 'done' });
    expect(reports).toHaveLength(2);
    expect(await aptGetCalls()).toEqual([]);
  });

  it('fails with the reason when the update tool fails', async () => {
    const { service, bin } = await setup();
    await standIn(bin, 'apt', 'echo "E: Could not get lock /var/lib/dpkg/lock-frontend" >&2; exit 100');
    await service.apply(policy({}), { refresh: false });
    const outcome = (await service.handleCommand!(scanCommand()))!;
    expect(outcome).toMatchObject({ status: 'failed', reason: { code: 'SERVICE_FAILED', message: expect.stringContaining('Could not get lock') } });
    expect(service.problems().map((p) => p.code)).toEqual(['SERVICE_FAILED']);
  });
});
