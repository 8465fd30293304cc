// The .deb on this machine, as root: install configured by environment, reinstall, upgrade, remove,
// purge, and enrollment from a dropped /etc/rmagent/enroll.env. Steps run in order on one machine.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD, FULL_VERSION, PACKAGE_TEST, ROOT, VERSION, artifact, has, modeOf, run, snapshot } from './artifacts.js';

const ROOT_USER = process.getuid?.() === 0;
const SERVER = 'ws://127.0.0.1:9/agent';
const TOKEN = 'enroll-token-7f3a9c'; // must never show in the installer's output
const STATE = '/var/lib/rmagent';
const UNIT = '/lib/systemd/system/rmagent.service';
const deb = artifact(`rmagent_${FULL_VERSION}_amd64.deb`);

const dpkg = (args: string[], env: NodeJS.ProcessEnv = {}) => run('dpkg', args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', ...env } });
const installed = () => dpkg(['-s', 'rmagent']).code === 0;
const stateFiles = () => (fs.existsSync(STATE) ? fs.readdirSync(STATE, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)) : []);
const registrationText = () => stateFiles().map((f) => fs.readFileSync(f, 'utf8')).join('\n');

describe.skipIf(!PACKAGE_TEST || !ROOT_USER || !has('dpkg'))('.deb on this machine', () => {
  let tmp: string;

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmagent-deb-'));
    if (installed()) dpkg(['-P', 'rmagent']);
  });
  afterAll(() => {
    if (installed()) dpkg(['-P', 'rmagent']);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('installs silently, configured by RMAGENT_* variables: files, owners, modes, unit, registration, allow-changes opt-in', () => {
    const r = dpkg(['-i', deb], { RMAGENT_SERVER: SERVER, RMAGENT_TOKEN: TOKEN, RMAGENT_ALIAS: 'ci-device', RMAGENT_ALLOW_CHANGES: '1' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
    expect(r.stderr).not.toMatch(/enrollment failed/);

    for (const [file, mode] of [['/usr/bin/rmagent', '0755'], ['/usr/lib/rmagent/configure', '0755'], [UNIT, '0644'], ['/etc/rmagent/config.json', '0644'], [STATE, '0700'], ['/var/log/rmagent', '0700']] as const) {
      expect(modeOf(file), file).toBe(mode);
      expect(fs.statSync(file).uid, file).toBe(0);
      expect(fs.statSync(file).gid, file).toBe(0);
    }
    expect(run('dpkg-query', ['-W', '-f=${Conffiles}', 'rmagent']).stdout).toContain('/etc/rmagent/config.json');
    expect(fs.readlinkSync('/etc/systemd/system/multi-user.target.wants/rmagent.service')).toBe(UNIT);

    // The registration the enroll step wrote: private (0600) and pointing at the server given.
    expect(stateFiles().length).toBeGreaterThan(0);
    for (const f of stateFiles()) expect(modeOf(f), f).toBe('0600');
    expect(registrationText()).toContain(SERVER);
    expect(modeOf(path.join(STATE, 'allow-changes'))).toBe('0600'); // RMAGENT_ALLOW_CHANGES=1
    expect(run('/usr/bin/rmagent', ['version']).stdout).toContain(`rmagent ${FULL_VERSION}`);
  });

  it('ships a unit that systemd-analyze verify accepts, with the promised restart and hardening', () => {
    const r = run('systemd-analyze', ['verify', UNIT]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n').filter((l) => l.includes('rmagent.service'))).toEqual([]);
    const unit = fs.readFileSync(UNIT, 'utf8');
    for (const line of ['Documentation=man:rmagent(8)', 'ExecStart=/usr/bin/rmagent run', 'Restart=always', 'RestartSec=5', 'StartLimitIntervalSec=0', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=read-only', 'PrivateTmp=yes', 'PrivateDevices=yes', 'StateDirectory=rmagent', 'Environment=RMAGENT_LOG_TARGET=journald', 'Environment=MALLOC_MMAP_THRESHOLD_=131072', 'Environment=MALLOC_TOP_PAD_=0', 'SyslogLevelPrefix=yes']) {
      expect(unit.split('\n')).toContain(line);
    }
    // Nothing but the state folder is writable: changes to the machine go through transient units.
    expect(unit).not.toMatch(/^ReadWritePaths=/m);
    // systemd's own rating of the sandbox (test:system rates the installed unit under a running systemd too).
    const security = run('systemd-analyze', ['security', '--offline=yes', UNIT]);
    const level = Number(/Overall exposure level for rmagent\.service: ([\d.]+)/.exec(security.stdout)?.[1]);
    expect(level, security.stdout.slice(-400)).toBeLessThanOrEqual(3.0);
    expect(unit).toMatch(/^CPUQuota=\d+%$/m);
    expect(unit).toMatch(/^MemoryMax=\d+M$/m);
  });

  it('is lintian clean (overrides are justified in the package)', () => {
    if (!has('lintian')) return;
    const r = run('lintian', ['--fail-on', 'error,warning', deb]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('reinstalling the same version with the same parameters changes nothing', () => {
    const before = { ...snapshot(STATE), ...snapshot('/etc/rmagent'), bin: snapshot('/usr/bin')['/usr/bin/rmagent'] };
    const r = dpkg(['-i', deb], { RMAGENT_SERVER: SERVER, RMAGENT_TOKEN: TOKEN, RMAGENT_ALIAS: 'ci-device', RMAGENT_ALLOW_CHANGES: '1' });
    expect(r.code, r.stderr).toBe(0);
    expect({ ...snapshot(STATE), ...snapshot('/etc/rmagent'), bin: snapshot('/usr/bin')['/usr/bin/rmagent'] }).toEqual(before);
  });

  it('upgrading to a newer build keeps identity, registration, state and the edited config', () => {
    const newer = `${VERSION}+${BUILD + 1}`;
    const b = run('bash', [path.join(ROOT, 'installer/linux/build.sh'), artifact('rmagent-linux-x64'), 'x64', VERSION, String(BUILD + 1), tmp, 'deb']);
    expect(b.code, b.stderr).toBe(0);
    fs.writeFileSync('/etc/rmagent/config.json', '{\n  "logLevel": "debug"\n}\n');
    fs.writeFileSync(path.join(STATE, 'outbox-marker.json'), '{"seq":41}\n', { mode: 0o600 });
    const before = snapshot(STATE);

    const r = dpkg(['--force-confold', '-i', path.join(tmp, `rmagent_${newer}_amd64.deb`)]);
    expect(r.code, r.stderr).toBe(0);
    expect(run('dpkg-query', ['-W', '-f=${Version}', 'rmagent']).stdout).toBe(newer);
    expect(snapshot(STATE)).toEqual(before); // the allow-changes opt-in included
    expect(fs.existsSync(path.join(STATE, 'allow-changes'))).toBe(true);
    expect(fs.readFileSync('/etc/rmagent/config.json', 'utf8')).toContain('debug');
  });

  it('remove takes the program away and keeps state; purge removes state, logs and config', () => {
    expect(dpkg(['-r', 'rmagent']).code).toBe(0);
    expect(fs.existsSync('/usr/bin/rmagent')).toBe(false);
    expect(fs.existsSync(UNIT)).toBe(false);
    expect(registrationText()).toContain(SERVER);

    expect(dpkg(['-P', 'rmagent']).code).toBe(0);
    for (const gone of [STATE, '/var/log/rmagent', '/etc/rmagent']) expect(fs.existsSync(gone), gone).toBe(false);
  });

  it('enrolls from an enroll.env dropped before install, then deletes that file (the token is spent)', () => {
    fs.mkdirSync('/etc/rmagent', { recursive: true });
    fs.writeFileSync('/etc/rmagent/enroll.env', `# dropped by the deployment tool\nRMAGENT_SERVER=${SERVER}\nRMAGENT_TOKEN="${TOKEN}"\nRMAGENT_ALIAS=from-file\n`, { mode: 0o600 });
    const r = dpkg(['--force-confold', '-i', deb]);
    expect(r.code, r.stderr).toBe(0);
    expect(registrationText()).toContain(SERVER);
    expect(fs.existsSync('/etc/rmagent/enroll.env')).toBe(false);
    expect(dpkg(['-P', 'rmagent']).code).toBe(0);
    expect(fs.existsSync(STATE)).toBe(false);
  });
});
