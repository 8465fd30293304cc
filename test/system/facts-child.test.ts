// Hardware facts from a child process (`rmagent facts`): the built CLI prints facts the daemon accepts, and whatever
// the child prints instead (nothing, garbage, the wrong shape, a failure) fails the read with the reason, never
// reaching an inventory. Real child processes throughout; stand-in scripts play a broken `rmagent`.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCommandRunner } from '../../src/system/exec.js';
import { readSystemFactsInChild, systemFactsSchema } from '../../src/system/facts-child.js';
import { createAssetsService } from '../../src/services/assets/service.js';
import { createHeavyJobScheduler } from '../../src/services/budget.js';
import { makeFrame, type CommandType, type Frame } from '../../src/protocol/frames.js';
import { serviceRuntime, standIn, tempDir } from '../services/budget/service-runtime.js';

const AGENT_JS = path.resolve(__dirname, '../../build/src/cli/rmagent.js');
const runner = createCommandRunner();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A stand-in `rmagent` (sh SCRIPT facts) printing `body`'s output. */
async function fakeRmagent(body: string) {
  const { dir, cleanup } = await tempDir('facts-child');
  cleanups.push(cleanup);
  await standIn(dir, 'rmagent', body);
  return { dir, self: { command: '/bin/sh', args: [path.join(dir, 'rmagent')] } };
}

describe('hardware facts read by a child process', () => {
  it('the built `rmagent facts` prints this machine\'s facts, which the daemon\'s schema accepts', async () => {
    expect(existsSync(AGENT_JS), 'run `npm run build` first (npm test does it)').toBe(true);
    const facts = await readSystemFactsInChild(runner, { command: process.execPath, args: [AGENT_JS] });
    expect(systemFactsSchema().safeParse(facts).success).toBe(true);
    expect(facts.os.platform).toBe(process.platform);
    expect(Number(facts.cpu.cores)).toBeGreaterThan(0);
    expect(facts.memory.totalBytes).toBeGreaterThan(0);
  });

  it('a child that prints garbage, the wrong shape, or fails is refused with the reason', async () => {
    const garbage = await fakeRmagent('echo "not json {"');
    await expect(readSystemFactsInChild(runner, garbage.self)).rejects.toThrow('printed no JSON');
    const shape = await fakeRmagent('echo \'{"system":"x","bios":{},"os":{},"cpu":{},"memory":{},"disks":[],"network":[]}\'');
    await expect(readSystemFactsInChild(runner, shape.self)).rejects.toThrow(/wrong shape: system/);
    const failing = await fakeRmagent('echo "error EXECUTABLE_DAMAGED: cut off" >&2; exit 3');
    await expect(readSystemFactsInChild(runner, failing.self)).rejects.toThrow('exited 3: error EXECUTABLE_DAMAGED: cut off');
    await expect(readSystemFactsInChild(runner, { command: '/nonexistent/rmagent', args: [] })).rejects.toThrow('did not run (ENOENT)');
  });

  it('Asset Management sends the facts the child printed; when the child fails, the inventory fails with that reason and sends nothing', async () => {
    const good = await fakeRmagent('[ "$1" = facts ] || exit 64\necho \'{"system":{"model":"From the child"},"bios":{},"os":{"platform":"linux"},"cpu":{},"memory":{},"disks":[],"network":[]}\'');
    const bad = await fakeRmagent('exit 3');
    for (const [fake, works] of [[good, true], [bad, false]] as const) {
      const { dir, cleanup } = await tempDir('facts-assets');
      cleanups.push(cleanup);
      const { runtime, reports, clock } = serviceRuntime(path.join(dir, 'state'));
      const service = createAssetsService({ scheduler: createHeavyJobScheduler({ clock, random: () => 0 }), platform: 'linux', root: dir, tickMs: 3_600_000, factsCommand: fake.self })(runtime);
      await service.install();
      await service.apply({ id: 'a', name: 'Assets', service: 'assets', version: 1, settings: {} }, { software: false });
      const outcome = await service.handleCommand!(makeFrame('inventory.request', { deviceId: 'dev-1', full: true }) as Frame & { type: CommandType });
      await service.stop();
      if (works) {
        expect(outcome).toEqual({ status: 'done' });
        expect((reports[0]!.data.inventory as { hardware: { system: { model: string } } }).hardware.system.model).toBe('From the child');
      } else {
        expect(outcome?.status).toBe('failed');
        expect(outcome?.reason?.message).toContain('rmagent facts exited 3');
        expect(reports).toHaveLength(0);
      }
    }
  });
});
