// Attack (issue 15): a local user lists every process's command line (/proc/PID/cmdline is world-readable) while
// an installer enrolls the device, hoping to catch the enrollment token. configure.sh (the .deb/.rpm maintainer
// scripts call it) and install.sh run for real into a temporary root, with the real `rmagent enroll` behind a
// wrapper that lingers a moment so that a token on its command line could not be missed. Runs in `npm test`.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOT } from './artifacts.js';

const CLI = path.join(ROOT, 'build/src/cli/rmagent.js');
const TOKEN = 'sniff-me-0b7d9e4c1a';

// Scans /proc every ~2 ms until the stop file appears (at most 60 s), writing each command line that holds the token.
const SNIFFER = `
const fs = require('node:fs');
const [token, stopFile, outFile] = process.argv.slice(1);
const hits = new Set();
const end = Date.now() + 60000;
(function scan() {
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\\d+$/.test(pid) || pid === String(process.pid)) continue;
    let cmd = '';
    try { cmd = fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').split('\\0').join(' '); } catch { continue; }
    if (cmd.includes(token)) hits.add(pid + ': ' + cmd);
  }
  if (fs.existsSync(stopFile) || Date.now() > end) { fs.writeFileSync(outFile, [...hits].join('\\n')); return; }
  setTimeout(scan, 2);
})();
`;

describe('the enrollment token is never on a command line during install', () => {
  let tmp: string;
  let wrapper: string;
  beforeEach(() => {
    if (!fs.existsSync(CLI)) throw new Error('run `npm run build` first (npm test does it)');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmagent-sniff-'));
    wrapper = path.join(tmp, 'rmagent');
    // The real CLI, after a pause in which this wrapper's own command line is on show.
    fs.writeFileSync(wrapper, `#!/bin/sh\nsleep 0.4\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  async function sniffDuring(run: () => { status: number | null; stderr: string }): Promise<{ status: number | null; stderr: string; hits: string }> {
    const stop = path.join(tmp, 'stop');
    const out = path.join(tmp, 'hits');
    const sniffer = spawn(process.execPath, ['-e', SNIFFER, TOKEN, stop, out], { stdio: 'ignore', env: { PATH: process.env.PATH } });
    const exited = new Promise((r) => sniffer.once('exit', r));
    await new Promise((r) => setTimeout(r, 300));
    const result = run();
    fs.writeFileSync(stop, '');
    await exited;
    return { ...result, hits: fs.readFileSync(out, 'utf8') };
  }

  const baseEnv = () => ({ PATH: process.env.PATH, RMAGENT_MACHINE_ID: 'sniffed-machine', RMAGENT_CONFIG: path.join(tmp, 'none.json'), RMAGENT_IPC_PATH: path.join(tmp, 'ipc.sock') });

  it('configure (the .deb/.rpm path): from RMAGENT_TOKEN or a dropped enroll.env', async () => {
    fs.writeFileSync(path.join(tmp, 'none.json'), '{}');
    for (const how of ['env', 'enroll.env'] as const) {
      const state = path.join(tmp, `state-${how}`);
      const enrollFile = path.join(tmp, 'enroll.env');
      if (how === 'enroll.env') fs.writeFileSync(enrollFile, `RMAGENT_SERVER=ws://127.0.0.1:9/agent\nRMAGENT_TOKEN=${TOKEN}\n`, { mode: 0o600 });
      const r = await sniffDuring(() =>
        spawnSync('sh', [path.join(ROOT, 'installer/linux/configure.sh')], {
          encoding: 'utf8',
          timeout: 60_000,
          env: { ...baseEnv(), RMAGENT_BIN: wrapper, RMAGENT_ENROLL_FILE: enrollFile, RMAGENT_STATE_DIR: state, RMAGENT_ALLOW_CHANGES_FILE: path.join(state, 'allow-changes'), ...(how === 'env' ? { RMAGENT_SERVER: 'ws://127.0.0.1:9/agent', RMAGENT_TOKEN: TOKEN } : {}) },
        }),
      );
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(fs.readFileSync(path.join(state, 'registration.json'), 'utf8')).enrollmentToken, how).toBe(TOKEN);
      expect(r.hits, `token seen on a command line (${how})`).toBe('');
    }
  });

  it('install.sh: from --token-file FILE and from standard input (--token-file -)', async () => {
    fs.writeFileSync(path.join(tmp, 'none.json'), '{}');
    const tokenFile = path.join(tmp, 'token');
    fs.writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    for (const source of [tokenFile, '-']) {
      const prefix = fs.mkdtempSync(path.join(tmp, 'root-'));
      const r = await sniffDuring(() =>
        spawnSync('sh', [path.join(ROOT, 'installer/linux/install.sh'), '--binary', wrapper, '--server', 'ws://127.0.0.1:9/agent', '--token-file', source, '--quiet'], {
          encoding: 'utf8',
          timeout: 60_000,
          input: source === '-' ? `${TOKEN}\n` : '',
          env: { ...baseEnv(), RMAGENT_PREFIX: prefix, RMAGENT_STATE_DIR: path.join(prefix, 'var/lib/rmagent') },
        }),
      );
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(fs.readFileSync(path.join(prefix, 'var/lib/rmagent/registration.json'), 'utf8')).enrollmentToken).toBe(TOKEN);
      expect(r.hits, `token seen on a command line (${source})`).toBe('');
    }
  });
});
