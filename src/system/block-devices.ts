// The disks of a Linux machine as the kernel lists them in /sys/block, for the hardware inventory where
// systeminformation's diskLayout (lsblk output parsing) returns nothing. A disk is a block device backed by a
// device (real or virtual hardware: SATA, NVMe, virtio, USB); loop, RAM, zram, device-mapper and md devices are not.
// Unknown facts are null.
import { fsAsync as fs } from './fs-async.js';
import path from 'node:path';
import { compareText } from './compare-text.js';

// A type (not an interface) so it is a group of facts (packages.ts Facts) as it is.
export type BlockDevice = {
  device: string;
  type: 'SSD' | 'HD' | 'NVMe' | null;
  name: string | null;
  vendor: string | null;
  sizeBytes: number;
  serial: string | null;
  interface: string | null;
  removable: boolean | null;
};

/** The bus a device sits on, from its path in /sys/devices. Pure. */
export function busOf(devicePath: string): string | null {
  const buses: Array<[RegExp, string]> = [[/\/nvme/, 'NVMe'], [/\/usb\d/, 'USB'], [/\/virtio\d/, 'virtio'], [/\/mmc_host\//, 'MMC'], [/\/ata\d/, 'SATA'], [/\/host\d+\/target/, 'SCSI']];
  return buses.find(([re]) => re.test(devicePath))?.[1] ?? null;
}

const text = (file: string) => fs.readFile(file, 'utf8').then((t) => t.trim() || null, () => null);

/** Whole disks under `sysRoot`/block (default /sys), largest first. */
export async function readLinuxBlockDevices(sysRoot = '/sys'): Promise<BlockDevice[]> {
  const blockDir = path.join(sysRoot, 'block');
  const names = await fs.readdir(blockDir).catch(() => [] as string[]);
  const out: BlockDevice[] = [];
  for (const name of names.slice(0, 256)) {
    const dir = path.join(blockDir, name);
    const device = await fs.realpath(path.join(dir, 'device')).catch(() => null);
    const sectors = Number(await text(path.join(dir, 'size')));
    if (!device || !(sectors > 0)) continue;
    const [model, vendor, serial, deviceSerial, rotational, removable] = await Promise.all(['device/model', 'device/vendor', 'serial', 'device/serial', 'queue/rotational', 'removable'].map((f) => text(path.join(dir, f))));
    const bus = busOf(device);
    out.push({
      device: `/dev/${name}`,
      type: bus === 'NVMe' ? 'NVMe' : rotational === '1' ? 'HD' : rotational === '0' ? 'SSD' : null,
      name: model ?? null,
      // A PCI vendor id (virtio: 0x1af4) is not a maker's name.
      vendor: vendor && !/^0x[0-9a-f]+$/i.test(vendor) ? vendor : null,
      sizeBytes: sectors * 512, // /sys/block/*/size counts 512-byte sectors whatever the device's own sector size
      serial: serial ?? deviceSerial ?? null,
      interface: bus,
      removable: removable === null ? null : removable === '1',
    });
  }
  return out.sort((a, b) => b.sizeBytes - a.sizeBytes || compareText(a.device, b.device));
}
