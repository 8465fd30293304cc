import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TeamViewerFactsSchema } from '../../src/protocol/model.js';
import { detectTeamViewer, teamviewerProblems } from '../../src/teamviewer/index.js';
import { DETECTED_AT, openCase, type OpenedCase } from './fixture.js';

let opened: OpenedCase | undefined;
afterEach(async () => {
  await opened?.cleanup();
  opened = undefined;
});

async function detect(name: string, opts: { copy?: boolean } = {}, change?: (c: OpenedCase) => Promise<void>) {
  opened = await openCase('linux', name, opts);
  if (change) await change(opened);
  const facts = await detectTeamViewer(opened.ctx);
  expect(TeamViewerFactsSchema.safeParse(facts).success).toBe(true);
  return facts;
}

describe('Linux TeamViewer detection', () => {
  it('reads a running TeamViewer Host: package, version, ID from global.conf, daemon active', async () => {
    const facts = await detect('host-running');
    expect(facts).toMatchObject({
      installed: true, edition: 'host', version: '15.48.4', teamviewerId: '1234567890', serviceRunning: true,
      managed: null, installPath: '/opt/teamviewer', warnings: [], detectedAt: DETECTED_AT,
    });
    expect(facts.sources).toEqual(expect.arrayContaining(['global.conf (/opt/teamviewer/config/global.conf)', 'teamviewer info', 'dpkg', 'systemctl is-active teamviewerd']));
    expect(teamviewerProblems(facts)).toEqual([]);
  });

  it('reads an RPM full client with the older /etc/teamviewer/global.conf and a stopped daemon', async () => {
    const facts = await detect('full-rpm-stopped');
    expect(facts).toMatchObject({ installed: true, edition: 'full', version: '15.27.3', teamviewerId: '987654321', serviceRunning: false, managed: null });
    expect(facts.sources).toContain('rpm');
    expect(teamviewerProblems(facts).map((p) => p.code)).toEqual(['TEAMVIEWER_NOT_RUNNING']);
  });

  it('says not installed when nothing of TeamViewer is there', async () => {
    const facts = await detect('absent');
    expect(facts).toMatchObject({ installed: false, edition: null, version: null, teamviewerId: null, serviceRunning: null, warnings: [] });
    expect(teamviewerProblems(facts).map((p) => p.code)).toEqual(['TEAMVIEWER_MISSING']);
  });

  it('keeps installed and warns when `teamviewer info` cannot read the config (permission denied, empty ID)', async () => {
    const facts = await detect('unreadable');
    expect(facts).toMatchObject({ installed: true, edition: 'full', version: '15.48.4', teamviewerId: null, serviceRunning: true });
    expect(facts.warnings.join(' ')).toMatch(/permission denied/i);
    expect(teamviewerProblems(facts).map((p) => p.code)).toEqual(['TEAMVIEWER_UNREADABLE']);
  });

  it('warns about a global.conf it may not read (chmod 000; skipped as root, which reads anyway)', async (t) => {
    if (process.getuid?.() === 0) t.skip();
    const facts = await detect('host-running', { copy: true }, (c) => chmod(path.join(c.root, 'opt/teamviewer/config/global.conf'), 0o000));
    expect(facts.installed).toBe(true);
    expect(facts.warnings.join(' ')).toMatch(/global\.conf cannot be read \(permission denied\)/);
    // The ID still comes from `teamviewer info`, which the stand-in answers.
    expect(facts.teamviewerId).toBe('1234567890');
  });

  it('warns about a global.conf that cannot be read even as root (a folder in its place)', async () => {
    const conf = 'opt/teamviewer/config/global.conf';
    const facts = await detect('host-running', { copy: true }, async (c) => {
      await rm(path.join(c.root, conf));
      await mkdir(path.join(c.root, conf));
    });
    expect(facts).toMatchObject({ installed: true, edition: 'host', teamviewerId: '1234567890' });
    expect(facts.warnings).toEqual(['/opt/teamviewer/config/global.conf cannot be read (EISDIR)']);
  });

  it('reports a corrupt global.conf as a warning, never a crash, and still says installed', async () => {
    const facts = await detect('corrupt-config');
    expect(facts).toMatchObject({ installed: true, edition: 'host', teamviewerId: null });
    expect(facts.warnings).toEqual(['/opt/teamviewer/config/global.conf is corrupt (no readable entries)']);
  });

  it('falls back to the PID file when there is no systemd, and sees the daemon stop', async () => {
    let facts = await detect('no-systemd', { copy: true });
    expect(facts).toMatchObject({ installed: true, teamviewerId: '555444333', serviceRunning: true });
    expect(facts.sources).toContain('/run/teamviewerd.pid');
    await rm(path.join(opened!.root, 'proc/4242'), { recursive: true });
    facts = await detectTeamViewer(opened!.ctx);
    expect(facts.serviceRunning).toBe(false);
  });

  it('prefers the ID in global.conf over `teamviewer info`', async () => {
    const facts = await detect('host-running', { copy: true }, (c) => writeFile(path.join(c.root, 'opt/teamviewer/config/global.conf'), '[int32] ClientID = 42\n'));
    expect(facts.teamviewerId).toBe('42');
  });
});
