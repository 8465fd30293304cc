// A careless administrator sets ipcPath to a folder every account can write (`/tmp/rmagent.sock`, a 0777 run
// folder). Another account can then move the agent's socket away and listen at its name: an administrator's
// `rmagent status` (or `unenroll`, which tells the daemon) talks to that account instead, which answers what it
// likes. The daemon refuses such a folder at start; the client asks only a socket of root or its own account.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = path.resolve(__dirname, '../../build/src/cli/rmagent.js');
const NOBODY = 65534;
const isRoot = process.platform !== 'win32' && process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-ipc-folder-'));
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, 'config.json'), '{}\n', { mode: 0o644 });
  const run = path.join(dir, 'run');
  mkdirSync(run);
  chmodSync(run, 0o777);
  const env: NodeJS.ProcessEnv = { ...process.env, RMAGENT_CONFIG: path.join(dir, 'config.json'), RMAGENT_MACHINE_ID: 'machine-ipc', RMAGENT_TEAMVIEWER_REQUIRED: 'false' };
  const common = ['--state-dir', path.join(dir, 'state'), '--log-dir', path.join(dir, 'logs'), '--ipc-path', path.join(run, 'rmagent.sock')];
  return { dir, run, env, common, socket: path.join(run, 'rmagent.sock') };
}

describe.runIf(isRoot)('an IPC endpoint in a folder another account can write (agent as root)', () => {
  it('the daemon refuses to start with it', async () => {
    const h = setup();
    const agent = spawnSync(process.execPath, [CLI, 'run', ...h.common], { env: h.env, encoding: 'utf8', timeout: 6_000 });
    expect(agent.status).toBe(3);
    expect(agent.stderr).toContain('IPC_ENDPOINT_UNSAFE');
  }, 20_000);

  it("rmagent status never asks another account's socket at that name (it would answer 'healthy')", async () => {
    const h = setup();
    const asked = path.join(h.run, 'asked.txt');
    const squatter = `
      const net = require('net'), fs = require('fs');
      net.createServer((s) => s.on('data', (d) => {
        fs.appendFileSync(${JSON.stringify(asked)}, d);
        s.end(JSON.stringify({ status: { fake: true } }) + '\\n');
      })).listen(${JSON.stringify(h.socket)}, () => { fs.chmodSync(${JSON.stringify(h.socket)}, 0o777); console.log('ready'); });
      setTimeout(() => process.exit(0), 15000);`;
    const squat = spawn(process.execPath, ['-e', squatter], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        squat.stdout.once('data', () => resolve());
        squat.once('exit', () => reject(new Error('the squatter did not start')));
      });
      const status = spawnSync(process.execPath, [CLI, 'status', '--json', ...h.common], { env: h.env, encoding: 'utf8', timeout: 20_000 });
      await sleep(100);
      expect(existsSync(asked) ? readFileSync(asked, 'utf8') : 'never asked').toBe('never asked');
      expect(JSON.parse(status.stdout)).toMatchObject({ schema: 'rmagent.status/v1', health: 'unhealthy' });
      expect(status.stdout).toContain(`uid ${NOBODY}`);
    } finally {
      squat.kill('SIGKILL');
    }
  }, 30_000);
});
