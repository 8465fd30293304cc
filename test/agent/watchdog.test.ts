import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createWatchdog, WATCHDOG_EXIT_CODE, WATCHDOG_FILE, watchdogFileSchema } from '../../src/agent/watchdog.js';
import { fixedClock } from '../../src/system/clock.js';

const MB = 1024 * 1024;
const tempDir = () => mkdtempSync(path.join(tmpdir(), 'rmagent-watchdog-'));
const readHistory = (dir: string) => watchdogFileSchema().parse(JSON.parse(readFileSync(path.join(dir, WATCHDOG_FILE), 'utf8'))).restarts;
const waitFor = async (cond: () => boolean, ms = 2_000) => {
  for (const end = Date.now() + ms; Date.now() < end && !cond(); ) await new Promise((r) => setTimeout(r, 10));
};

describe('createWatchdog', () => {
  it('records a restart on disk (0600) before telling the daemon, and only once', async () => {
    const dir = tempDir();
    const clock = fixedClock(1_000_000);
    let rss = 10 * MB;
    const calls: string[] = [];
    const dog = createWatchdog({ stateDir: dir, budget: { maxRssBytes: 100 * MB, maxCpuPercent: 100, windowMs: 60_000 }, clock, intervalMs: 5, sample: () => ({ rssBytes: rss, cpuMicros: 0 }), onExceeded: (reason) => calls.push(reason) });
    await dog.start();
    expect(dog.startDelayMs()).toBe(0);
    rss = 150 * MB;
    await waitFor(() => calls.length > 0);
    await new Promise((r) => setTimeout(r, 50));
    dog.stop();
    expect(calls).toHaveLength(1);
    expect(calls[0]).toContain('150 MB');
    expect(readHistory(dir)).toEqual([{ at: 1_000_000, kind: 'memory', reason: calls[0] }]);
    expect(statSync(path.join(dir, WATCHDOG_FILE)).mode & 0o777).toBe(0o600);
  });

  it('shows WATCHDOG_RESTARTS and backs off after repeated restarts, and forgets them after a healthy hour', async () => {
    const dir = tempDir();
    const at = [1_000_000, 1_060_000, 1_120_000];
    writeFileSync(path.join(dir, WATCHDOG_FILE), JSON.stringify({ restarts: at.map((t) => ({ at: t, kind: 'cpu', reason: 'CPU 99%' })) }));
    const clock = fixedClock(1_180_000);
    const opts = { stateDir: dir, budget: { maxRssBytes: 1e12, maxCpuPercent: 1e6, windowMs: 60_000 }, clock, intervalMs: 1_000, restart: { baseMs: 1_000, maxMs: 8_000, windowMs: 3_600_000 }, onExceeded: () => undefined };
    const dog = createWatchdog(opts);
    await dog.start();
    dog.stop();
    expect(dog.startDelayMs()).toBe(2_000);
    expect(dog.problems()).toMatchObject([{ code: 'WATCHDOG_RESTARTS' }]);
    expect(dog.problems()[0]!.message).toContain('3 restarts');
    clock.advance(3_600_000);
    expect(dog.problems()).toEqual([]);
    const later = createWatchdog(opts);
    await later.start();
    later.stop();
    expect(later.startDelayMs()).toBe(0);
  });

  it('treats a corrupt watchdog.json as no history and says so', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, WATCHDOG_FILE), '{"restarts": [{"at": "__proto__"}');
    const warnings: string[] = [];
    const dog = createWatchdog({ stateDir: dir, budget: { maxRssBytes: 1e12, maxCpuPercent: 1e6, windowMs: 1_000 }, clock: fixedClock(5), intervalMs: 1_000, onExceeded: () => undefined, onWarning: (m) => warnings.push(m) });
    await dog.start();
    dog.stop();
    expect(dog.startDelayMs()).toBe(0);
    expect(dog.problems()).toEqual([]);
    expect(warnings.join()).toContain('ignored');
  });
});

// A real process: the built watchdog, a memory budget, and memory allocated until it trips.
const built = path.resolve('build/src/agent/watchdog.js');
const childScript = (dir: string) => `
import { createWatchdog, WATCHDOG_EXIT_CODE } from ${JSON.stringify(pathToFileURL(built).href)};
const dog = createWatchdog({
  stateDir: ${JSON.stringify(dir)}, clock: { now: () => Date.now() }, intervalMs: 20,
  budget: { maxRssBytes: process.memoryUsage().rss + 120 * 1024 * 1024, maxCpuPercent: 1000, windowMs: 60000 },
  restart: { baseMs: 200, maxMs: 800, windowMs: 600000 },
  onExceeded: (reason) => { console.log(JSON.stringify({ event: 'exceeded', reason })); process.exit(WATCHDOG_EXIT_CODE); },
});
await dog.start();
console.log(JSON.stringify({ event: 'started', startDelayMs: dog.startDelayMs(), problems: dog.problems().map((p) => p.code) }));
await new Promise((r) => setTimeout(r, dog.startDelayMs()));
const hog = [];
for (let i = 0; i < 100; i++) { hog.push(Buffer.alloc(8 * 1024 * 1024, i)); await new Promise((r) => setTimeout(r, 15)); }
console.log(JSON.stringify({ event: 'survived' }));
process.exit(1);
`;

function runChild(script: string): Promise<{ code: number | null; lines: Record<string, unknown>[]; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [script], { timeout: 30_000 }, (err, stdout) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, lines: stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>), ms: Date.now() - started });
    });
  });
}

describe('watchdog in a real process', () => {
  it('exits with the agreed code when memory runs over; history grows and the start delay backs off', async () => {
    expect(existsSync(built), 'run `npm run build` first').toBe(true);
    expect(statSync(built).mtimeMs, 'build/ is older than src/agent/watchdog.ts: run `npm run build`').toBeGreaterThanOrEqual(statSync('src/agent/watchdog.ts').mtimeMs);
    const dir = tempDir();
    const script = path.join(dir, 'hog.mjs');
    writeFileSync(script, childScript(dir));
    const runs = [];
    for (let i = 0; i < 4; i++) runs.push(await runChild(script));
    for (const run of runs) {
      expect(run.code).toBe(WATCHDOG_EXIT_CODE);
      expect(run.lines.at(-1)).toMatchObject({ event: 'exceeded' });
      expect(String(run.lines.at(-1)!.reason)).toMatch(/memory \d+ MB is above the budget/);
    }
    expect(runs.map((r) => r.lines[0]!.startDelayMs)).toEqual([0, 0, 200, 400]);
    expect(runs.map((r) => r.lines[0]!.problems)).toEqual([[], [], ['WATCHDOG_RESTARTS'], ['WATCHDOG_RESTARTS']]);
    expect(readHistory(dir)).toHaveLength(4);
  });
});
