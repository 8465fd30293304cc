// The command-line contract every MDM script relies on (README "Exit codes"): one set of exit codes for every
// command, --help that starts nothing, the token from a file, standard input or the environment.
import { spawnSync } from 'node:child_process';
import fs, { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnNode, waitForEvent } from '../../src/cli/processes.js';

const CLI = path.resolve(__dirname, '../../build/src/cli/rmagent.js');
const TOKEN = 'enroll-token-7b1e04d2';

function home() {
  const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-contract-'));
  const stateDir = path.join(dir, 'state');
  const logDir = path.join(dir, 'logs');
  writeFileSync(path.join(dir, 'config.json'), '{}');
  const env: NodeJS.ProcessEnv = { ...process.env, RMAGENT_CONFIG: path.join(dir, 'config.json'), RMAGENT_MACHINE_ID: 'machine-c', RMAGENT_IPC_PATH: path.join(dir, 'ipc.sock') };
  delete env.RMAGENT_TOKEN;
  const run = (args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) => {
    const r = spawnSync(process.execPath, [CLI, ...args, '--state-dir', stateDir, '--log-dir', logDir], { env: { ...env, ...opts.env }, input: opts.input ?? '', encoding: 'utf8', timeout: 30_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const registration = () => JSON.parse(readFileSync(path.join(stateDir, 'registration.json'), 'utf8')) as { enrollmentToken: string | null; serverUrl: string };
  return { dir, stateDir, logDir, env, run, registration };
}

describe('the enrollment token never needs a command line', () => {
  it('is read from --token-file FILE (one line, final newline dropped)', () => {
    const h = home();
    const file = path.join(h.dir, 'token');
    writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
    const r = h.run(['enroll', '--server', 'ws://127.0.0.1:1', '--token-file', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(h.registration().enrollmentToken).toBe(TOKEN);
    expect(r.stderr).not.toContain('warning');
  });

  it('warns when the token file can be read by other accounts (it may have leaked)', () => {
    const h = home();
    const file = path.join(h.dir, 'token');
    writeFileSync(file, `${TOKEN}\n`);
    fs.chmodSync(file, 0o644);
    const r = h.run(['enroll', '--server', 'ws://127.0.0.1:1', '--token-file', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/can be read by other accounts.*revoke this token/);
    expect(r.stderr).not.toContain(TOKEN);
  });

  it('is read from standard input with --token-file -', () => {
    const h = home();
    const r = h.run(['enroll', '--server', 'ws://127.0.0.1:1', '--token-file', '-'], { input: `${TOKEN}\r\n` });
    expect(r.code, r.stderr).toBe(0);
    expect(h.registration().enrollmentToken).toBe(TOKEN);
  });

  it('is read from RMAGENT_TOKEN when no flag names it', () => {
    const h = home();
    const r = h.run(['enroll', '--server', 'ws://127.0.0.1:1'], { env: { RMAGENT_TOKEN: TOKEN } });
    expect(r.code, r.stderr).toBe(0);
    expect(h.registration().enrollmentToken).toBe(TOKEN);
  });

  it('--token still works but warns that every local user can read it', () => {
    const h = home();
    const r = h.run(['enroll', '--server', 'ws://127.0.0.1:1', '--token', TOKEN]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: --token puts the enrollment token on the command line/);
  });

  it('refuses a missing, empty, multi-line or oversized token, and two sources at once, writing nothing', () => {
    const h = home();
    const multi = path.join(h.dir, 'multi');
    writeFileSync(multi, 'a\nb\n');
    const big = path.join(h.dir, 'big');
    writeFileSync(big, 'x'.repeat(5000));
    const cases: Array<[string[], { input?: string; env?: NodeJS.ProcessEnv }, number, string]> = [
      [['enroll', '--server', 'ws://127.0.0.1:1'], {}, 64, 'CLI_USAGE'],
      [['enroll', '--server', 'ws://127.0.0.1:1', '--token-file', '-'], { input: '\n' }, 3, 'ENROLLMENT_TOKEN_INVALID'],
      [['enroll', '--server', 'ws://127.0.0.1:1', '--token-file', multi], {}, 3, 'ENROLLMENT_TOKEN_INVALID'],
      [['enroll', '--server', 'ws://127.0.0.1:1', '--token-file', big], {}, 3, 'ENROLLMENT_TOKEN_INVALID'],
      [['enroll', '--server', 'ws://127.0.0.1:1', '--token-file', path.join(h.dir, 'absent')], {}, 3, 'ENROLLMENT_TOKEN_INVALID'],
      [['enroll', '--server', 'ws://127.0.0.1:1', '--token-file', h.dir], {}, 3, 'ENROLLMENT_TOKEN_INVALID'],
      [['enroll', '--server', 'ws://127.0.0.1:1', '--token-file', multi, '--token', TOKEN], {}, 64, 'CLI_USAGE'],
    ];
    for (const [args, opts, code, error] of cases) {
      const r = h.run(args, opts);
      expect([r.code, r.stderr.includes(error)], args.join(' ')).toEqual([code, true]);
    }
    expect(existsSync(path.join(h.stateDir, 'registration.json'))).toBe(false);
  });
});

describe('exit codes and --help', () => {
  it('enroll refuses ws:// to another host up front (exit 64), and takes it with connection.allowInsecure', () => {
    const h = home();
    const r = h.run(['enroll', '--server', 'ws://rm.example.com'], { env: { RMAGENT_TOKEN: TOKEN } });
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/CLI_USAGE.*ws:\/\/rm\.example\.com.*wss:\/\//s);
    expect(existsSync(path.join(h.stateDir, 'registration.json'))).toBe(false);
    const lab = h.run(['enroll', '--server', 'ws://rm.example.com'], { env: { RMAGENT_TOKEN: TOKEN, RMAGENT_ALLOW_INSECURE: 'true' } });
    expect(lab.code, lab.stderr).toBe(0);
  });

  it('--help on every command prints its usage, exits 0 and starts nothing (no state or log folder made)', () => {
    const h = home();
    for (const command of ['run', 'enroll', 'status', 'doctor', 'unenroll', 'version']) {
      for (const flag of ['--help', '-h']) {
        const r = h.run([command, flag]);
        expect([r.code, r.stdout.includes('usage: rmagent')], `${command} ${flag}`).toEqual([0, true]);
      }
    }
    expect(existsSync(h.stateDir)).toBe(false);
    expect(existsSync(h.logDir)).toBe(false);
  });

  it('a usage error is 64 for every command', () => {
    const h = home();
    for (const command of ['run', 'enroll', 'status', 'doctor', 'unenroll', 'version', 'no-such-command']) {
      const r = h.run([command, '--bogus']);
      expect([r.code, r.stderr.includes('CLI_USAGE')], command).toEqual([64, true]);
    }
  });

  it('status of a device that is not registered prints the versioned object and exits 2', () => {
    const h = home();
    const r = h.run(['status', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ schema: 'rmagent.status/v1', health: 'unhealthy' });
  });

  it.skipIf(process.getuid?.() !== 0)('status as another account prints the versioned object with STATUS_DENIED and exits 2', async () => {
    const h = home();
    fs.chmodSync(h.dir, 0o755);
    fs.chmodSync(path.join(h.dir, 'config.json'), 0o644);
    const daemon = spawnNode(CLI, ['run', '--state-dir', h.stateDir, '--log-dir', h.logDir], { ...h.env, RMAGENT_TEAMVIEWER_REQUIRED: 'false' });
    try {
      await waitForEvent(daemon, 'started');
      const r = spawnSync(process.execPath, [CLI, 'status', '--json', '--state-dir', h.stateDir, '--log-dir', h.logDir], { env: h.env, encoding: 'utf8', timeout: 30_000, uid: 65534, gid: 65534 });
      expect(r.status, r.stderr).toBe(2);
      const status = JSON.parse(r.stdout) as { schema: string; health: string; problems: Array<{ code: string }> };
      expect(status).toMatchObject({ schema: 'rmagent.status/v1', health: 'unhealthy' });
      expect(status.problems[0]!.code).toBe('STATUS_DENIED');
    } finally {
      await daemon.stop();
    }
  });

  it('a second `run` on the same state exits 4 with AGENT_ALREADY_RUNNING, and the first keeps running', async () => {
    const h = home();
    const first = spawnNode(CLI, ['run', '--state-dir', h.stateDir, '--log-dir', h.logDir], { ...h.env, RMAGENT_TEAMVIEWER_REQUIRED: 'false' });
    try {
      await waitForEvent(first, 'started');
      const second = h.run(['run']);
      expect(second.code, second.stderr).toBe(4);
      expect(second.stderr).toContain('AGENT_ALREADY_RUNNING');
      expect(first.child.exitCode).toBeNull();
    } finally {
      await first.stop();
    }
  });

  it('unenroll --pending-only removes a registration that still holds the token, and keeps an enrolled one', () => {
    const h = home();
    expect(h.run(['enroll', '--server', 'ws://127.0.0.1:1'], { env: { RMAGENT_TOKEN: TOKEN } }).code).toBe(0);
    const pending = h.run(['unenroll', '--yes', '--pending-only']);
    expect(pending.code, pending.stderr).toBe(0);
    expect(existsSync(path.join(h.stateDir, 'registration.json'))).toBe(false);
    expect(existsSync(path.join(h.stateDir, 'device.key'))).toBe(false);

    expect(h.run(['enroll', '--server', 'ws://127.0.0.1:1'], { env: { RMAGENT_TOKEN: TOKEN } }).code).toBe(0);
    const reg = h.registration() as Record<string, unknown>;
    writeFileSync(path.join(h.stateDir, 'registration.json'), JSON.stringify({ ...reg, deviceId: 'dev-9', enrollmentToken: null, enrolledAt: 1 }), { mode: 0o600 });
    const kept = h.run(['unenroll', '--yes', '--pending-only']);
    expect(kept.code).toBe(0);
    expect(kept.stdout).toContain('kept');
    expect(existsSync(path.join(h.stateDir, 'registration.json'))).toBe(true);
  });
});
