// A local user must not read the agent's logs (they name devices, paths, servers and errors): a log folder
// the agent creates is 0700 and every file in it, rotated ones included, 0600, whatever the umask.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger, logFolderProblem } from '../../src/log.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('log folder and file modes', () => {
  it('creates the folder 0700 and the files 0600 under a permissive umask, rotation included', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'rmagent-logmodes-')), 'var', 'log', 'rmagent');
    const oldMask = process.umask(0o022);
    try {
      const logger = createLogger({ logDir: dir, console: false, maxSize: 2 * 1024, maxFiles: 5 });
      logger.info('started');
      await sleep(100); // a burst before the file is open stalls winston's rotation
      for (let i = 0; i < 30; i++) {
        logger.info('a line long enough to rotate the file after a few of them', { round: i, pad: 'x'.repeat(200) });
        await sleep(5);
      }
      await Promise.race([new Promise<void>((resolve) => logger.on('finish', () => resolve()).end()), sleep(3_000)]);
      await sleep(300);
    } finally {
      process.umask(oldMask);
    }
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const files = readdirSync(dir);
    expect(files.length).toBeGreaterThan(1);
    expect(files.map((f) => [f, statSync(path.join(dir, f)).mode & 0o777])).toEqual(files.map((f) => [f, 0o600]));
  });
});

// A careless administrator's log folder: one every account can write (chmod 777), or one reached through a user's
// folder. The agent writes there as root, so a user could plant a link at rmagent.log and have root append to any
// file (or plant their own file and read the logs). Such a folder is refused; a link at the name is never followed.
const CLI = path.resolve(__dirname, '../../build/src/cli/rmagent.js');
const NOBODY = 65534;
const isRoot = process.platform !== 'win32' && process.getuid?.() === 0;

describe('a log folder another account can change', () => {
  it('logFolderProblem: the agent\'s own folder passes, one every account (or another uid) can write does not', () => {
    const base = mkdtempSync(path.join(tmpdir(), 'rmagent-logdir-'));
    const own = path.join(base, 'own');
    mkdirSync(own, { mode: 0o700 });
    expect(logFolderProblem(own)).toBeNull();
    chmodSync(own, 0o777);
    expect(logFolderProblem(own)).toMatch(/every account/);
    // A folder of ours inside a sticky world-writable folder (like /tmp) is fine; inside a plain 0777 one it is not.
    const shared = path.join(base, 'shared');
    mkdirSync(path.join(shared, 'logs'), { recursive: true, mode: 0o700 });
    chmodSync(shared, 0o1777);
    expect(logFolderProblem(path.join(shared, 'logs'))).toBeNull();
    chmodSync(shared, 0o777);
    expect(logFolderProblem(path.join(shared, 'logs'))).toMatch(/shared can be written by every account/);
    expect(logFolderProblem(own, 4242)).toMatch(/belongs to uid/);
  });

  it('a link planted at rmagent.log is not written through', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-loglink-'));
    const victim = path.join(dir, 'victim');
    writeFileSync(victim, 'root only\n', { mode: 0o600 });
    mkdirSync(path.join(dir, 'logs'), { mode: 0o700 });
    symlinkSync(victim, path.join(dir, 'logs', 'rmagent.log'));
    const logger = createLogger({ logDir: path.join(dir, 'logs'), console: false });
    logger.on('error', () => undefined);
    logger.info('must not reach the victim');
    await Promise.race([new Promise<void>((resolve) => logger.on('finish', () => resolve()).end()), sleep(1_000)]);
    expect(readFileSync(victim, 'utf8')).toBe('root only\n');
  });

  it.runIf(isRoot)('the agent started as root refuses a 0777 log folder where another account planted a link', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-logattack-'));
    chmodSync(dir, 0o755);
    const victim = path.join(dir, 'victim');
    writeFileSync(victim, 'root only\n', { mode: 0o600 });
    const logs = path.join(dir, 'logs');
    mkdirSync(logs);
    chmodSync(logs, 0o777);
    const plant = spawnSync('/bin/ln', ['-s', victim, path.join(logs, 'rmagent.log')], { uid: NOBODY, gid: NOBODY, timeout: 10_000 });
    expect(plant.status).toBe(0);
    writeFileSync(path.join(dir, 'config.json'), '{}\n', { mode: 0o644 });
    const env: NodeJS.ProcessEnv = { ...process.env, RMAGENT_MACHINE_ID: 'machine-log', RMAGENT_TEAMVIEWER_REQUIRED: 'false', RMAGENT_CONFIG: path.join(dir, 'config.json') };
    delete env.RMAGENT_LOG_TARGET;
    delete env.JOURNAL_STREAM;
    const agent = spawnSync(process.execPath, [CLI, 'run', '--state-dir', path.join(dir, 'state'), '--log-dir', logs, '--ipc-path', path.join(dir, 'ipc.sock')], {
      env,
      encoding: 'utf8',
      timeout: 6_000, // without the defence the daemon runs (and logs) until this kills it
    });
    expect(readFileSync(victim, 'utf8')).toBe('root only\n');
    expect(agent.status).toBe(3);
    expect(agent.stderr).toContain('LOG_DIR_UNSAFE');
  }, 20_000);
});
