import { describe, expect, it } from 'vitest';
import { createServiceRegistry, defaultServiceFactories, heavyServiceFactories } from '../../../src/services/registry.js';
import { createHeavyJobScheduler } from '../../../src/services/budget.js';
import { assetsPolicySchema } from '../../../src/services/assets/policy.js';
import { patchesPolicySchema } from '../../../src/services/patches/policy.js';
import { backupPolicySchema } from '../../../src/services/backup/policy.js';
import { fixedClock } from '../../../src/system/clock.js';

describe('registry entries of the heavy services', () => {
  it('assets, patches and backup are supported with their policy schemas; endpoint protection is not', () => {
    const registry = createServiceRegistry(defaultServiceFactories);
    expect(registry.supported).toEqual(expect.arrayContaining(['assets', 'patches', 'backup']));
    expect(registry.supported).not.toContain('endpoint-protection');
    expect(registry.policySchema('assets')).toBe(assetsPolicySchema);
    expect(registry.policySchema('patches')).toBe(patchesPolicySchema);
    expect(registry.policySchema('backup')).toBe(backupPolicySchema);
  });

  it('heavyServiceFactories builds the three services around one scheduler', () => {
    const scheduler = createHeavyJobScheduler({ clock: fixedClock(0), random: () => 0 });
    const registry = createServiceRegistry({ ...defaultServiceFactories, ...heavyServiceFactories(scheduler) });
    expect(registry.supported).toEqual(expect.arrayContaining(['monitoring', 'assets', 'patches', 'backup']));
  });
});
