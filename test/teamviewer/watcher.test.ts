import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import type { TeamViewerFacts } from '../../src/protocol/model.js';
import { createTeamViewerWatcher } from '../../src/teamviewer/index.js';
import { openCase, writeStandIn, type OpenedCase } from './fixture.js';

let opened: OpenedCase | undefined;
let stop: (() => void) | undefined;
afterEach(async () => {
  stop?.();
  await opened?.cleanup();
  opened = undefined;
});

// TeamViewer is uninstalled: its files go, the package manager forgets it, the CLI disappears.
async function uninstall(c: OpenedCase): Promise<void> {
  await rm(path.join(c.root, 'opt/teamviewer'), { recursive: true });
  await writeStandIn(c.bin, 'dpkg', '#!/bin/sh\necho "dpkg-query: package is not installed" >&2\nexit 1\n');
  await writeStandIn(c.bin, 'teamviewer', '#!/bin/sh\nexit 127\n');
  await writeStandIn(c.bin, 'systemctl', '#!/bin/sh\necho inactive\nexit 3\n');
}

function nextChange(watcher: ReturnType<typeof createTeamViewerWatcher>, timeoutMs: number) {
  return new Promise<{ facts: TeamViewerFacts; previous: TeamViewerFacts | null }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no change within ${timeoutMs} ms`)), timeoutMs);
    watcher.onChange((facts, previous) => {
      clearTimeout(timer);
      resolve({ facts, previous });
    });
  });
}

describe('TeamViewer watcher', () => {
  it('notices on its own timer that TeamViewer was removed, without a restart', async () => {
    opened = await openCase('linux', 'host-running', { copy: true });
    let t = 0;
    const watcher = createTeamViewerWatcher({ ...opened.ctx, now: () => ++t, intervalMs: 50, logger: silentLogger() });
    stop = () => watcher.stop();
    expect((await watcher.refresh()).installed).toBe(true);
    watcher.start();
    const change = nextChange(watcher, 10_000);
    await uninstall(opened);
    const { facts, previous } = await change;
    expect(previous?.installed).toBe(true);
    expect(facts.installed).toBe(false);
    expect(watcher.current()?.installed).toBe(false);
  });

  it('stays quiet when only detectedAt moves, and speaks when the daemon stops', async () => {
    opened = await openCase('linux', 'host-running', { copy: true });
    let t = 0;
    const watcher = createTeamViewerWatcher({ ...opened.ctx, now: () => ++t, intervalMs: 60_000, logger: silentLogger() });
    const heard: TeamViewerFacts[] = [];
    await watcher.refresh();
    watcher.onChange((facts) => heard.push(facts));
    const again = await watcher.refresh();
    expect(again.detectedAt).toBe(2);
    expect(heard).toHaveLength(0);
    await writeStandIn(opened.bin, 'systemctl', '#!/bin/sh\necho inactive\nexit 3\n');
    await watcher.refresh();
    expect(heard.map((f) => f.serviceRunning)).toEqual([false]);
  });

  it('shares one detection between overlapping refreshes', async () => {
    opened = await openCase('linux', 'host-running');
    let detections = 0;
    const watcher = createTeamViewerWatcher({ ...opened.ctx, now: () => ++detections, intervalMs: 60_000, logger: silentLogger() });
    const [a, b] = await Promise.all([watcher.refresh(), watcher.refresh()]);
    expect(a).toBe(b);
    expect(detections).toBe(1);
  });
});
