// The other update tools through stand-ins on PATH: softwareupdate (macOS), PowerShell's Windows Update
// query (Windows), and dnf when apt is absent (a runner that hides apt, as on a Fedora host).
import { afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPatchesService } from '../../../src/services/patches/service.js';
import { createHeavyJobScheduler } from '../../../src/services/budget.js';
import { makeFrame, type Frame, type CommandType } from '../../../src/protocol/frames.js';
import type { RmService } from '../../../src/agent/contracts.js';
import type { CommandRunner } from '../../../src/system/exec.js';
import { serviceRuntime, standIn, tempDir } from '../budget/service-runtime.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/packages/', import.meta.url));
const scanNow = () => makeFrame('patches.install', { deviceId: 'dev-1' }) as Frame & { type: CommandType };
const services: RmService[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  for (const c of cleanups.splice(0)) await c();
});

async function scanWith(platform: 'linux' | 'win32' | 'darwin', tools: Record<string, string>, hide: string[] = []) {
  const { dir, cleanup } = await tempDir(`patches-${platform}`);
  cleanups.push(cleanup);
  const bin = path.join(dir, 'bin');
  for (const [name, script] of Object.entries(tools)) await standIn(bin, name, script);
  const { runtime, reports, clock } = serviceRuntime(path.join(dir, 'state', 'services', 'patches'), { path: bin });
  const real = runtime.runner;
  // The command a niced call runs: the first argument after nice/ionice and their options.
  const target = (cmd: string, args: readonly string[]) => (cmd === 'nice' ? (args.find((a) => !a.startsWith('-') && !/^\d+$/.test(a) && a !== 'ionice') ?? '') : cmd);
  const runner: CommandRunner = {
    run: (cmd, args, o) => (hide.includes(target(cmd, args)) ? Promise.resolve({ code: null, stdout: '', stderr: '', error: 'ENOENT' }) : real.run(cmd, args, o)),
  };
  const service = createPatchesService({ scheduler: createHeavyJobScheduler({ clock, random: () => 0 }), platform, tickMs: 3_600_000 })({ ...runtime, runner });
  services.push(service);
  await service.install();
  await service.apply({ id: 'p', name: 'p', service: 'patches', version: 1, settings: {} }, { refresh: false });
  const outcome = await service.handleCommand!(scanNow());
  return { outcome, scan: reports[0]?.data };
}

describe('pending updates on other platforms', () => {
  it('macOS: softwareupdate -l', async () => {
    const { scan } = await scanWith('darwin', { softwareupdate: `[ "$1" = -l ] || exit 2; cat "${path.join(FIXTURES, 'softwareupdate-l.txt')}"` });
    expect(scan).toMatchObject({ manager: 'softwareupdate', count: 4, bySeverity: { recommended: 2, unspecified: 1, security: 1 } });
  });

  it('Windows: the Windows Update query through PowerShell', async () => {
    const { scan } = await scanWith('win32', { powershell: `case "$*" in *CreateUpdateSearcher*) cat "${path.join(FIXTURES, 'windows-update.json')}";; *) exit 3;; esac` });
    expect(scan).toMatchObject({ manager: 'windows-update', count: 3, bySeverity: { critical: 1, unspecified: 2 } });
  });

  it('Linux without apt: dnf check-update (exit 100 = updates available)', async () => {
    const { scan } = await scanWith('linux', { dnf: `cat "${path.join(FIXTURES, 'dnf-check-update.txt')}"; exit 100` }, ['apt']);
    expect(scan).toMatchObject({ manager: 'dnf', count: 4, bySeverity: { security: 1, unspecified: 3 } });
  });

  it('a failing update tool is a failed run and a status problem, not an empty list', async () => {
    const { outcome } = await scanWith('darwin', { softwareupdate: 'echo "Cannot reach the update server" >&2; exit 1' });
    expect(outcome).toMatchObject({ status: 'failed', reason: { code: 'SERVICE_FAILED' } });
    expect(services[0]!.problems()[0]).toMatchObject({ code: 'SERVICE_FAILED' });
    expect(services[0]!.problems()[0]!.message).toContain('Cannot reach the update server');
  });
});
