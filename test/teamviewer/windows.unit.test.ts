import { describe, expect, it } from 'vitest';
import { windowsPathUnderRoot } from '../../src/teamviewer/context.js';
import { parseRegQuery } from '../../src/teamviewer/parse/reg-query.js';
import { editionFromDisplayNames, installKey, managedFromKey } from '../../src/teamviewer/windows.js';

const key = (lines: string[]) => parseRegQuery(['HKEY_LOCAL_MACHINE\\SOFTWARE\\TeamViewer\\DeviceManagementV2', ...lines].join('\n'))[0];

describe('Windows decisions', () => {
  it('tests the Unmanaged bytes, not their truthiness', () => {
    const id = '    ManagementId    REG_SZ    {0c7d4a3e-1111-4c2b-9a55-3f5e2b7c9d10}';
    expect(managedFromKey(key([id, '    Unmanaged    REG_BINARY    0000000000000000']))).toBe(true);
    expect(managedFromKey(key([id, '    Unmanaged    REG_BINARY    0100000000000000']))).toBe(false);
    expect(managedFromKey(key([id]))).toBe(true);
    expect(managedFromKey(key(['    ManagementId    REG_SZ    ']))).toBe(false);
    expect(managedFromKey(undefined)).toBe(false);
  });

  it('tells Host from the full client by the uninstall DisplayName', () => {
    expect(editionFromDisplayNames(['TeamViewer Host'])).toBe('host');
    expect(editionFromDisplayNames(['TeamViewer'])).toBe('full');
    expect(editionFromDisplayNames(['TeamViewer 15'])).toBe('full');
    expect(editionFromDisplayNames(['TeamViewer Meeting Add-In'])).toBeNull();
  });

  it('finds the values in the highest Version<N> subkey of old installs', () => {
    const keys = parseRegQuery([
      'HKEY_LOCAL_MACHINE\\SOFTWARE\\TeamViewer', '',
      'HKEY_LOCAL_MACHINE\\SOFTWARE\\TeamViewer\\Version8', '    Version    REG_SZ    8.0', '',
      'HKEY_LOCAL_MACHINE\\SOFTWARE\\TeamViewer\\Version10', '    Version    REG_SZ    10.0', '',
    ].join('\n'));
    expect(installKey({ key: 'HKLM\\SOFTWARE\\TeamViewer', status: 'ok', keys })?.path).toBe('HKLM\\SOFTWARE\\TeamViewer\\Version10');
  });

  it('maps Windows paths under a fixture root, and leaves them alone on a real host', () => {
    expect(windowsPathUnderRoot('/tmp/r', 'C:\\Program Files (x86)\\TeamViewer\\TeamViewer.exe')).toBe('/tmp/r/C/Program Files (x86)/TeamViewer/TeamViewer.exe');
    expect(windowsPathUnderRoot('/', 'C:\\Program Files\\TeamViewer')).toBe('C:\\Program Files\\TeamViewer');
  });
});
