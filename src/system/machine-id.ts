// The OS machine id, read where the OS keeps it, never through a shell and never from the host name (a renamed
// host must not look like a cloned one). It replaces node-machine-id, which ran `( cat ... || hostname ) | head`
// through /bin/sh at every start and fell back to the host name. The value is the SHA-256 hex of the lower-cased
// id, as node-machine-id computed it, so an existing registration keeps its machine id across the upgrade.
//   Linux:   /var/lib/dbus/machine-id, else /etc/machine-id, else the firmware UUID (/sys/class/dmi/id/product_uuid)
//            — plain file reads, no child process.
//   Windows: HKLM\SOFTWARE\Microsoft\Cryptography MachineGuid (64-bit view). Node has no registry API, so reg.exe
//            runs from %SystemRoot%\System32 by its full path, through the one command runner (no shell, no PATH).
//   macOS:   IOPlatformUUID of IOPlatformExpertDevice. Node has no IOKit binding: /usr/sbin/ioreg by its full path.
import { createHash } from 'node:crypto';
import { fsAsync as fs } from './fs-async.js';
import path from 'node:path';
import type { CommandRunner } from './exec.js';

export interface MachineIdSources {
  platform: NodeJS.Platform;
  /** Folder under which Linux paths are read ('/' on a device; a fixture tree in tests). */
  root: string;
  runner: CommandRunner;
  /** %SystemRoot% (Windows). */
  systemRoot?: string;
}

export const LINUX_MACHINE_ID_FILES = ['/var/lib/dbus/machine-id', '/etc/machine-id'] as const;
export const LINUX_FIRMWARE_UUID_FILE = '/sys/class/dmi/id/product_uuid';
export const IOREG = '/usr/sbin/ioreg';

const hashId = (id: string): string => createHash('sha256').update(id).digest('hex');

/** A systemd/D-Bus machine id: 32 hex digits (an empty or "uninitialized" file is no id). Pure. */
export function parseLinuxMachineId(text: string): string | null {
  const id = text.split('\n')[0]!.replace(/\s+/g, '').toLowerCase();
  return /^[0-9a-f]{32}$/.test(id) ? id : null;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/;
// Firmware placeholders that many boards ship: not an identity.
const PLACEHOLDER_UUIDS = new Set(['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '03000200-0400-0500-0006-000700080009']);

/** A firmware UUID (SMBIOS), or null for an empty, malformed or placeholder one. Pure. */
export function parseFirmwareUuid(text: string): string | null {
  const id = text.trim().toLowerCase();
  return UUID.test(id) && !PLACEHOLDER_UUIDS.has(id) ? id : null;
}

/** MachineGuid from `reg query ... /v MachineGuid` output. Pure. */
export function parseRegMachineGuid(stdout: string): string | null {
  const m = /^\s*MachineGuid\s+REG_SZ\s+(\S+)\s*$/m.exec(stdout);
  const id = m?.[1]?.toLowerCase();
  return id && UUID.test(id) ? id : null;
}

/** IOPlatformUUID from `ioreg -rd1 -c IOPlatformExpertDevice` output. Pure. */
export function parseIoregPlatformUuid(stdout: string): string | null {
  const m = /"IOPlatformUUID"\s*=\s*"([^"]+)"/.exec(stdout);
  const id = m?.[1]?.toLowerCase();
  return id && UUID.test(id) ? id : null;
}

async function readSmall(file: string): Promise<string | null> {
  try {
    const handle = await fs.open(file, 'r');
    try {
      const buffer = Buffer.alloc(256);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      return buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return null;
  }
}

const under = (root: string, p: string) => path.join(root, p);

/** The hashed machine id; throws (code MACHINE_ID_UNAVAILABLE) when the OS has none to give. */
export async function readOsMachineId(src: MachineIdSources): Promise<string> {
  let id: string | null = null;
  let looked: string;
  if (src.platform === 'win32') {
    const reg = path.win32.join(src.systemRoot ?? 'C:\\Windows', 'System32', 'reg.exe');
    // /reg:64: a 32-bit process would otherwise read the WOW64 view, which has no MachineGuid.
    const r = await src.runner.run(reg, ['query', 'HKLM\\SOFTWARE\\Microsoft\\Cryptography', '/v', 'MachineGuid', '/reg:64'], { timeoutMs: 10_000 });
    id = r.code === 0 ? parseRegMachineGuid(r.stdout) : null;
    looked = 'HKLM\\SOFTWARE\\Microsoft\\Cryptography MachineGuid';
  } else if (src.platform === 'darwin') {
    const r = await src.runner.run(IOREG, ['-rd1', '-c', 'IOPlatformExpertDevice'], { timeoutMs: 10_000 });
    id = r.code === 0 ? parseIoregPlatformUuid(r.stdout) : null;
    looked = 'IOPlatformUUID';
  } else {
    for (const file of LINUX_MACHINE_ID_FILES) {
      const text = await readSmall(under(src.root, file));
      id = text === null ? null : parseLinuxMachineId(text);
      if (id) break;
    }
    if (!id) {
      const text = await readSmall(under(src.root, LINUX_FIRMWARE_UUID_FILE));
      id = text === null ? null : parseFirmwareUuid(text);
    }
    looked = [...LINUX_MACHINE_ID_FILES, LINUX_FIRMWARE_UUID_FILE].join(', ');
  }
  if (!id) throw Object.assign(new Error(`no machine id in ${looked}`), { code: 'MACHINE_ID_UNAVAILABLE' });
  return hashId(id);
}
