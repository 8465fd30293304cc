// A careless administrator leaves the config file writable by everyone (chmod 666, or a file some user made).
// The config is what the root agent runs: `teamviewer.path` is searched first for every command it starts
// (systemctl, teamviewer, apt-get...), `stateDir` is where it trusts registration and opt-in files. So the attack:
// an unprivileged account edits the file, and the next start runs that account's stand-in `systemctl` as root.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configOwnerProblem, loadConfig } from '../../src/config/load.js';

const CLI = path.resolve(__dirname, '../../build/src/cli/rmagent.js');
const NOBODY = 65534;
const isRoot = process.platform !== 'win32' && process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('configOwnerProblem', () => {
  const st = (uid: number, gid: number, mode: number) => ({ uid, gid, mode: 0o100000 | mode });
  it('trusts root and the agent account, never a file others can write', () => {
    expect(configOwnerProblem(st(0, 0, 0o644), 0)).toBeNull();
    expect(configOwnerProblem(st(0, 0, 0o664), 0)).toBeNull();
    expect(configOwnerProblem(st(500, 500, 0o600), 500)).toBeNull();
    expect(configOwnerProblem(st(0, 0, 0o644), 500)).toBeNull();
    expect(configOwnerProblem(st(0, 0, 0o666), 0)).toMatch(/every account/);
    expect(configOwnerProblem(st(0, 100, 0o664), 0)).toMatch(/group 100/);
    expect(configOwnerProblem(st(1001, 1001, 0o644), 0)).toMatch(/uid 1001/);
    expect(configOwnerProblem(st(1001, 1001, 0o644), undefined)).toBeNull(); // Windows: the MSI's DACLs
  });
});

describe.runIf(isRoot)('a config file another account can write (agent as root)', () => {
  function setup(mode: number, owner = 0) {
    const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-cfg-owner-'));
    chmodSync(dir, 0o755); // the user can reach the file, as under /etc
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    const marker = path.join(dir, 'ran-as-uid');
    for (const tool of ['systemctl', 'teamviewer', 'dpkg-query', 'rpm']) {
      writeFileSync(path.join(bin, tool), `#!/bin/sh\nid -u > ${marker}\nexit 1\n`, { mode: 0o755 });
    }
    const config = path.join(dir, 'config.json');
    writeFileSync(config, '{"logLevel":"info"}\n');
    chmodSync(config, mode);
    if (owner) chownSync(config, owner, owner);
    return { dir, bin, marker, config };
  }

  it('is refused: a user who edits a 0666 config cannot make the root agent run their program', async () => {
    const h = setup(0o666);
    // The unprivileged account edits the file the administrator left writable.
    const edit = spawnSync('/bin/sh', ['-c', `printf '%s' '{"teamviewer":{"path":"${h.bin}"}}' > ${h.config}`], { uid: NOBODY, gid: NOBODY, timeout: 10_000 });
    expect(edit.status).toBe(0);
    const env = { ...process.env, RMAGENT_MACHINE_ID: 'machine-cfg', RMAGENT_TEAMVIEWER_REQUIRED: 'false' };
    const agent = spawnSync(process.execPath, [CLI, 'run', '--config', h.config, '--state-dir', path.join(h.dir, 'state'), '--log-dir', path.join(h.dir, 'logs')], {
      env,
      encoding: 'utf8',
      timeout: 8_000, // without the defence the daemon runs until this kills it
    });
    // Give a stand-in started just before the kill the time to write its marker.
    await sleep(300);
    expect(existsSync(h.marker) ? readFileSync(h.marker, 'utf8').trim() : 'not run').toBe('not run');
    expect(agent.status).toBe(3);
    expect(agent.stderr).toContain('CONFIG_UNSAFE');
    // doctor (run by an administrator) runs commands through the same PATH: refused too.
    const doctor = spawnSync(process.execPath, [CLI, 'doctor', '--config', h.config, '--state-dir', path.join(h.dir, 'state')], { env, encoding: 'utf8', timeout: 20_000 });
    expect(doctor.stderr).toContain('CONFIG_UNSAFE');
    expect(existsSync(h.marker)).toBe(false);
  }, 30_000);

  it('is refused when the file belongs to another account, and used again once the administrator fixes it', () => {
    const h = setup(0o644, NOBODY);
    expect(() => loadConfig({ configFile: h.config, env: {}, platform: 'linux' })).toThrow(expect.objectContaining({ code: 'CONFIG_UNSAFE', message: expect.stringContaining(`uid ${NOBODY}`) }));
    chownSync(h.config, 0, 0);
    expect(loadConfig({ configFile: h.config, env: {}, platform: 'linux' }).config.logLevel).toBe('info');
  });
});
