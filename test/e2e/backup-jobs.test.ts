// Issue 22, real processes: a backup runs as its own `rmagent backup-job` process. The agent stopping (SIGTERM)
// or dying (SIGKILL) while the job runs does not lose the command: the job finishes, the agent that starts next
// finds its result and the server records exactly one final outcome (done) and one snapshot report. A job that
// crashes is a failed command (BACKUP_JOB_FAILED) while the agent stays up.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil, type Spawned } from '../../src/cli/processes.js';
import { agentHome, assertBuilt, startServer, tempDir, type AgentHome, type ServerProcess } from './harness.js';

type Command = { id: string; status: string; reason: { code: string; message: string } | null };
type Report = { kind: string; invalid: string | null; data: { event?: string; snapshot?: string; result?: string; code?: string } };

describe('Backup jobs outside the agent', () => {
  let server: ServerProcess;
  let home: AgentHome;
  let agent: Spawned;
  let deviceId: string;
  const jobsDir = () => path.join(home.stateDir, 'services', 'backup', 'jobs');

  beforeAll(async () => {
    assertBuilt();
    server = await startServer(tempDir('bj-server'));
    const { body } = await server.api<{ token: string }>('POST', '/enrollment-tokens', { expiresInSec: 600, maxUses: 1 });
    home = await agentHome('bj');
    const r = await home.cli('enroll', '--server', server.agentUrl, '--token', body.token, '--server-key', server.serverKey);
    expect(r.code, r.stderr).toBe(0);
    agent = await home.start();
    deviceId = (await home.waitFor('enrolled', (x) => x.connection.state === 'connected' && x.registration.enrolled)).registration.deviceId!;
    // Enough data that a job runs for a few seconds (64 MiB of random bytes: nothing compresses or dedups).
    const data = path.join(home.dir, 'documents');
    mkdirSync(data, { recursive: true });
    for (let i = 0; i < 4; i++) writeFileSync(path.join(data, `blob-${i}.bin`), randomBytes(16 * 1024 * 1024));
    const policy = await server.api<{ id: string }>('POST', '/policies', { name: 'Docs', service: 'backup', settings: { folders: [data], destination: path.join(home.dir, 'vault'), schedule: { everyHours: 24 }, maxJitterSec: 0 } });
    expect((await server.api('POST', '/services/backup/activate', { deviceIds: [deviceId], policyId: policy.body.id })).status).toBe(200);
    await home.waitFor('backup running', (x) => x.services.some((s) => s.name === 'backup' && s.phase === 'running'));
    // A first snapshot: the schedule (due at once, checked every minute) has nothing to do after it.
    const first = await server.api<{ id: string }>('POST', `/devices/${deviceId}/commands`, { type: 'backup.run', body: {} });
    expect(await finalOf(first.body.id)).toMatchObject({ status: 'done' });
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
  });

  const commands = async () => (await server.api<{ commands: Command[] }>('GET', `/devices/${deviceId}/commands`)).body.commands;
  const backupReports = async () => (await server.api<{ reports: Report[] }>('GET', `/devices/${deviceId}/reports?kind=backup&limit=500`)).body.reports;
  const runningJob = () => waitUntil(async () => {
    if (!existsSync(jobsDir())) return undefined;
    const job = readdirSync(jobsDir()).find((j) => existsSync(path.join(jobsDir(), j, 'heartbeat')));
    return job ? { id: job, pid: Number(readFileSync(path.join(jobsDir(), job, 'heartbeat'), 'utf8').trim()) } : undefined;
  }, 30_000, 'a running backup job', 20);
  const finalOf = (id: string) => waitUntil(async () => (await commands()).find((c) => c.id === id && ['done', 'failed', 'rejected'].includes(c.status)), 60_000, `command ${id} to end`);

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`the agent ${signal === 'SIGTERM' ? 'stopping' : 'killed'} while its backup job runs: the next agent settles the command once, as done`, async () => {
      const snapshotsBefore = (await backupReports()).filter((r) => r.data.event === 'snapshot').length;
      const run = await server.api<{ id: string }>('POST', `/devices/${deviceId}/commands`, { type: 'backup.run', body: {} });
      expect(run.status).toBe(202);
      const job = await runningJob();
      // The agent goes while the job has no result yet; the job outlives it.
      expect(existsSync(path.join(jobsDir(), job.id, 'result.json'))).toBe(false);
      await agent.stop(signal);
      agent = await home.start();
      const final = await finalOf(run.body.id);
      expect(final).toMatchObject({ status: 'done' });
      const snapshots = (await backupReports()).filter((r) => r.data.event === 'snapshot');
      expect(snapshots).toHaveLength(snapshotsBefore + 1);
      expect(snapshots.every((r) => r.data.result !== 'failed')).toBe(true);
      // The outcome is kept until the server has confirmed it, then dropped.
      await waitUntil(async () => {
        const file = path.join(home.stateDir, 'outcomes.json');
        const outcomes = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { outcomes: Array<{ commandId: string }> }).outcomes : [];
        return !outcomes.some((o) => o.commandId === run.body.id) || undefined;
      }, 30_000, 'the outcome to be confirmed');
      expect(readdirSync(jobsDir())).toEqual([]);
      expect((await commands()).find((c) => c.id === run.body.id)?.status).toBe('done');
    }, 120_000);
  }

  it('a backup job that crashes is a failed command; the agent stays up and the next backup works', async () => {
    const status = await home.live();
    const run = await server.api<{ id: string }>('POST', `/devices/${deviceId}/commands`, { type: 'backup.run', body: {} });
    const job = await runningJob();
    process.kill(job.pid, 'SIGKILL');
    const final = await finalOf(run.body.id);
    expect(final).toMatchObject({ status: 'failed', reason: { code: 'BACKUP_JOB_FAILED' } });
    expect(final.reason!.message).toMatch(/without a result/);
    const after = await home.live();
    expect(after?.agent.pid).toBe(status?.agent.pid);
    expect(after?.agent.pid).toEqual(expect.any(Number));
    expect((await backupReports()).some((r) => r.data.event === 'snapshot' && r.data.result === 'failed' && r.data.code === 'BACKUP_JOB_FAILED')).toBe(true);
    const again = await server.api<{ id: string }>('POST', `/devices/${deviceId}/commands`, { type: 'backup.run', body: {} });
    expect(await finalOf(again.body.id)).toMatchObject({ status: 'done' });
    // Every backup report (snapshots, the resumed ones, the failure) has the shape the server checks.
    expect((await backupReports()).filter((r) => r.invalid !== null)).toEqual([]);
  }, 120_000);
});
