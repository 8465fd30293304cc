// Backup behind the real converger and registry (one shared heavy-job scheduler, as the composition root
// wires it): the owner recorded at install vetoes installs and policy changes by anyone else, whoever signed.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createConverger } from '../../../src/agent/converger.js';
import type { AgentContext, Converger } from '../../../src/agent/contracts.js';
import { configSchema } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/log.js';
import { makeFrame, type CommandType, type Frame } from '../../../src/protocol/frames.js';
import type { Policy } from '../../../src/protocol/model.js';
import { createServiceRegistry, serviceLoaders } from '../../../src/services/registry.js';
import { createHeavyJobScheduler } from '../../../src/services/budget.js';
import { systemClock } from '../../../src/system/clock.js';
import { createCommandRunner } from '../../../src/system/exec.js';
import { tempDir } from '../budget/service-runtime.js';
import { BUILT_RMAGENT } from './built-rmagent.js';

const cleanups: Array<() => Promise<void>> = [];
const running: Converger[] = [];
afterEach(async () => {
  for (const c of running.splice(0)) await c.stop();
  for (const c of cleanups.splice(0)) await c();
});

type Cmd = Frame & { type: CommandType };

describe('Backup owner through the converger', () => {
  it('records the installing account; another account cannot change, reinstall or restore; the owner can', async () => {
    const { dir, cleanup } = await tempDir('backup-converger');
    cleanups.push(cleanup);
    const stateDir = path.join(dir, 'state');
    const data = path.join(dir, 'data');
    await mkdir(data, { recursive: true });
    await writeFile(path.join(data, 'ledger.csv'), 'a,b\n1,2\n');
    // The installer's opt-in for machine changes (restores need it).
    await mkdir(stateDir, { recursive: true });
    await writeFile(path.join(stateDir, 'allow-changes'), '');
    const reports: { kind: string; data: Record<string, unknown> }[] = [];
    const context: AgentContext = { config: configSchema().parse({ stateDir, logDir: dir }), logger: silentLogger(), runner: createCommandRunner(), clock: systemClock };
    const scheduler = createHeavyJobScheduler({ clock: systemClock, random: Math.random });
    const registry = createServiceRegistry(serviceLoaders(scheduler, undefined, BUILT_RMAGENT));
    const converger = createConverger({ context, stateDir, registry, report: async (kind, d) => void reports.push({ kind, data: d }), prerequisiteMet: () => true });
    running.push(converger);
    await converger.start();

    const policy = (version: number): Policy => ({ id: 'finance', name: 'Finance', service: 'backup', version, settings: { folders: [data], destination: path.join(dir, 'dest'), maxJitterSec: 0 } });
    const cmd = <T extends CommandType>(type: T, body: Record<string, unknown>) => makeFrame(type, { deviceId: 'dev-1', ...body } as never) as Cmd;

    expect(await converger.applyCommand(cmd('service.install', { actor: 'alice', service: 'backup', policy: policy(1) }))).toEqual({ status: 'done' });
    const changed = await converger.applyCommand(cmd('policy.assign', { actor: 'mallory', service: 'backup', policy: policy(2) }));
    expect(changed).toMatchObject({ status: 'rejected', reason: { code: 'BACKUP_ACTOR_MISMATCH' } });
    expect(converger.services().find((s) => s.name === 'backup')?.policy).toMatchObject({ version: 1, applied: true });
    expect(await converger.applyCommand(cmd('service.install', { actor: 'mallory', service: 'backup', policy: policy(1) }))).toMatchObject({ status: 'rejected' });

    const backup = converger.service('backup')!;
    expect(await backup.handleCommand!(cmd('backup.run', {}))).toEqual({ status: 'done' });
    expect(await backup.handleCommand!(cmd('backup.restore', { actor: 'mallory', target: path.join(dir, 'elsewhere') }))).toMatchObject({ status: 'rejected', reason: { code: 'BACKUP_ACTOR_MISMATCH' } });
    expect(await backup.handleCommand!(cmd('backup.restore', { actor: 'alice', target: path.join(dir, 'restored') }))).toEqual({ status: 'done' });
    expect(await converger.applyCommand(cmd('policy.assign', { actor: 'alice', service: 'backup', policy: policy(2) }))).toEqual({ status: 'done' });
    expect(reports.filter((r) => r.kind === 'backup').map((r) => r.data.event)).toEqual(['snapshot', 'restore']);
  });

  it('desired goes through the same owner check: another account\'s Backup policy in a desired state is not applied, the rest is', async () => {
    const { dir, cleanup } = await tempDir('backup-desired');
    cleanups.push(cleanup);
    const stateDir = path.join(dir, 'state');
    const data = path.join(dir, 'data');
    await mkdir(data, { recursive: true });
    const context: AgentContext = { config: configSchema().parse({ stateDir, logDir: dir }), logger: silentLogger(), runner: createCommandRunner(), clock: systemClock };
    const registry = createServiceRegistry(serviceLoaders(createHeavyJobScheduler({ clock: systemClock, random: Math.random })));
    const converger = createConverger({ context, stateDir, registry, report: async () => undefined, prerequisiteMet: () => true });
    running.push(converger);
    await converger.start();
    const policy = (version: number, destination = 'dest'): Policy => ({ id: 'finance', name: 'Finance', service: 'backup', version, settings: { folders: [data], destination: path.join(dir, destination), maxJitterSec: 0 } });
    const monitoring: Policy = { id: 'mon', name: 'Mon', service: 'monitoring', version: 1, settings: { checks: [] } };

    expect(await converger.setDesired({ revision: 1, services: { backup: { policy: policy(1), activatedBy: 'alice' } } })).toEqual({ status: 'done' });
    // Mallory's Backup policy (pointing the data elsewhere) arrives inside a desired state, next to Monitoring.
    const outcome = await converger.setDesired({ revision: 2, services: { backup: { policy: policy(2, 'mallory-share'), activatedBy: 'mallory' }, monitoring: { policy: monitoring, activatedBy: 'mallory' } } });
    expect(outcome).toMatchObject({ status: 'failed', reason: { code: 'BACKUP_ACTOR_MISMATCH' } });
    expect(converger.services().find((s) => s.name === 'backup')?.policy).toMatchObject({ version: 1, applied: true });
    expect(converger.services().find((s) => s.name === 'monitoring')?.phase).toBe('running');
    // A desired without an account for a new Backup policy is refused the same way a service.install would be.
    expect(await converger.setDesired({ revision: 3, services: { backup: { policy: policy(3, 'anon') } } })).toMatchObject({ status: 'failed', reason: { code: 'BACKUP_ACTOR_MISMATCH' } });
    expect(converger.services().find((s) => s.name === 'backup')?.policy).toMatchObject({ version: 1 });
    // The owner's change goes through.
    expect(await converger.setDesired({ revision: 4, services: { backup: { policy: policy(4), activatedBy: 'alice' } } })).toEqual({ status: 'done' });
    expect(converger.services().find((s) => s.name === 'backup')?.policy).toMatchObject({ version: 4, applied: true });
  });
});
