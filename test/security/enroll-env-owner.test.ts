// From a hostile review: a careless administrator leaves the dropped enroll.env owned by an unprivileged
// account (copied in as that user and moved with `sudo mv`, which keeps the owner; or /etc/rmagent made writable).
// configure (run as root by the .deb/.rpm postinst and install.sh) makes the file 0600 but never asks who owns
// it: the owner can still rewrite it, so they choose the server the root agent enrolls with, its pinned key and
// the allow-changes opt-in. The config file has the same rule for the same reason (security.md #12: it must
// belong to root or the agent's account); enroll.env has none.
// Expected (the defence): an enroll.env that does not belong to root is not read. Failed before the fix in
// installer/linux/configure.sh and installer/macos/scripts/postinstall (checked by putting the old scripts back).
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const CONFIGURE = path.resolve(__dirname, '../../installer/linux/configure.sh');
const NOBODY = 65534;
const isRoot = process.platform !== 'win32' && process.getuid?.() === 0;
// A stand-in for `rmagent enroll` that records what it was asked.
const STAND_IN = '#!/bin/sh\necho "$* | token=${RMAGENT_TOKEN:-}" >> "$STAND_IN_LOG"\n';

describe.runIf(isRoot)('enroll.env owned by another account (configure runs as root)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rmagent-enrollenv-'));
    chmodSync(dir, 0o755);
    writeFileSync(path.join(dir, 'rmagent'), STAND_IN, { mode: 0o755 });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is not read: its owner cannot choose the server, key and opt-in the root agent enrolls with', () => {
    const file = path.join(dir, 'enroll.env');
    // The administrator's file, left owned by the account that copied it in.
    writeFileSync(file, 'RMAGENT_SERVER=wss://rm.example.com/agent\nRMAGENT_TOKEN=admin-token-123456\n', { mode: 0o600 });
    chownSync(file, NOBODY, NOBODY);
    // That account rewrites it before the package is installed (0600 keeps nobody out but its owner).
    const edit = spawnSync('/bin/sh', ['-c', `printf 'RMAGENT_SERVER=wss://attacker.example/agent\\nRMAGENT_TOKEN=attacker-token-1\\nRMAGENT_SERVER_KEY=ATTACKERKEY\\nRMAGENT_ALLOW_CHANGES=1\\n' > ${file}`], { uid: NOBODY, gid: NOBODY, timeout: 10_000 });
    expect(edit.status).toBe(0);
    const log = path.join(dir, 'calls.log');
    const allow = path.join(dir, 'state', 'allow-changes');
    const r = spawnSync('sh', [CONFIGURE], {
      encoding: 'utf8', timeout: 20_000,
      env: { PATH: process.env.PATH, RMAGENT_BIN: path.join(dir, 'rmagent'), RMAGENT_ENROLL_FILE: file, RMAGENT_ALLOW_CHANGES_FILE: allow, STAND_IN_LOG: log },
    });
    const calls = existsSync(log) ? readFileSync(log, 'utf8') : '';
    // Without a defence: "enroll --server=wss://attacker.example/agent --server-key=ATTACKERKEY | token=attacker-token-1"
    // and the allow-changes opt-in created in root's state folder.
    expect(calls, `configure exit ${r.status}: ${r.stderr}`).not.toContain('attacker');
    expect(existsSync(allow)).toBe(false);
    // Refused with configure's "invalid parameters" exit and the reason in the installer log.
    expect(r.status).toBe(64);
    expect(r.stderr).toMatch(/enroll\.env is not read: it must belong to root.*chown root:root/);
  });

  it('is not read either when group/others can write it, through a symbolic link, or in a folder others can write', () => {
    const good = 'RMAGENT_SERVER=wss://rm.example.com/agent\nRMAGENT_TOKEN=admin-token-123456\n';
    const configure = (file: string) => spawnSync('sh', [CONFIGURE], {
      encoding: 'utf8', timeout: 20_000,
      env: { PATH: process.env.PATH, RMAGENT_BIN: path.join(dir, 'rmagent'), RMAGENT_ENROLL_FILE: file, RMAGENT_ALLOW_CHANGES_FILE: path.join(dir, 'state', 'allow-changes'), STAND_IN_LOG: path.join(dir, 'calls.log') },
    });
    const file = path.join(dir, 'enroll.env');
    writeFileSync(file, good);
    chmodSync(file, 0o620);
    expect(configure(file).status).toBe(64);
    chmodSync(file, 0o600);
    const link = path.join(dir, 'link.env');
    symlinkSync(file, link);
    expect(configure(link).status).toBe(64);
    const open = path.join(dir, 'open');
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    writeFileSync(path.join(open, 'enroll.env'), good, { mode: 0o600 });
    expect(configure(path.join(open, 'enroll.env')).status).toBe(64);
    expect(existsSync(path.join(dir, 'calls.log'))).toBe(false);
    // root's own 0600 file in root's folder is read (and deleted once enrolled).
    const ok = configure(file);
    expect(ok.status, ok.stderr).toBe(0);
    expect(readFileSync(path.join(dir, 'calls.log'), 'utf8')).toContain('enroll --server=wss://rm.example.com/agent | token=admin-token-123456');
    expect(existsSync(file)).toBe(false);
  });

  it('macOS postinstall: the same rule (its enroll.env part, run here: ls -ln reads alike)', () => {
    const postinstall = readFileSync(path.resolve(__dirname, '../../installer/macos/scripts/postinstall'), 'utf8');
    const part = postinstall.slice(postinstall.indexOf('# trusted PATH'), postinstall.indexOf('# The local opt-in'));
    const file = path.join(dir, 'enroll.env');
    writeFileSync(file, 'RMAGENT_SERVER=wss://attacker.example/agent\nRMAGENT_ALLOW_CHANGES=1\n', { mode: 0o600 });
    chownSync(file, NOBODY, NOBODY);
    const run = () => spawnSync('sh', ['-c', `set -u; ENROLL_FILE='${file}'\n${part}\necho "server=\${RMAGENT_SERVER:-} allow=\${RMAGENT_ALLOW_CHANGES:-}"`], { encoding: 'utf8', timeout: 10_000, env: { PATH: process.env.PATH } });
    const r = run();
    expect(r.stdout).toContain('server= allow=');
    expect(r.stderr).toContain('is not read: it must belong to root');
    chownSync(file, 0, 0);
    expect(run().stdout).toContain('server=wss://attacker.example/agent allow=1'); // root's file is read
  });
});
