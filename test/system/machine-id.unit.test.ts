import { describe, expect, it } from 'vitest';
import { parseFirmwareUuid, parseIoregPlatformUuid, parseLinuxMachineId, parseRegMachineGuid } from '../../src/system/machine-id.js';

describe('machine id parsers', () => {
  it('takes a systemd machine id (first line, 32 hex digits) and refuses empty or "uninitialized" files', () => {
    expect(parseLinuxMachineId('0123456789ABCDEF0123456789abcdef\n')).toBe('0123456789abcdef0123456789abcdef');
    expect(parseLinuxMachineId('')).toBeNull();
    expect(parseLinuxMachineId('uninitialized\n')).toBeNull();
    expect(parseLinuxMachineId('my-host\n')).toBeNull();
  });

  it('takes a firmware UUID but not the placeholders boards ship', () => {
    expect(parseFirmwareUuid('4C4C4544-0042-3510-8052-B3C04F4A4B32\n')).toBe('4c4c4544-0042-3510-8052-b3c04f4a4b32');
    expect(parseFirmwareUuid('00000000-0000-0000-0000-000000000000\n')).toBeNull();
    expect(parseFirmwareUuid('03000200-0400-0500-0006-000700080009')).toBeNull();
    expect(parseFirmwareUuid('Not Settable')).toBeNull();
  });

  it('reads MachineGuid from reg query output', () => {
    const out = '\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Cryptography\r\n    MachineGuid    REG_SZ    6B29FC40-CA47-1067-B31D-00DD010662DA\r\n\r\n';
    expect(parseRegMachineGuid(out)).toBe('6b29fc40-ca47-1067-b31d-00dd010662da');
    expect(parseRegMachineGuid('ERROR: The system was unable to find the specified registry key or value.')).toBeNull();
  });

  it('reads IOPlatformUUID from ioreg output', () => {
    const out = '+-o J314sAP  <class IOPlatformExpertDevice, id 0x100000210, registered>\n    {\n      "IOPlatformSerialNumber" = "C02XXXX"\n      "IOPlatformUUID" = "A1B2C3D4-E5F6-0718-293A-4B5C6D7E8F90"\n    }\n';
    expect(parseIoregPlatformUuid(out)).toBe('a1b2c3d4-e5f6-0718-293a-4b5c6d7e8f90');
    expect(parseIoregPlatformUuid('"IOPlatformUUID" = "$(reboot)"')).toBeNull();
  });
});
