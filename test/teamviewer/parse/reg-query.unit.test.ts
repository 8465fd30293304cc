import { describe, expect, it } from 'vitest';
import { findKey, hexBytes, parseRegQuery, regBytes, regNumber, regString } from '../../../src/teamviewer/parse/reg-query.js';

const OUTPUT = [
  '',
  'HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\TeamViewer',
  '    Version    REG_SZ    14.1.3399 HC',
  '    Padded    REG_SZ    15.27.3 ',
  '    ClientID    REG_DWORD    0x349190d3',
  '    Empty    REG_SZ    ',
  '    Value With Spaces    REG_MULTI_SZ    a\\0b\\0',
  '    Big    REG_QWORD    0x1ffffffffffff',
  '',
  'HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\TeamViewer\\DeviceManagementV2',
  '    Unmanaged    REG_BINARY    0100000000000000',
  '',
  'End of search: 7 match(es) found.',
].join('\r\n');

describe('parseRegQuery', () => {
  const keys = parseRegQuery(OUTPUT);

  it('splits keys (short hive names) and their typed values, keeping trailing spaces and suffixes', () => {
    expect(keys.map((k) => k.path)).toEqual(['HKLM\\SOFTWARE\\WOW6432Node\\TeamViewer', 'HKLM\\SOFTWARE\\WOW6432Node\\TeamViewer\\DeviceManagementV2']);
    const tv = findKey(keys, 'HKEY_LOCAL_MACHINE\\software\\wow6432node\\TeamViewer');
    expect(regString(tv, 'Version')).toBe('14.1.3399 HC');
    expect(regString(tv, 'Padded')).toBe('15.27.3 ');
    expect(regString(tv, 'Empty')).toBe('');
    expect(regNumber(tv, 'ClientID')).toBe(881955027n);
    expect(regNumber(tv, 'Big')).toBe(0x1ffffffffffffn);
    expect(tv?.values['Value With Spaces']).toEqual({ type: 'REG_MULTI_SZ', data: ['a', 'b'] });
  });

  it('reads REG_BINARY as bytes', () => {
    expect([...regBytes(keys[1], 'Unmanaged')!]).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect([...hexBytes('01 00 ff')]).toEqual([1, 0, 255]);
    expect([...hexBytes('zz')]).toEqual([]);
  });

  it('gives nothing for an error message', () => {
    expect(parseRegQuery('ERROR: The system was unable to find the specified registry key or value.')).toEqual([]);
  });
});
