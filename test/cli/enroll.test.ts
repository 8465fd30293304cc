// `rmagent enroll` and `rmagent unenroll` as an MDM runs them: the built CLI as a child process, state in a temp folder.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runNode } from '../../src/cli/processes.js';
import { createIdentityStore } from '../../src/agent/identity.js';
import { generateKeyPair } from '../../src/protocol/sign.js';
import { systemClock } from '../../src/system/clock.js';
import { silentLogger } from '../../src/log.js';

const CLI = path.resolve(__dirname, '../../build/src/cli/rmagent.js');
const TOKEN = 'enroll-token-3f9a1c77';

function home(machineId = 'machine-a') {
  const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-enroll-'));
  const stateDir = path.join(dir, 'state');
  const logDir = path.join(dir, 'logs');
  writeFileSync(path.join(dir, 'config.json'), '{}');
  const env = { ...process.env, RMAGENT_CONFIG: path.join(dir, 'config.json'), RMAGENT_MACHINE_ID: machineId };
  const run = (...args: string[]) => runNode(CLI, [...args, '--state-dir', stateDir, '--log-dir', logDir], env);
  return { dir, stateDir, logDir, run };
}

describe('rmagent enroll', () => {
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error('run `npm run build` first (npm test does it)');
  });

  it('registers, then the same command again is a no-op; files are 0600 and the token is never printed', async () => {
    const h = home();
    const args = ['enroll', '--server', 'http://127.0.0.1:8080', '--token', TOKEN, '--alias', 'laptop-7'];
    const first = await h.run(...args);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('registered with ws://127.0.0.1:8080/agent');
    const again = await h.run(...args, '--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ changed: false, server: 'ws://127.0.0.1:8080/agent', alias: 'laptop-7', enrollmentTokenRecorded: true });
    for (const out of [first, again]) expect(out.stdout + out.stderr).not.toContain(TOKEN);
    for (const f of ['registration.json', 'device.key']) expect(statSync(path.join(h.stateDir, f)).mode & 0o777).toBe(0o600);
    expect(statSync(h.stateDir).mode & 0o777).toBe(0o700);
  });

  it('another server is REGISTERED_ELSEWHERE (exit 3, with the fix); --force replaces the registration', async () => {
    const h = home();
    expect((await h.run('enroll', '--server', 'ws://127.0.0.1:1/agent', '--token', TOKEN)).code).toBe(0);
    const other = await h.run('enroll', '--server', 'wss://rm.example.com', '--token', TOKEN);
    expect(other.code).toBe(3);
    expect(other.stderr).toContain('REGISTERED_ELSEWHERE');
    expect(other.stderr).toContain('--force');
    const forced = await h.run('enroll', '--server', 'wss://rm.example.com', '--token', TOKEN, '--force');
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(readFileSync(path.join(h.stateDir, 'registration.json'), 'utf8')).serverUrl).toBe('wss://rm.example.com/agent');
  });

  it('usage errors exit 64: missing token, bad URL, bad server key', async () => {
    const h = home();
    const cases = [
      ['enroll', '--server', 'wss://rm.example.com'],
      ['enroll', '--server', 'ftp://rm.example.com', '--token', TOKEN],
      ['enroll', '--server', 'wss://rm.example.com', '--token', TOKEN, '--server-key', 'c2hvcnQ='],
      ['enroll', '--server', 'wss://rm.example.com', '--token', TOKEN, '--bogus'],
    ];
    for (const args of cases) {
      const r = await h.run(...args);
      expect(r.code, args.join(' ')).toBe(64);
      expect(r.stderr).toContain('CLI_USAGE');
    }
    expect(existsSync(path.join(h.stateDir, 'registration.json'))).toBe(false);
    const help = await h.run('enroll', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--server URL --token-file FILE');
  });


  it('a wrong value in the config file is refused with what is allowed, in words', async () => {
    // zod/mini has no messages of its own: the entry installs the English ones (src/protocol/zod-locale.ts).
    const h = home();
    writeFileSync(path.join(h.dir, 'config.json'), JSON.stringify({ connection: { heartbeatSec: 0 } }));
    const r = await h.run('enroll', '--server', 'wss://rm.example.com', '--token', TOKEN);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('CONFIG_INVALID');
    expect(r.stderr).toMatch(/connection\.heartbeatSec=0: too small: expected number to be >=1/i);
    expect(existsSync(path.join(h.stateDir, 'registration.json'))).toBe(false);
  });
  it('pins --server-key; a cloned disk (other machine id) is noticed and gets a new identity', async () => {
    const h = home('machine-a');
    const serverKey = generateKeyPair().publicKey;
    expect((await h.run('enroll', '--server', 'ws://127.0.0.1:1', '--token', TOKEN, '--server-key', serverKey)).code).toBe(0);
    const original = createIdentityStore({ stateDir: h.stateDir, machineId: 'machine-a', clock: systemClock, logger: silentLogger() });
    const enrolled = await original.markEnrolled('dev-1', serverKey);
    expect(enrolled.serverKeys).toEqual([serverKey]);

    const clone = createIdentityStore({ stateDir: h.stateDir, machineId: 'machine-b', clock: systemClock, logger: silentLogger() });
    const r = await clone.load();
    expect(r).toMatchObject({ deviceId: null, serverKeys: [serverKey] });
    expect(r!.publicKey).not.toBe(enrolled.publicKey);
    expect(clone.problems().map((p) => p.code)).toContain('CLONED_IDENTITY');
  });
});

describe('rmagent unenroll', () => {
  it('needs --yes, removes registration, key and state, keeps logs, and is idempotent', async () => {
    const h = home();
    expect((await h.run('enroll', '--server', 'ws://127.0.0.1:1', '--token', TOKEN)).code).toBe(0);
    mkdirSync(path.join(h.stateDir, 'outbox'));
    writeFileSync(path.join(h.stateDir, 'outbox', '000000000001.json'), '{}');
    mkdirSync(h.logDir, { recursive: true });
    writeFileSync(path.join(h.logDir, 'rmagent.log'), 'log line\n');
    const refused = await h.run('unenroll');
    expect(refused.code).toBe(64);
    expect(existsSync(path.join(h.stateDir, 'registration.json'))).toBe(true);
    const done = await h.run('unenroll', '--yes');
    expect(done.code, done.stderr).toBe(0);
    for (const f of ['registration.json', 'device.key', 'outbox']) expect(existsSync(path.join(h.stateDir, f)), f).toBe(false);
    expect(readFileSync(path.join(h.logDir, 'rmagent.log'), 'utf8')).toBe('log line\n');
    const again = await h.run('unenroll', '--yes');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('nothing to remove');
  });
});
