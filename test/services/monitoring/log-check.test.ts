// Log checks against what a local user or a careless policy can point them at (issue 15): a catastrophic pattern
// with a line any user writes, a FIFO, a link, a missing or unreadable file, a pattern RE2 refuses or one too slow
// for the budget. Each is a visible problem or a normal alert, never a hang.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { appendFile, chmod, chown, lchown, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { createLogWatch } from '../../../src/services/monitoring/log-watch.js';
import { createSysinfo } from '../../../src/system/sysinfo.js';
import { readLogChunk } from '../../../src/system/log-file.js';
import { onCleanup, setup, sleep, tempDir, waitFor } from './harness.js';

const run = promisify(execFile);

/** Largest gap between event-loop turns while `work` runs (a frozen loop shows up here). */
async function loopStall<T>(work: () => Promise<T>): Promise<{ value: T; worstMs: number }> {
  let worst = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 5);
  try {
    return { value: await work(), worstMs: worst };
  } finally {
    clearInterval(timer);
  }
}

describe('log check under attack', () => {
  it('a catastrophic pattern and a line any user writes: matched in linear time, the event loop keeps turning', async () => {
    const h = await setup();
    const log = path.join(h.dir, 'user-writable.log');
    await writeFile(log, '');
    await h.apply({ checks: [{ type: 'log', id: 'evil', path: log, pattern: '^(a+)+$', intervalSec: 1 }] });
    await sleep(300);
    const { worstMs } = await loopStall(async () => {
      // A backtracking engine takes ~2^26 steps on the first line (about 10 s here; each more "a" doubles it); the second matches.
      await appendFile(log, `${'a'.repeat(26)}!\naaaa\n`);
      return waitFor('the alert for the matching line', () => h.raised('monitoring/evil')[0], 5_000);
    });
    expect(h.raised('monitoring/evil')[0]!.data).toMatchObject({ value: 1 });
    expect(worstMs).toBeLessThan(250);
    expect(h.service.problems()).toEqual([]);
  });

  it('a FIFO is "cannot check" at once, blocks no thread, and status shows it', async () => {
    const h = await setup();
    const fifo = path.join(h.dir, 'app.log');
    await run('mkfifo', [fifo]);
    // Should a read ever block in open(), a writer end releases it (keeps a failing run from hanging the suite).
    onCleanup(async () => {
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // no reader waiting
      }
    });
    const other = path.join(h.dir, 'other.log');
    await writeFile(other, '');
    await h.apply({
      checks: [
        { type: 'log', id: 'fifo', path: fifo, pattern: 'ERROR', intervalSec: 1 },
        { type: 'log', id: 'other', path: other, pattern: 'ERROR', intervalSec: 1 },
      ],
    });
    const problems = await waitFor('the problem', () => h.service.problems().length && h.service.problems());
    expect(problems).toEqual([{ code: 'CHECK_SOURCE_UNAVAILABLE', message: expect.stringContaining(`check fifo: ${fifo} is a FIFO, not a regular file`), fix: expect.any(String) }]);
    // Ticks later (each would have blocked one more libuv thread), file operations still run: the other check works.
    await sleep(4_500);
    await appendFile(other, 'ERROR x\n');
    await waitFor('the other log check to raise', () => h.raised('monitoring/other')[0], 4_000);
    const started = performance.now();
    await readFile(other);
    expect(performance.now() - started).toBeLessThan(500);
    expect(h.raised('monitoring/fifo')).toEqual([]);
  });

  it('a missing file, a symbolic link and a pattern RE2 refuses are "cannot check", each with its reason', async () => {
    const h = await setup();
    const secret = path.join(h.dir, 'secret');
    await writeFile(secret, 'password=hunter2\n');
    await symlink(secret, path.join(h.dir, 'link.log'));
    await writeFile(path.join(h.dir, 'ok.log'), '');
    await h.apply({
      checks: [
        { type: 'log', id: 'missing', path: path.join(h.dir, 'none.log'), pattern: 'x', intervalSec: 1 },
        { type: 'log', id: 'link', path: path.join(h.dir, 'link.log'), pattern: 'password', intervalSec: 1 },
        // Valid JavaScript, refused by RE2 (\u escapes), and a program over the size cap.
        { type: 'log', id: 'syntax', path: path.join(h.dir, 'ok.log'), pattern: '\\u0041', intervalSec: 1 },
        { type: 'log', id: 'huge', path: path.join(h.dir, 'ok.log'), pattern: '(?:a?){500}a{500}', intervalSec: 1 },
      ],
    });
    const problems = await waitFor('four problems', () => h.service.problems().length === 4 && h.service.problems());
    const byCheck = Object.fromEntries(problems.map((p) => [/check (\w+):/.exec(p.message)![1], p]));
    expect(byCheck.missing).toMatchObject({ code: 'CHECK_SOURCE_MISSING', message: expect.stringContaining('none.log does not exist') });
    expect(byCheck.link).toMatchObject({ code: 'CHECK_SOURCE_UNAVAILABLE', message: expect.stringContaining('is a symbolic link') });
    expect(byCheck.syntax).toMatchObject({ code: 'CHECK_PATTERN_REFUSED', message: expect.stringContaining('invalid escape sequence') });
    expect(byCheck.huge).toMatchObject({ code: 'CHECK_PATTERN_REFUSED', message: expect.stringContaining('instructions, more than 500') });
    expect(h.raised()).toEqual([]);
    // Fixed on disk: the problem goes away without a new policy, and the new log is read from its first line.
    await writeFile(path.join(h.dir, 'none.log'), 'x marks the first line\n');
    await waitFor('the missing file problem to go', () => !h.service.problems().some((p) => p.code === 'CHECK_SOURCE_MISSING'));
    expect((await waitFor('the alert for its first line', () => h.raised('monitoring/missing')[0])).data.message).toContain('x marks the first line');
  });

  it('matching that runs out of its time budget skips the rest of the read and says so', async () => {
    // Budget 2 ms instead of 2 s: the same path, quicker to reach. 250 random a/b lines of 4 kB cost ~10 ms in all
    // with re2js 2.10 on Node 24 here (~0.04 ms each; a 20 ms budget was never reached, and the test waited in vain).
    const h = await setup({ pacing: { budgetMs: 2, sliceMs: 0.5, now: () => performance.now(), pause: () => new Promise((r) => setImmediate(r)) } });
    const log = path.join(h.dir, 'flood.log');
    await writeFile(log, '');
    await h.apply({ checks: [{ type: 'log', id: 'slow', path: log, pattern: '(?:a?){150}a{150}$', intervalSec: 1 }] });
    await sleep(300);
    let seed = 7;
    const letter = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 1 ? 'a' : 'b');
    await appendFile(log, Array.from({ length: 250 }, () => `${Array.from({ length: 4000 }, letter).join('')}b\n`).join(''));
    const problems = await waitFor('the time-out problem', () => h.service.problems().length && h.service.problems());
    expect(problems[0]).toMatchObject({ code: 'CHECK_TIMED_OUT', message: expect.stringMatching(/ran out of its time budget: \d+ of 250 new lines were skipped/) });
    // Nothing is read twice: the next read starts after the flood.
    await appendFile(log, `${'a'.repeat(300)}\n`);
    await waitFor('the alert for the new line', () => h.raised('monitoring/slow')[0]);
    await waitFor('the time-out problem to go', () => h.service.problems().length === 0);
  });

  it('stores the new offset before matching: a line that stopped the agent while matching is not read again', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, '');
    const pacing = { budgetMs: 1000, sliceMs: 10, now: () => performance.now(), pause: () => new Promise<void>((r) => setImmediate(r)) };
    const watch = createLogWatch(dir, createSysinfo(), pacing);
    expect(await watch.newMatches('c', log, /x/)).toMatchObject({ matches: 0, lines: 0 });
    await appendFile(log, 'poison line\n');
    const crashing = { test: () => { throw new Error('the agent died while matching'); } };
    await expect(watch.newMatches('c', log, crashing)).rejects.toThrow('died');
    // The next agent (a fresh watch on the same state folder) starts after the poison line.
    const next = createLogWatch(dir, createSysinfo(), pacing);
    await appendFile(log, 'ERROR after\n');
    expect(await next.newMatches('c', log, /poison|ERROR/)).toMatchObject({ matches: 1, lastMatch: 'ERROR after', lines: 1 });
  });

  it.runIf(process.platform === 'linux' && process.getuid?.() === 0)('a log the agent account may not read is "cannot check" (agent run as nobody)', async () => {
    const dir = await tempDir();
    await chmod(dir, 0o755);
    const log = path.join(dir, 'root-only.log');
    await writeFile(log, 'x\n', { mode: 0o600 });
    const state = path.join(dir, 'state');
    await run('install', ['-d', '-o', 'nobody', '-m', '0700', state]);
    const service = path.resolve('build/src/services/monitoring/service.js');
    const script = `
      const { createMonitoringService } = await import(${JSON.stringify(service)});
      const { createCommandRunner } = await import(${JSON.stringify(path.resolve('build/src/system/exec.js'))});
      const { silentLogger } = await import(${JSON.stringify(path.resolve('build/src/log.js'))});
      const { MonitoringPolicySchema } = await import(${JSON.stringify(path.resolve('build/src/protocol/policies/monitoring.js'))});
      const s = createMonitoringService({ report: async () => {}, stateDir: ${JSON.stringify(state)}, logger: silentLogger(), runner: createCommandRunner(), clock: { now: () => Date.now() } });
      const settings = { checks: [{ type: 'log', id: 'denied', path: ${JSON.stringify(log)}, pattern: 'x', intervalSec: 1 }] };
      await s.apply({ id: 'p', name: 'p', service: 'monitoring', version: 1, settings }, MonitoringPolicySchema.parse(settings));
      await new Promise((r) => setTimeout(r, 500));
      console.log(JSON.stringify(s.problems()));
      await s.stop();`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, timeout: 20_000 });
    expect(JSON.parse(stdout)).toEqual([{ code: 'CHECK_ACCESS_DENIED', message: expect.stringContaining(`check denied: the agent may not read ${log}`), fix: expect.any(String) }]);
  });
  it('a check naming the agent\'s own state folder (directly or through a link) is refused: the device key never becomes alert text', async () => {
    const h = await setup();
    const agentState = path.join(h.dir, 'agent-state');
    await mkdir(agentState);
    await writeFile(path.join(agentState, 'device.key'), '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIsecret\n');
    // A trusted link (root's, in a folder nobody else writes) still leads into the state folder: refused by where it leads.
    await symlink(agentState, path.join(h.dir, 'innocent'));
    await h.apply({
      checks: [
        { type: 'log', id: 'key', path: path.join(agentState, 'device.key'), pattern: 'PRIVATE|secret', intervalSec: 1 },
        { type: 'log', id: 'via', path: path.join(h.dir, 'innocent', 'device.key'), pattern: 'PRIVATE|secret', intervalSec: 1 },
      ],
    });
    const problems = await waitFor('two problems', () => h.service.problems().length === 2 && h.service.problems());
    for (const p of problems) expect(p).toMatchObject({ code: 'CHECK_SOURCE_UNAVAILABLE', message: expect.stringContaining("is in the agent's own state folder") });
    // A later line would have raised an alert carrying the key's text.
    await appendFile(path.join(agentState, 'device.key'), 'secret line\n');
    await sleep(2_500);
    expect(h.raised()).toEqual([]);
    expect(JSON.stringify(h.reports)).not.toContain('secret');
  });

  it.runIf(process.platform === 'linux' && process.getuid?.() === 0)('a folder link a local user owns is not followed: the root agent does not read a root-only file of the same name', async () => {
    const h = await setup();
    await chmod(h.dir, 0o755);
    const rootOnly = path.join(h.dir, 'root-only');
    await mkdir(rootOnly, { mode: 0o700 });
    await writeFile(path.join(rootOnly, 'app.log'), '');
    // The policy names /…/home/logs/app.log; the user who owns home/ makes "logs" a link to the root-only folder.
    const home = path.join(h.dir, 'home');
    await mkdir(home, { mode: 0o755 });
    await chown(home, 65534, 65534);
    await symlink(rootOnly, path.join(home, 'logs'));
    await lchown(path.join(home, 'logs'), 65534, 65534);
    await h.apply({ checks: [{ type: 'log', id: 'app', path: path.join(home, 'logs', 'app.log'), pattern: 'ERROR', intervalSec: 1 }] });
    const problems = await waitFor('the problem', () => h.service.problems().length && h.service.problems());
    expect(problems[0]).toMatchObject({ code: 'CHECK_SOURCE_UNAVAILABLE', message: expect.stringContaining('is a link that another account can change') });
    await appendFile(path.join(rootOnly, 'app.log'), 'ERROR root-only secret\n');
    await sleep(2_500);
    expect(h.raised()).toEqual([]);
  });

  it.runIf(process.platform === 'linux' && process.getuid?.() === 0)('a user swapping their folder for a link while the agent opens the log never gets a root-only file read', async () => {
    const dir = await tempDir();
    await chmod(dir, 0o755);
    const rootOnly = path.join(dir, 'root-only');
    await mkdir(rootOnly, { mode: 0o700 });
    await writeFile(path.join(rootOnly, 'app.log'), 'SECRET root-only line\n');
    const home = path.join(dir, 'home');
    await mkdir(home, { mode: 0o755 });
    await chown(home, 65534, 65534);
    // The user's script: a real logs/ folder and a link to the root-only one, swapped as fast as it can (bounded).
    const swapper = `
      const fs = require('node:fs'); const p = require('node:path');
      const home = ${JSON.stringify(home)}, logs = p.join(home, 'logs'), real = p.join(home, 'real');
      fs.mkdirSync(real); fs.writeFileSync(p.join(real, 'app.log'), 'harmless\\n');
      fs.symlinkSync(${JSON.stringify(rootOnly)}, p.join(home, 'link'));
      const end = Date.now() + 8000;
      for (let i = 0; i < 400000 && Date.now() < end; i++) {
        fs.renameSync(i % 2 ? p.join(home, 'link') : real, logs);
        fs.renameSync(logs, i % 2 ? p.join(home, 'link') : real);
      }`;
    const child = execFile(process.execPath, ['-e', swapper], { uid: 65534, gid: 65534, timeout: 15_000 });
    const exited = new Promise((resolve) => child.on('close', resolve));
    onCleanup(async () => { child.kill('SIGKILL'); await exited; });
    await waitFor('the swapper to start', async () => (await readFile(path.join(home, 'real', 'app.log'), 'utf8').catch(() => '')) === 'harmless\n' || null, 5_000);
    const seen = { harmless: 0, refused: 0, secret: 0 };
    const started = Date.now();
    for (let i = 0; i < 3000 && Date.now() - started < 6_000; i++) {
      try {
        const chunk = await readLogChunk(path.join(home, 'logs', 'app.log'), { offset: 0 }, 1024);
        if (chunk.bytes.toString().includes('SECRET')) seen.secret++;
        else seen.harmless++;
      } catch {
        seen.refused++;
      }
    }
    child.kill('SIGKILL');
    await exited;
    expect(seen.secret).toBe(0);
    // The race was really run: both outcomes happened.
    expect(seen.harmless).toBeGreaterThan(0);
    expect(seen.refused).toBeGreaterThan(0);
  });
});
