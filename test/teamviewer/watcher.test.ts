import { mkdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import winston from 'winston';
import { silentLogger } from '../../src/log.js';
import type { TeamViewerFacts } from '../../src/protocol/model.js';
import { createTeamViewerWatcher } from '../../src/teamviewer/index.js';
import { openCase, writeStandIn, type FixtureOs, type OpenedCase } from './fixture.js';

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

// Every stand-in appends its name to calls.log before answering, so a test counts the child processes run.
async function openCounted(os: FixtureOs, name: string, commands: string[]) {
  const c = await openCase(os, name, { copy: true });
  const log = path.join(c.dir, 'calls.log');
  for (const command of commands) {
    await rename(path.join(c.bin, command), path.join(c.bin, `${command}.real`));
    await writeStandIn(c.bin, command, `#!/bin/sh\necho ${command} >> '${log}'\nexec '${path.join(c.bin, `${command}.real`)}' "$@"\n`);
  }
  const calls = async (command: string) => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((l) => l === command).length;
  // Replaces what a counted stand-in answers; it is still counted.
  const answer = (command: string, script: string) => writeStandIn(c.bin, `${command}.real`, script);
  return { c, calls, answer };
}

const LINUX_COMMANDS = ['teamviewer', 'dpkg', 'rpm', 'systemctl'];

/** A real winston logger whose lines stay in memory, to see what the timer did. */
function memoryLogger() {
  const lines: string[] = [];
  const stream = new Writable({ objectMode: true, write(info: { message: string }, _enc, done) { lines.push(info.message); done(); } });
  return { lines, logger: winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream })] }) };
}

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('TeamViewer watcher: no child processes while nothing changed', () => {
  it('on its timer: one full detection, then only probes; a new ClientID is detected on the next interval', async () => {
    const { c, calls } = await openCounted('linux', 'host-pidfile', LINUX_COMMANDS);
    opened = c;
    const { lines, logger } = memoryLogger();
    const watcher = createTeamViewerWatcher({ ...c.ctx, now: () => 1_000, intervalMs: 20, logger });
    stop = () => watcher.stop();
    expect(await watcher.refresh()).toMatchObject({ installed: true, edition: 'host', teamviewerId: '1234567890', serviceRunning: true });
    // teamviewer info, dpkg -s x2, systemctl is-active: the four child processes of one detection.
    expect(await calls('teamviewer')).toBe(1);
    expect((await Promise.all(LINUX_COMMANDS.map(calls))).reduce((a, b) => a + b)).toBe(4);
    watcher.start();
    const skipped = () => lines.filter((l) => /detection skipped/.test(l)).length;
    await until('ten skipped intervals', () => skipped() >= 10);
    expect(await calls('teamviewer')).toBe(1);
    expect((await Promise.all(LINUX_COMMANDS.map(calls))).reduce((a, b) => a + b)).toBe(4);

    const change = nextChange(watcher, 10_000);
    // Replaced in one step (rename): written in place, the 20 ms probe could see the
    // truncation and the write as two changes (one detection more: a flake seen once in a full run).
    const conf = path.join(c.root, 'opt/teamviewer/config/global.conf');
    await writeFile(`${conf}.new`, '[int32] ClientID = 42\n');
    await rename(`${conf}.new`, conf);
    const { facts, previous } = await change;
    expect(previous?.teamviewerId).toBe('1234567890');
    expect(facts.teamviewerId).toBe('42');
    expect(await calls('teamviewer')).toBe(2);
    // Back to probing only.
    const before = skipped();
    await until('ten more skipped intervals', () => skipped() >= before + 10);
    expect(await calls('teamviewer')).toBe(2);
  });

  it('detects again when the PID file, the package database or the daemon binary changes, and only then', async () => {
    const { c, calls, answer } = await openCounted('linux', 'host-pidfile', LINUX_COMMANDS);
    opened = c;
    const watcher = createTeamViewerWatcher({ ...c.ctx, intervalMs: 60_000, logger: silentLogger() });
    await watcher.refresh();
    const heard: TeamViewerFacts[] = [];
    watcher.onChange((facts) => heard.push(facts));
    for (let i = 0; i < 5; i++) expect(await watcher.check()).toBe('skipped');
    expect(await calls('teamviewer')).toBe(1);

    // Rewritten with the same content (TeamViewer saving its settings): what detection reads did not change.
    const conf = path.join(c.root, 'opt/teamviewer/config/global.conf');
    await writeFile(conf, await readFile(conf));
    await utimes(conf, new Date(), new Date(Date.now() + 5_000));
    expect(await watcher.check()).toBe('skipped');

    // The daemon restarted: a new PID.
    await writeFile(path.join(c.root, 'run/teamviewerd.pid'), '5555\n');
    await mkdir(path.join(c.root, 'proc/5555'));
    await writeFile(path.join(c.root, 'proc/5555/comm'), 'teamviewerd\n');
    await rm(path.join(c.root, 'proc/4321'), { recursive: true });
    expect(await watcher.check()).toBe('detected');
    expect(await watcher.check()).toBe('skipped');
    expect(await calls('teamviewer')).toBe(2);
    expect(heard).toHaveLength(0);

    // The Host was replaced by the full client: dpkg rewrote its status file.
    const status = path.join(c.root, 'var/lib/dpkg/status');
    await writeFile(`${status}-new`, 'Package: teamviewer\nStatus: install ok installed\nVersion: 15.60.3\n\n');
    await rename(`${status}-new`, status);
    await answer('dpkg', '#!/bin/sh\ncase "$*" in\n  "-s -- teamviewer") printf "Package: teamviewer\\nStatus: install ok installed\\nVersion: 15.60.3\\n" ;;\n  *) exit 1 ;;\nesac\n');
    expect(await watcher.check()).toBe('detected');
    expect(heard.map((f) => f.edition)).toEqual(['full']);
    expect(await watcher.check()).toBe('skipped');

    // Uninstalled: the daemon binary is gone (and with it the PID file).
    await rm(path.join(c.root, 'opt/teamviewer'), { recursive: true });
    await rm(path.join(c.root, 'run/teamviewerd.pid'));
    await answer('teamviewer', '#!/bin/sh\nexit 127\n');
    await answer('dpkg', '#!/bin/sh\nexit 1\n');
    await answer('systemctl', '#!/bin/sh\necho inactive\nexit 3\n');
    expect(await watcher.check()).toBe('detected');
    expect(heard.at(-1)?.installed).toBe(false);
    // Not installed is something the probe vouches for, too.
    expect(await watcher.check()).toBe('skipped');
  });

  it('detects fully every interval while the daemon is installed but not provably running', async () => {
    const { c, calls, answer } = await openCounted('linux', 'host-pidfile', LINUX_COMMANDS);
    opened = c;
    const watcher = createTeamViewerWatcher({ ...c.ctx, intervalMs: 60_000, logger: silentLogger() });
    await watcher.refresh();
    const change = nextChange(watcher, 10_000);
    await rm(path.join(c.root, 'run/teamviewerd.pid'));
    await answer('systemctl', '#!/bin/sh\necho inactive\nexit 3\n');
    expect(await watcher.check()).toBe('detected');
    expect((await change).facts.serviceRunning).toBe(false);
    // No PID file: only systemctl can tell, so every interval asks it.
    expect(await watcher.check()).toBe('detected');
    expect(await watcher.check()).toBe('detected');
    expect(await calls('systemctl')).toBe(4);
    // A PID file naming a process that is not teamviewerd (a reused PID) is no proof either.
    await writeFile(path.join(c.root, 'run/teamviewerd.pid'), '4321\n');
    await writeFile(path.join(c.root, 'proc/4321/comm'), 'bash\n');
    expect(await watcher.check()).toBe('detected');
  });

  it('forces a full detection after the safety bound, and refresh() is always a full one', async () => {
    const { c, calls } = await openCounted('linux', 'host-pidfile', LINUX_COMMANDS);
    opened = c;
    let clock = 10_000;
    const watcher = createTeamViewerWatcher({ ...c.ctx, now: () => clock, intervalMs: 60_000, fullDetectionMaxAgeMs: 1_000, logger: silentLogger() });
    await watcher.refresh();
    clock += 999;
    expect(await watcher.check()).toBe('skipped');
    clock += 1;
    expect(await watcher.check()).toBe('detected');
    expect(watcher.current()?.detectedAt).toBe(11_000);
    expect(await watcher.check()).toBe('skipped');
    expect(await calls('teamviewer')).toBe(2);
    await watcher.refresh();
    await watcher.refresh();
    expect(await calls('teamviewer')).toBe(4);
  });

  it('macOS: probes without launchctl while no TeamViewer bundle is there; with one it always detects', async () => {
    const absent = await openCounted('macos', 'absent', ['launchctl', 'plutil']);
    opened = absent.c;
    const watcher = createTeamViewerWatcher({ ...absent.c.ctx, intervalMs: 60_000, logger: silentLogger() });
    await watcher.refresh();
    const firstDetection = await absent.calls('launchctl');
    expect(firstDetection).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) expect(await watcher.check()).toBe('skipped');
    expect(await absent.calls('launchctl')).toBe(firstDetection);
    await absent.c.cleanup();

    opened = await openCase('macos', 'full-managed');
    const installed = createTeamViewerWatcher({ ...opened.ctx, intervalMs: 60_000, logger: silentLogger() });
    await installed.refresh();
    expect(await installed.check()).toBe('detected');
  });

  it('Windows: the registry needs reg.exe, so every interval detects', async () => {
    opened = await openCase('windows', 'host-managed');
    const watcher = createTeamViewerWatcher({ ...opened.ctx, intervalMs: 60_000, logger: silentLogger() });
    await watcher.refresh();
    expect(await watcher.check()).toBe('detected');
  });
});
