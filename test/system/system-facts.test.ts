// Asset Management's hardware/OS facts: systeminformation loaded on first use still answers on this machine, unknown
// figures are null (not 0 or -1), and the disks are those the kernel shows (lsblk), also where systeminformation
// finds none.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { known, readSystemFacts } from '../../src/system/packages.js';
import { busOf, readLinuxBlockDevices } from '../../src/system/block-devices.js';

const run = promisify(execFile);

describe('readSystemFacts', () => {
  it('reads OS, CPU and memory facts through the lazily loaded systeminformation', async () => {
    const facts = await readSystemFacts();
    expect(facts.os.hostname).toBe(os.hostname());
    expect(facts.os.arch).toBe(os.arch());
    expect(facts.memory.totalBytes).toBe(os.totalmem());
    expect(facts.cpu.cores).toBe(os.cpus().length);
  });

  it('says null for a figure it does not know, never 0 or -1 (CPU speed, link speed)', async () => {
    const facts = await readSystemFacts();
    const speed = facts.cpu.speedGHz as number | null;
    expect(speed === null || speed > 0).toBe(true);
    for (const nic of facts.network) expect(nic.speedMbps === null || (nic.speedMbps as number) > 0, String(nic.iface)).toBe(true);
    expect([known(0), known(-1), known(null), known(undefined), known(Number.NaN), known(2.4)]).toEqual([null, null, null, null, null, 2.4]);
  });

  it.runIf(process.platform === 'linux')('lists the disks lsblk shows, with their sizes', async () => {
    const lsblk = await run('lsblk', ['-dbnPo', 'NAME,SIZE,TYPE'], { timeout: 10_000 }).catch(() => null);
    if (!lsblk) return; // no lsblk here: nothing to compare with
    const shown = lsblk.stdout.trim().split('\n').map((l) => Object.fromEntries([...l.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]])))
      .filter((d) => d.TYPE === 'disk' && Number(d.SIZE) > 0 && !/^(zram|ram|loop)/.test(d.NAME!));
    const facts = await readSystemFacts();
    expect(facts.disks.map((d) => [d.device, d.sizeBytes]).sort()).toEqual(shown.map((d) => [`/dev/${d.NAME}`, Number(d.SIZE)]).sort());
  });
});

describe('disks from /sys/block', () => {
  it('keeps whole disks backed by a device, with what the kernel says of them; null where it says nothing', async () => {
    const sys = await mkdtemp(path.join(os.tmpdir(), 'rmagent-sys-'));
    try {
      const disk = async (name: string, devicePath: string | null, files: Record<string, string>) => {
        await mkdir(path.join(sys, 'block', name, 'queue'), { recursive: true });
        if (devicePath) {
          await mkdir(path.join(sys, devicePath), { recursive: true });
          await symlink(path.join(sys, devicePath), path.join(sys, 'block', name, 'device'));
        }
        for (const [file, content] of Object.entries(files)) {
          await mkdir(path.dirname(path.join(sys, 'block', name, file)), { recursive: true });
          await writeFile(path.join(sys, 'block', name, file), `${content}\n`);
        }
      };
      await disk('vda', 'devices/pci0000:00/0000:00:02.0/virtio1', { size: '536870912', serial: '20066419144836555', 'queue/rotational': '1', removable: '0', 'device/vendor': '0x1af4' });
      await disk('nvme0n1', 'devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0', { size: '1000215216', 'queue/rotational': '0', 'device/model': 'Samsung SSD 980 PRO 500GB', 'device/serial': 'S5GXNF0R123456' });
      await disk('sda', 'devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0', { size: '3907029168', 'queue/rotational': '1', 'device/model': 'WDC WD20EZRZ', 'device/vendor': 'ATA' });
      await disk('loop0', null, { size: '131072' });
      await disk('zram0', null, { size: '0' });
      await disk('sdb', 'devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host1/target1:0:0/1:0:0:0', { size: '0', removable: '1' });
      expect(await readLinuxBlockDevices(sys)).toEqual([
        { device: '/dev/sda', type: 'HD', name: 'WDC WD20EZRZ', vendor: 'ATA', sizeBytes: 3907029168 * 512, serial: null, interface: 'SATA', removable: null },
        { device: '/dev/nvme0n1', type: 'NVMe', name: 'Samsung SSD 980 PRO 500GB', vendor: null, sizeBytes: 1000215216 * 512, serial: 'S5GXNF0R123456', interface: 'NVMe', removable: null },
        { device: '/dev/vda', type: 'HD', name: null, vendor: null, sizeBytes: 274877906944, serial: '20066419144836555', interface: 'virtio', removable: false },
      ]);
      expect(busOf('/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host1/target1:0:0/1:0:0:0')).toBe('USB');
    } finally {
      await rm(sys, { recursive: true, force: true });
    }
  });
});
