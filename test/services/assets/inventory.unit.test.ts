import { describe, expect, it } from 'vitest';
import { buildInventory, changeCount, diffInventory, fitInventory } from '../../../src/services/assets/inventory.js';
import type { SystemFacts } from '../../../src/system/packages.js';

const facts: SystemFacts = {
  system: { manufacturer: 'ACME', model: 'X1' },
  bios: {},
  os: { distro: 'Debian', release: '12' },
  cpu: { cores: 4 },
  memory: { totalBytes: 8e9 },
  disks: [{ device: '/dev/sda', sizeBytes: 5e11 }],
  network: [{ iface: 'eth0', ip4: '10.0.0.2', mac: 'aa:bb' }],
};
const dpkg = (lines: string[]) => [{ source: 'dpkg' as const, origin: 'dpkg-query', text: lines.join('\n') }];

describe('inventory diff', () => {
  const before = buildInventory(facts, dpkg(['bash\t5.2\tamd64\tinstalled\t', 'curl\t7.88\tamd64\tinstalled\t', 'vim\t9.0\tamd64\tinstalled\t']));

  it('an unchanged inventory has no changes', () => {
    expect(changeCount(diffInventory(before, structuredClone(before)))).toBe(0);
  });

  it('names added, removed and changed software and facts with both values', () => {
    const after = buildInventory(
      { ...facts, os: { distro: 'Debian', release: '13' }, network: [{ iface: 'eth0', ip4: '10.0.0.9', mac: 'aa:bb' }] },
      dpkg(['bash\t5.3\tamd64\tinstalled\t', 'vim\t9.0\tamd64\tinstalled\t', 'jq\t1.6\tamd64\tinstalled\t']),
    );
    const changes = diffInventory(before, after);
    expect(changes.added.map((c) => c.key)).toEqual(['software:dpkg:jq:amd64']);
    expect(changes.removed.map((c) => c.key)).toEqual(['software:dpkg:curl:amd64']);
    expect(changes.changed.map((c) => c.key).sort()).toEqual(['network:eth0', 'os:release', 'software:dpkg:bash:amd64']);
    expect(changes.changed.find((c) => c.key === 'os:release')).toEqual({ key: 'os:release', from: '12', to: '13' });
  });

  it('software is sorted and de-duplicated', () => {
    const inv = buildInventory(facts, dpkg(['b\t1\tall\tinstalled\t', 'a\t1\tall\tinstalled\t', 'b\t1\tall\tinstalled\t']));
    expect(inv.software.map((s) => s.name)).toEqual(['a', 'b']);
  });
});

describe('fitInventory', () => {
  const many = buildInventory(facts, dpkg(Array.from({ length: 3000 }, (_, i) => `package-${i}\t1.${i}-1\tamd64\tinstalled\tA Maintainer With A Long Name <maintainer-${i}@lists.example.org>`)));
  it('leaves a small inventory alone', () => {
    expect(fitInventory(many, 10_000_000)).toEqual({ inventory: many, omitted: 0 });
  });
  it('drops publishers first, then cuts the software list, and says how much', () => {
    const noPublishers = fitInventory(many, 300_000);
    expect(Buffer.byteLength(JSON.stringify(noPublishers.inventory))).toBeLessThanOrEqual(300_000);
    expect(noPublishers.inventory.software.every((s) => s.publisher === undefined)).toBe(true);
    expect(noPublishers.omitted).toBe(0);
    const cut = fitInventory(many, 60_000);
    expect(Buffer.byteLength(JSON.stringify(cut.inventory))).toBeLessThanOrEqual(60_000);
    expect(cut.omitted).toBeGreaterThan(0);
    expect(cut.inventory.software.length + cut.omitted).toBe(3000);
  });
});
