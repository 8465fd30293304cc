// macOS files cannot be packaged on Linux (pkgbuild is macOS-only); their plists are validated here.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_TEST, ROOT, has, run } from './artifacts.js';

const dir = path.join(ROOT, 'installer/macos');
const value = (file: string, xpath: string) => run('xmllint', ['--xpath', xpath, path.join(dir, file)]).stdout.trim();

describe.skipIf(!PACKAGE_TEST || !has('xmllint'))('macOS launchd daemon and profile', () => {
  it('has a well-formed daemon plist that keeps the agent alive', () => {
    expect(run('xmllint', ['--noout', path.join(dir, 'com.rmagent.agent.plist')]).code).toBe(0);
    const plist = 'com.rmagent.agent.plist';
    expect(value(plist, "string(//key[.='Label']/following-sibling::*[1])")).toBe('com.rmagent.agent');
    expect(value(plist, "name(//key[.='KeepAlive']/following-sibling::*[1])")).toBe('true');
    expect(value(plist, "name(//key[.='RunAtLoad']/following-sibling::*[1])")).toBe('true');
    expect(value(plist, "string(//key[.='ThrottleInterval']/following-sibling::*[1])")).toBe('5');
    expect(value(plist, "string(//key[.='ProgramArguments']/following-sibling::array[1]/string[1])")).toBe('/usr/local/bin/rmagent');
  });

  it('has a configuration profile whose keys the postinstall script reads', () => {
    expect(run('xmllint', ['--noout', path.join(dir, 'com.rmagent.agent.mobileconfig')]).code).toBe(0);
    const postinstall = fs.readFileSync(path.join(dir, 'scripts/postinstall'), 'utf8');
    for (const key of ['ServerURL', 'EnrollToken', 'ServerKey', 'AssignmentID', 'Alias', 'AllowChanges']) {
      expect(value('com.rmagent.agent.mobileconfig', `count(//dict/key[.='${key}'])`), key).toBe('1');
      expect(postinstall).toContain(`pref ${key}`);
    }
    expect(postinstall).toContain('/Library/Managed Preferences/com.rmagent.agent.plist');
    expect(value('com.rmagent.agent.mobileconfig', "name(//dict/key[.='AllowChanges']/following-sibling::*[1])")).toBe('false'); // opt-in, off unless set
    expect(postinstall).toContain('ALLOW_FILE="$DATA/state/allow-changes"');
  });

  it('makes a dropped enroll.env (it holds the token) readable by root only, before reading it', () => {
    // Run the script's enroll.env part on this machine: a 0644 file holding a token becomes 0600, with a warning.
    const postinstall = fs.readFileSync(path.join(dir, 'scripts/postinstall'), 'utf8');
    const part = postinstall.slice(postinstall.indexOf('# trusted PATH'), postinstall.indexOf('# The local opt-in'));
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmagent-macos-'));
    const file = path.join(tmp, 'enroll.env');
    fs.writeFileSync(file, 'RMAGENT_TOKEN=secret\n', { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    const result = run('sh', ['-c', `set -u; ENROLL_FILE='${file}'\n${part}\necho "token=$RMAGENT_TOKEN"`]);
    expect(result.code).toBe(0);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(result.stderr).toContain('could be read by other accounts');
    expect(result.stdout).toContain('token=secret');
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('has shell scripts that parse', () => {
    for (const f of ['scripts/preinstall', 'scripts/postinstall', 'build-pkg.sh', 'uninstall.sh']) {
      expect(run('sh', ['-n', path.join(dir, f)]).code, f).toBe(0);
    }
  });
});
