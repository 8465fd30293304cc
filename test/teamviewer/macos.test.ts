import { afterEach, describe, expect, it } from 'vitest';
import { TeamViewerFactsSchema } from '../../src/protocol/model.js';
import { detectTeamViewer, teamviewerProblems } from '../../src/teamviewer/index.js';
import { openCase, type OpenedCase } from './fixture.js';

let opened: OpenedCase | undefined;
afterEach(async () => {
  await opened?.cleanup();
  opened = undefined;
});

async function detect(name: string) {
  opened = await openCase('macos', name);
  const facts = await detectTeamViewer(opened.ctx);
  expect(TeamViewerFactsSchema.safeParse(facts).success).toBe(true);
  return facts;
}

describe('macOS TeamViewer detection (Info.plist, preferences, launchctl)', () => {
  it('reads the full client, a ClientID_64 above 32 bits kept exact, and the owner (managed)', async () => {
    const facts = await detect('full-managed');
    expect(facts).toMatchObject({
      installed: true, edition: 'full', version: '15.60.3', teamviewerId: '12345678901', serviceRunning: true,
      managed: true, owner: { account: 'IT & Ops', company: 'Example Corp' }, installPath: '/Applications/TeamViewer.app', warnings: [],
    });
    expect(teamviewerProblems(facts)).toEqual([]);
  });

  it('reads TeamViewer Host by bundle id, a binary preferences plist through plutil, and the older daemon label', async () => {
    const facts = await detect('host-binary-prefs');
    expect(facts).toMatchObject({ installed: true, edition: 'host', version: '15.50.5', teamviewerId: '987654321', serviceRunning: true, warnings: [] });
    // No owner in the preferences: on macOS that is unknown, not "unmanaged".
    expect(facts.managed).toBeNull();
    expect(facts.sources).toContain('/Library/Preferences/com.teamviewer.teamviewer.preferences.Machine.plist');
  });

  it('says not installed without a TeamViewer bundle', async () => {
    const facts = await detect('absent');
    expect(facts).toMatchObject({ installed: false, edition: null, serviceRunning: null });
    expect(teamviewerProblems(facts).map((p) => p.code)).toEqual(['TEAMVIEWER_MISSING']);
  });

  it('keeps installed when Info.plist is corrupt, with a warning, and sees the daemon not running', async () => {
    const facts = await detect('corrupt-plist');
    expect(facts).toMatchObject({ installed: true, edition: null, version: null, serviceRunning: false });
    expect(facts.warnings).toHaveLength(1);
    expect(facts.warnings[0]).toMatch(/^\/Applications\/TeamViewer\.app\/Contents\/Info\.plist cannot be read \(corrupt/);
    expect(teamviewerProblems(facts).map((p) => p.code)).toEqual(['TEAMVIEWER_NOT_RUNNING', 'TEAMVIEWER_UNREADABLE']);
  });
});
