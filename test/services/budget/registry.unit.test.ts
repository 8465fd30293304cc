import { describe, expect, it } from 'vitest';
import { createServiceRegistry, serviceFactories } from '../../../src/services/registry.js';
import { createHeavyJobScheduler } from '../../../src/services/budget.js';
import { assetsPolicySchema } from '../../../src/protocol/policies/assets.js';
import { patchesPolicySchema } from '../../../src/protocol/policies/patches.js';
import { backupPolicySchema } from '../../../src/protocol/policies/backup.js';
import { fixedClock } from '../../../src/system/clock.js';

describe('registry entries of the heavy services', () => {
  it('assets, patches and backup are supported with their policy schemas; endpoint protection is not', () => {
    const registry = createServiceRegistry(serviceFactories(createHeavyJobScheduler({ clock: fixedClock(0), random: () => 0 })));
    expect(registry.supported).toEqual(expect.arrayContaining(['assets', 'patches', 'backup']));
    expect(registry.supported).not.toContain('endpoint-protection');
    expect(registry.policySchema('assets')).toBe(assetsPolicySchema);
    expect(registry.policySchema('patches')).toBe(patchesPolicySchema);
    expect(registry.policySchema('backup')).toBe(backupPolicySchema);
  });

  it('serviceFactories builds every service around one scheduler', () => {
    const scheduler = createHeavyJobScheduler({ clock: fixedClock(0), random: () => 0 });
    const registry = createServiceRegistry(serviceFactories(scheduler));
    expect(registry.supported).toEqual(expect.arrayContaining(['monitoring', 'assets', 'patches', 'backup']));
  });
});
