import { describe, expect, it } from 'vitest';
import { createServiceRegistry, serviceLoaders, type ServiceLoader } from '../../../src/services/registry.js';
import { createHeavyJobScheduler } from '../../../src/services/budget.js';
import { assetsPolicySchema } from '../../../src/protocol/policies/assets.js';
import { patchesPolicySchema } from '../../../src/protocol/policies/patches.js';
import { backupPolicySchema } from '../../../src/protocol/policies/backup.js';
import { fixedClock } from '../../../src/system/clock.js';
import type { ServiceName } from '../../../src/protocol/model.js';

const scheduler = () => createHeavyJobScheduler({ clock: fixedClock(0), random: () => 0 });

describe('registry entries of the heavy services', () => {
  it('assets, patches and backup are supported with their policy schemas; endpoint protection is not', async () => {
    const registry = createServiceRegistry(serviceLoaders(scheduler()));
    expect(registry.supported).toEqual(expect.arrayContaining(['monitoring', 'assets', 'patches', 'backup']));
    expect(registry.supported).not.toContain('endpoint-protection');
    expect(await registry.policySchema('assets')).toBe(assetsPolicySchema);
    expect(await registry.policySchema('patches')).toBe(patchesPolicySchema);
    expect(await registry.policySchema('backup')).toBe(backupPolicySchema);
    expect(await registry.policySchema('endpoint-protection')).toBeUndefined();
  });

  it('loads a service only when it is first needed, once, and retries a load that failed', async () => {
    const loads: ServiceName[] = [];
    const real = serviceLoaders(scheduler());
    let failNext = true;
    const counted = Object.fromEntries(
      Object.entries(real).map(([name, load]) => [
        name,
        (async () => {
          loads.push(name as ServiceName);
          if (name === 'backup' && failNext) {
            failNext = false;
            throw new Error('module unreadable');
          }
          return load!();
        }) satisfies ServiceLoader,
      ]),
    );
    const registry = createServiceRegistry(counted);
    expect(loads).toEqual([]);
    await registry.policySchema('assets');
    await registry.policySchema('assets');
    expect(loads).toEqual(['assets']);
    await expect(registry.policySchema('backup')).rejects.toThrow('module unreadable');
    expect(await registry.policySchema('backup')).toBe(backupPolicySchema);
    expect(loads).toEqual(['assets', 'backup', 'backup']);
  });
});
