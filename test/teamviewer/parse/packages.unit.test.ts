import { describe, expect, it } from 'vitest';
import { parseDpkgStatus, parseRpmQuery } from '../../../src/teamviewer/parse/packages.js';

describe('package manager answers', () => {
  it('reads dpkg -s, ignoring packages removed but with config files left', () => {
    expect(parseDpkgStatus('teamviewer-host', 'Package: teamviewer-host\nStatus: install ok installed\nVersion: 15.48.4\n')).toEqual({ name: 'teamviewer-host', version: '15.48.4' });
    expect(parseDpkgStatus('teamviewer', 'Package: teamviewer\nStatus: deinstall ok config-files\nVersion: 15.48.4\n')).toBeNull();
  });

  it('reads rpm -q', () => {
    expect(parseRpmQuery('teamviewer', 'teamviewer-15.27.3-0.x86_64\n')).toEqual({ name: 'teamviewer', version: '15.27.3' });
    expect(parseRpmQuery('teamviewer', 'package teamviewer is not installed\n')).toBeNull();
    // `teamviewer-host-...` is not the `teamviewer` package.
    expect(parseRpmQuery('teamviewer', 'teamviewer-host-15.27.3-0.x86_64\n')).toBeNull();
  });
});
