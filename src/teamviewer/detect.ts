// Chooses the OS strategy. Detection never throws: whatever cannot be read becomes a warning in the facts.
import type { TeamViewerFacts } from '../protocol/model.js';
import type { TeamViewerContext } from './context.js';
import { detectLinux } from './linux.js';
import { detectMac } from './macos.js';
import { detectWindows } from './windows.js';

export async function detectTeamViewer(ctx: TeamViewerContext): Promise<TeamViewerFacts> {
  const strategy = ctx.platform === 'win32' ? detectWindows : ctx.platform === 'darwin' ? detectMac : detectLinux;
  try {
    return await strategy(ctx);
  } catch (err) {
    return {
      installed: false, edition: null, version: null, teamviewerId: null, serviceRunning: null, managed: null,
      managementId: null, owner: null, installPath: null, sources: [],
      warnings: [`TeamViewer detection failed: ${(err as Error).message}`.slice(0, 512)],
      detectedAt: ctx.now(),
    };
  }
}
