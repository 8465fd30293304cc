import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TeamViewerFactsSchema } from '../../src/protocol/model.js';
import { detectTeamViewer, teamviewerProblems } from '../../src/teamviewer/index.js';
import { openCase, type OpenedCase } from './fixture.js';

let opened: OpenedCase | undefined;
afterEach(async () => {
  await opened?.cleanup();
  opened = undefined;
});

async function detect(name: string, opts: { copy?: boolean } = {}) {
  opened = await openCase('windows', name, opts);
  const facts = await detectTeamViewer(opened.ctx);
  expect(TeamViewerFactsSchema.safeParse(facts).success).toBe(true);
  return facts;
}

describe('Windows TeamViewer detection (reg query, sc query)', () => {
  it('reads a managed TeamViewer Host: DWORD ID, trimmed version, DeviceManagementV2 with zero Unmanaged bytes', async () => {
    const facts = await detect('host-managed');
    expect(facts).toMatchObject({
      installed: true, edition: 'host', version: '15.27.3', teamviewerId: '881955027', serviceRunning: true,
      managed: true, managementId: '{0c7d4a3e-1111-4c2b-9a55-3f5e2b7c9d10}',
      owner: { account: 'IT Admin', company: 'Example Corp' }, installPath: 'C:\\Program Files\\TeamViewer', warnings: [],
    });
    expect(teamviewerProblems(facts)).toEqual([]);
  });

  it('prefers the 32-bit (WOW6432Node) key whose folder holds TeamViewer.exe over a leftover 64-bit key', async () => {
    const facts = await detect('full-32on64-unmanaged');
    expect(facts).toMatchObject({
      installed: true, edition: 'full', version: '14.1.3399', teamviewerId: '12345678', serviceRunning: false,
      installPath: 'C:\\Program Files (x86)\\TeamViewer', warnings: [],
    });
    // ManagementId is there but Unmanaged = 01 00 ... : the bytes say unmanaged.
    expect(facts.managed).toBe(false);
    expect(teamviewerProblems(facts).map((p) => p.code)).toEqual(['TEAMVIEWER_NOT_RUNNING', 'TEAMVIEWER_NOT_MANAGED']);
  });

  it('reads an old install whose values live in the highest Version<N> subkey', async () => {
    const facts = await detect('old-version-subkey');
    expect(facts).toMatchObject({ installed: true, edition: 'full', version: '9.0.41110', teamviewerId: String(0x1a2b3c4d), managed: false });
    expect(facts.installPath).toBe('C:\\Program Files (x86)\\TeamViewer\\Version9');
  });

  it('says not installed when no key, no uninstall entry and no service exist', async () => {
    const facts = await detect('absent');
    expect(facts).toMatchObject({ installed: false, edition: null, teamviewerId: null, managed: null });
    expect(teamviewerProblems(facts).map((p) => p.code)).toEqual(['TEAMVIEWER_MISSING']);
  });

  it('keeps installed from the uninstall entry when the TeamViewer key is access-denied, with a warning', async () => {
    const facts = await detect('registry-denied');
    expect(facts).toMatchObject({ installed: true, edition: 'host', teamviewerId: null, serviceRunning: true, managed: null });
    expect(facts.warnings).toEqual(['HKLM\\SOFTWARE\\TeamViewer cannot be read (access denied)']);
    expect(teamviewerProblems(facts).map((p) => p.code)).toEqual(['TEAMVIEWER_UNREADABLE']);
  });

  it('warns when the registry points at a folder without TeamViewer.exe (files removed by hand)', async () => {
    opened = await openCase('windows', 'host-managed', { copy: true });
    await rm(path.join(opened.root, 'C/Program Files/TeamViewer/TeamViewer.exe'));
    const facts = await detectTeamViewer(opened.ctx);
    // The uninstall entry still claims TeamViewer Host, so it counts as installed, with a warning.
    expect(facts.installed).toBe(true);
    expect(facts.warnings).toEqual(['C:\\Program Files\\TeamViewer does not hold TeamViewer.exe']);
  });
});
