import { describe, expect, it } from 'vitest';
import { parseTeamViewerInfo } from '../../../src/teamviewer/parse/teamviewer-info.js';

const B = '\x1b[1m';
const N = '\x1b[0m';

describe('parseTeamViewerInfo', () => {
  it('reads version, packaging and an ID on the same line through ANSI bold codes', () => {
    expect(parseTeamViewerInfo(`${B} TeamViewer ${N}  15.48.4  (DEB)\n${B} TeamViewer ID:${N}  1234567890\n`)).toEqual({
      version: '15.48.4', packaging: 'DEB', teamviewerId: '1234567890', permissionDenied: false, daemonActive: null,
    });
  });

  it('reads an ID printed on the next line and the teamviewerd status block', () => {
    const info = parseTeamViewerInfo(`${B} TeamViewer ID:${N}\n\n      987654321\n\n${B} teamviewerd status ${N}\n   Active: inactive (dead)\n`);
    expect(info.teamviewerId).toBe('987654321');
    expect(info.daemonActive).toBe(false);
  });

  it('leaves the ID empty and flags permission denied when run without root', () => {
    const info = parseTeamViewerInfo(`grep: /opt/teamviewer/config/global.conf: Permission denied\n${B} TeamViewer ${N} 15.48.4 (RPM)\n${B} TeamViewer ID:${N}\n${B} teamviewerd status ${N}\n`);
    expect(info).toMatchObject({ version: '15.48.4', packaging: 'RPM', teamviewerId: null, permissionDenied: true });
  });

  it('does not take the next labelled line for an ID', () => {
    expect(parseTeamViewerInfo('TeamViewer ID:\nActive: active (running)\n').teamviewerId).toBeNull();
  });
});
