import { describe, expect, it } from 'vitest';
import { parseLaunchctlPrint, parseScQuery } from '../../../src/teamviewer/parse/service-state.js';

describe('service manager answers', () => {
  it('reads sc query and launchctl print states', () => {
    expect(parseScQuery(0, '        STATE              : 4  RUNNING\n')).toBe('running');
    expect(parseScQuery(0, '        STATE              : 1  STOPPED\n')).toBe('stopped');
    expect(parseScQuery(1060, '[SC] EnumQueryServicesStatus:OpenService FAILED 1060:')).toBe('absent');
    expect(parseLaunchctlPrint(0, 'x = {\n\tstate = running\n}')).toBe('running');
    expect(parseLaunchctlPrint(113, 'Could not find service')).toBe('absent');
    expect(parseLaunchctlPrint(5, 'weird')).toBeNull();
  });
});
