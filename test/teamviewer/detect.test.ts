import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TeamViewerFactsSchema } from '../../src/protocol/model.js';
import { detectTeamViewer, type TeamViewerPlatform } from '../../src/teamviewer/index.js';
import { FIXTURES, openCase, type FixtureOs } from './fixture.js';

const OSES: FixtureOs[] = ['linux', 'windows', 'macos'];
const PLATFORMS: TeamViewerPlatform[] = ['linux', 'win32', 'darwin'];

describe('detectTeamViewer', () => {
  it('answers with valid facts for every fixture read as every OS layout, and never throws', async () => {
    let checked = 0;
    for (const os of OSES) {
      for (const name of await readdir(path.join(FIXTURES, os))) {
        const opened = await openCase(os, name);
        try {
          for (const platform of PLATFORMS) {
            const facts = await detectTeamViewer({ ...opened.ctx, platform });
            expect(TeamViewerFactsSchema.safeParse(facts).success, `${os}/${name} as ${platform}`).toBe(true);
            // Only the matching layout can find TeamViewer; the others must not invent an install.
            if (PLATFORMS[OSES.indexOf(os)] !== platform) expect(facts.installed, `${os}/${name} as ${platform}`).toBe(false);
            checked++;
          }
        } finally {
          await opened.cleanup();
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(45);
  });
});
