// install.sh and the shared enroll helper, run for real into a temporary root (RMAGENT_PREFIX) with a
// stand-in `rmagent` that records how it was called. Needs no build: runs in `npm test` too.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOT, modeOf, run, snapshot } from './artifacts.js';

const INSTALL = path.join(ROOT, 'installer/linux/install.sh');
const CONFIGURE = path.join(ROOT, 'installer/linux/configure.sh');

// Stand-in agent: appends its arguments and the token it was handed (RMAGENT_TOKEN, or the --token-file it names,
// "-" = standard input) to $STAND_IN_LOG; `enroll` writes a 0600 registration.
const STAND_IN = `#!/bin/sh
token="\${RMAGENT_TOKEN:-}"
for a in "$@"; do case "$a" in --token-file=*) f="\${a#--token-file=}"; if [ "$f" = - ]; then token="$(cat)"; else token="$(cat "$f")"; fi ;; esac; done
echo "$* | token=$token" >> "$STAND_IN_LOG"
[ -z "\${STAND_IN_ARGS:-}" ] || printf '%s\\n' "$@" >> "$STAND_IN_ARGS"
[ "$1" = enroll ] || exit 0
[ "\${STAND_IN_EXIT:-0}" -eq 0 ] || exit "$STAND_IN_EXIT"
umask 077; mkdir -p "$RMAGENT_STATE_DIR"; printf '%s\\n' "$*" > "$RMAGENT_STATE_DIR/registration.json"
`;

describe('install.sh without a package manager', () => {
  let tmp: string;
  let prefix: string;
  let binary: string;
  const sh = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    run('sh', [INSTALL, ...args], { env: { PATH: process.env.PATH, RMAGENT_PREFIX: prefix, RMAGENT_STATE_DIR: path.join(prefix, 'var/lib/rmagent'), STAND_IN_LOG: path.join(tmp, 'calls.log'), ...env } });
  const calls = () => (fs.existsSync(path.join(tmp, 'calls.log')) ? fs.readFileSync(path.join(tmp, 'calls.log'), 'utf8').trim().split('\n') : []);

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmagent-install-'));
    prefix = path.join(tmp, 'root');
    fs.mkdirSync(prefix);
    binary = path.join(tmp, 'rmagent-linux-x64');
    fs.writeFileSync(binary, STAND_IN, { mode: 0o755 });
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('installs, enrolls with every flag mapped onto `rmagent enroll`, and enables the unit', () => {
    const tokenFile = path.join(tmp, 'token');
    fs.writeFileSync(tokenFile, 'tok\n', { mode: 0o600 });
    const r = sh(['--binary', binary, '--server', 'wss://rm.test/agent', '--token-file', tokenFile, '--server-key', 'KEY=', '--assignment-id', 'A-1', '--alias', 'lab pc', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(calls()).toEqual([`enroll --server=wss://rm.test/agent --token-file=${tokenFile} --server-key=KEY= --assignment-id=A-1 --alias=lab pc | token=tok`]);
    expect(modeOf(path.join(prefix, 'usr/local/bin/rmagent'))).toBe('0755');
    expect(modeOf(path.join(prefix, 'var/lib/rmagent'))).toBe('0700');
    expect(modeOf(path.join(prefix, 'var/lib/rmagent/registration.json'))).toBe('0600');
    expect(fs.readFileSync(path.join(prefix, 'etc/systemd/system/rmagent.service'), 'utf8')).toContain('ExecStart=/usr/local/bin/rmagent run');
    expect(fs.readlinkSync(path.join(prefix, 'etc/systemd/system/multi-user.target.wants/rmagent.service'))).toBe('../rmagent.service');
  });

  it('takes the token from standard input (--token-file -) or RMAGENT_TOKEN, and refuses --token', () => {
    expect(run('sh', [INSTALL, '--binary', binary, '--server', 'wss://rm.test', '--token-file', '-', '--quiet'], { input: 'from-stdin\n', env: { PATH: process.env.PATH, RMAGENT_PREFIX: prefix, RMAGENT_STATE_DIR: path.join(prefix, 'var/lib/rmagent'), STAND_IN_LOG: path.join(tmp, 'calls.log') } }).code).toBe(0);
    expect(sh(['--binary', binary, '--server', 'wss://rm.test', '--quiet'], { RMAGENT_TOKEN: 'from-env' }).code).toBe(0);
    expect(calls()).toEqual(['enroll --server=wss://rm.test --token-file=- | token=from-stdin', 'enroll --server=wss://rm.test | token=from-env']);
    const refused = sh(['--binary', binary, '--server', 'wss://rm.test', '--token', 'visible']);
    expect(refused.code).toBe(64);
    expect(refused.stderr).toContain('--token-file');
  });

  it('run twice changes nothing on disk', () => {
    expect(sh(['--binary', binary, '--server', 'wss://rm.test', '--quiet'], { RMAGENT_TOKEN: 'tok' }).code).toBe(0);
    const before = snapshot(prefix);
    expect(sh(['--binary', binary, '--quiet']).code).toBe(0);
    expect(snapshot(prefix)).toEqual(before);
  });

  it('exits with a meaningful code: 64 for bad usage, 69 without the executable, enroll\'s own code on failure', () => {
    expect(sh(['--server', 'wss://rm.test']).code).toBe(64);
    expect(sh(['--bogus']).code).toBe(64);
    expect(sh(['--purge']).code).toBe(64);
    expect(sh(['--binary', path.join(tmp, 'missing')]).code).toBe(69);
    const failed = sh(['--binary', binary, '--server', 'wss://rm.test'], { STAND_IN_EXIT: '3', RMAGENT_TOKEN: 'bad' });
    expect(failed.code).toBe(3);
    expect(failed.stderr).toContain('enrollment failed (exit 3)');
  });

  it('--allow-changes creates the private opt-in file; a later run without it keeps the file, =0 removes it', () => {
    const allow = path.join(prefix, 'var/lib/rmagent/allow-changes');
    const r = sh(['--binary', binary, '--allow-changes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('machine changes allowed');
    expect(modeOf(allow)).toBe('0600');
    const before = snapshot(prefix);
    expect(sh(['--binary', binary, '--quiet']).code).toBe(0); // an upgrade or re-run keeps the administrator's choice
    expect(sh(['--binary', binary, '--allow-changes', '--quiet']).code).toBe(0);
    expect(snapshot(prefix)).toEqual(before);
    expect(sh(['--binary', binary, '--quiet'], { RMAGENT_ALLOW_CHANGES: '0' }).code).toBe(0);
    expect(fs.existsSync(allow)).toBe(false);
    expect(sh(['--binary', binary, '--quiet'], { RMAGENT_ALLOW_CHANGES: '1' }).code).toBe(0);
    expect(fs.existsSync(allow)).toBe(true);
    const bad = sh(['--binary', binary], { RMAGENT_ALLOW_CHANGES: 'maybe' });
    expect(bad.code).toBe(64);
    expect(fs.existsSync(allow)).toBe(true);
  });

  it('without --allow-changes no opt-in file is created', () => {
    expect(sh(['--binary', binary, '--server', 'wss://rm.test', '--quiet'], { RMAGENT_TOKEN: 'tok' }).code).toBe(0);
    expect(fs.existsSync(path.join(prefix, 'var/lib/rmagent/allow-changes'))).toBe(false);
  });

  it('uninstall keeps state; uninstall --purge leaves nothing behind', () => {
    expect(sh(['--binary', binary, '--server', 'wss://rm.test', '--allow-changes', '--quiet'], { RMAGENT_TOKEN: 'tok' }).code).toBe(0);
    expect(sh(['--uninstall', '--quiet']).code).toBe(0);
    expect(fs.existsSync(path.join(prefix, 'usr/local/bin/rmagent'))).toBe(false);
    expect(fs.existsSync(path.join(prefix, 'etc/systemd/system/rmagent.service'))).toBe(false);
    expect(fs.existsSync(path.join(prefix, 'var/lib/rmagent/registration.json'))).toBe(true);
    expect(fs.existsSync(path.join(prefix, 'var/lib/rmagent/allow-changes'))).toBe(true);
    expect(sh(['--uninstall', '--purge', '--quiet']).code).toBe(0);
    expect(Object.keys(snapshot(prefix)).filter((p) => /rmagent/.test(p.slice(prefix.length)))).toEqual([]);
  });
});

describe('configure (install-time enrollment shared by .deb, .rpm and install.sh)', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmagent-configure-'));
    fs.writeFileSync(path.join(tmp, 'rmagent'), STAND_IN, { mode: 0o755 });
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const configure = (env: NodeJS.ProcessEnv) =>
    run('sh', [CONFIGURE], { env: { PATH: process.env.PATH, RMAGENT_BIN: path.join(tmp, 'rmagent'), RMAGENT_ENROLL_FILE: path.join(tmp, 'enroll.env'), RMAGENT_STATE_DIR: path.join(tmp, 'state'), RMAGENT_ALLOW_CHANGES_FILE: path.join(tmp, 'state', 'allow-changes'), STAND_IN_LOG: path.join(tmp, 'calls.log'), ...env } });
  const calls = () => fs.readFileSync(path.join(tmp, 'calls.log'), 'utf8').trim().split('\n');

  it('does nothing without parameters', () => {
    expect(configure({}).code).toBe(0);
    expect(fs.existsSync(path.join(tmp, 'calls.log'))).toBe(false);
  });

  it('reads a dropped enroll.env as data (quotes stripped, no code run), the environment winning, then deletes it', () => {
    fs.writeFileSync(path.join(tmp, 'enroll.env'), `# comment\nRMAGENT_SERVER="wss://from-file"\nRMAGENT_TOKEN='t$(touch ${tmp}/pwned)'\nRMAGENT_ALIAS=file-alias\nOTHER=ignored\n`, { mode: 0o600 });
    expect(configure({ RMAGENT_ALIAS: 'env-alias' }).code).toBe(0);
    expect(calls()).toEqual([`enroll --server=wss://from-file --alias=env-alias | token=t$(touch ${tmp}/pwned)`]);
    expect(fs.existsSync(path.join(tmp, 'pwned'))).toBe(false);
    expect(fs.existsSync(path.join(tmp, 'enroll.env'))).toBe(false);
  });

  // From a hostile review: the single executable takes any argument that starts with --node-options= as runtime flags
  // (installer/sea/build.sh: execArgvExtension "cli"), wherever it stands, before rmagent reads its command line. A
  // value passed as an argument of its own (`--alias "$RMAGENT_ALIAS"`) ran `--node-options=--require=FILE` as root.
  it('passes every value inside its option\'s argument (--alias=VALUE): no argument starts with a value the installer was given', () => {
    const hostile = '--node-options=--require=/tmp/someone-elses.js';
    fs.writeFileSync(path.join(tmp, 'token'), 'tok\n', { mode: 0o600 });
    const args = path.join(tmp, 'args.log');
    const env = { RMAGENT_SERVER: hostile, RMAGENT_SERVER_KEY: hostile, RMAGENT_ASSIGNMENT_ID: hostile, RMAGENT_ALIAS: hostile, STAND_IN_ARGS: args };
    expect(configure({ ...env, RMAGENT_TOKEN: 'tok' }).code).toBe(0);
    expect(configure({ ...env, RMAGENT_TOKEN_FILE: hostile }).code).toBe(0);
    const argv = fs.readFileSync(args, 'utf8').trim().split('\n');
    expect(argv.filter((a) => a.startsWith('--node-options='))).toEqual([]);
    expect(argv).toContain(`--alias=${hostile}`);
    expect(argv).toContain(`--token-file=${hostile}`);
  });

  it('creates the allow-changes opt-in from the environment or enroll.env (the .deb/.rpm path), the environment winning', () => {
    const allow = path.join(tmp, 'state', 'allow-changes');
    fs.writeFileSync(path.join(tmp, 'enroll.env'), 'RMAGENT_ALLOW_CHANGES=1\n', { mode: 0o600 });
    expect(configure({ RMAGENT_ALLOW_CHANGES: '0' }).code).toBe(0);
    expect(fs.existsSync(allow)).toBe(false);
    expect(configure({}).code).toBe(0);
    expect(modeOf(allow)).toBe('0600');
    expect(modeOf(path.join(tmp, 'state'))).toBe('0700');
    expect(fs.readFileSync(allow, 'utf8')).toContain('Delete this file');
    expect(fs.existsSync(path.join(tmp, 'calls.log'))).toBe(false); // no server/token: nothing enrolled
    fs.rmSync(path.join(tmp, 'enroll.env'));
    expect(configure({}).code).toBe(0); // an upgrade without the variable keeps the file
    expect(fs.existsSync(allow)).toBe(true);
    const bad = configure({ RMAGENT_ALLOW_CHANGES: 'please' });
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('RMAGENT_ALLOW_CHANGES must be 1 or 0');
  });

  it('makes an enroll.env other accounts can read 0600 at once and says the token may have leaked (it stays when enrollment fails)', () => {
    fs.writeFileSync(path.join(tmp, 'enroll.env'), 'RMAGENT_SERVER=wss://x\nRMAGENT_TOKEN=t\n', { mode: 0o644 });
    fs.chmodSync(path.join(tmp, 'enroll.env'), 0o644); // as an administrator's default umask leaves it
    const r = configure({ STAND_IN_EXIT: '5' });
    expect(r.code).toBe(5);
    expect(modeOf(path.join(tmp, 'enroll.env'))).toBe('0600');
    expect(r.stderr).toMatch(/could be read by other accounts.*revoke it/);
    // A private file says nothing.
    expect(configure({ STAND_IN_EXIT: '5' }).stderr).not.toContain('warning');
  });

  it('keeps enroll.env when enrollment fails, and returns the failure', () => {
    fs.writeFileSync(path.join(tmp, 'enroll.env'), 'RMAGENT_SERVER=wss://x\nRMAGENT_TOKEN=t\n', { mode: 0o600 });
    expect(configure({ STAND_IN_EXIT: '5' }).code).toBe(5);
    expect(fs.existsSync(path.join(tmp, 'enroll.env'))).toBe(true);
  });
});
