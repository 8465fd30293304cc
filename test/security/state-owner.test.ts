// A careless administrator points stateDir at a folder another account owns or can write (a user created it
// first, or it is 0777). The agent trusts what it finds there: the registration (server URL, pinned command key)
// and the allow-changes opt-in. So the attack: the user enrolls the folder with their own server, and the root
// agent connects to it (and would run what that server signs). The agent must refuse such a folder at start.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = path.resolve(__dirname, '../../build/src/cli/rmagent.js');
const NOBODY = 65534;
const isRoot = process.platform !== 'win32' && process.getuid?.() === 0;

describe.runIf(isRoot)('a state folder another account can change (agent as root)', () => {
  it.each([
    ['it belongs to another account', (state: string) => chownSync(state, NOBODY, NOBODY)],
    ['every account can write it', (state: string) => chmodSync(state, 0o777)],
  ])('is refused when it %s: the agent never talks to the server that account enrolled', async (_what, loosen) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-state-owner-'));
    chmodSync(dir, 0o755);
    writeFileSync(path.join(dir, 'config.json'), '{}\n', { mode: 0o644 });
    const state = path.join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    loosen(state);
    // The attacker's "server": it only needs to see the root agent knock.
    const knocks: string[] = [];
    const rogue = net.createServer((s) => { knocks.push('connected'); s.destroy(); });
    await new Promise<void>((r) => rogue.listen(0, '127.0.0.1', r));
    const port = (rogue.address() as net.AddressInfo).port;
    const env: NodeJS.ProcessEnv = { ...process.env, RMAGENT_CONFIG: path.join(dir, 'config.json'), RMAGENT_MACHINE_ID: 'machine-state', RMAGENT_TEAMVIEWER_REQUIRED: 'false', RMAGENT_BACKOFF_BASE_MS: '10', RMAGENT_BACKOFF_MAX_MS: '200' };
    delete env.RMAGENT_TOKEN;
    try {
      // The other account enrolls the folder with its own server.
      const enroll = spawnSync(process.execPath, [CLI, 'enroll', '--server', `ws://127.0.0.1:${port}`, '--token-file', '-', '--state-dir', state], { env, input: 'attacker-token\n', encoding: 'utf8', uid: NOBODY, gid: NOBODY, timeout: 20_000 });
      expect(enroll.status, enroll.stderr).toBe(0);
      const agent = spawn(process.execPath, [CLI, 'run', '--state-dir', state, '--log-dir', path.join(dir, 'logs'), '--ipc-path', path.join(dir, 'ipc.sock')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      agent.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      // Without the defence the daemon starts and knocks within a second or two; it runs until killed.
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => { agent.kill('SIGKILL'); resolve(null); }, 8_000);
        agent.on('exit', (c) => { clearTimeout(timer); resolve(c); });
      });
      expect(knocks).toEqual([]);
      expect(code).toBe(3);
      expect(stderr).toContain('STATE_UNSAFE');
    } finally {
      await new Promise((r) => rogue.close(r));
    }
  }, 40_000);
});
