// Backup on the device: snapshots the policy's folders on its schedule (a heavy job), verifies and prunes,
// restores on `backup.restore` (only with the local opt-in, ../opt-in.ts), and enforces that only the
// account that installed Backup installs, changes or restores it. The converger passes service.install /
// policy.assign frames for 'backup' to handleCommand before applying them: an outcome means "refused",
// undefined means "go ahead".
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as z from 'zod/mini';
import { ensureDir, readJsonFile, removeFile, writeJsonAtomic } from '../../system/files.js';
import { isRmError, problem, type Problem } from '../../protocol/errors.js';
import type { CommandType, Frame } from '../../protocol/frames.js';
import type { Policy } from '../../protocol/model.js';
import type { CommandOutcome, RmService, ServiceFactory, ServiceRuntime } from '../../agent/contracts.js';
import { createTicker, isDue, type HeavyJobScheduler } from '../budget.js';
import { allowChangesFileOfService, changesAllowed } from '../opt-in.js';
import { checkActor, type BackupAction } from './actor.js';
import { backupDefaultSettings, backupPolicySchema, type BackupPolicy } from '../../protocol/policies/backup.js';
import { createSystemRunner, type SystemChangeRunner } from '../../system/system-runner.js';
import { selfInvocation, type SelfInvocation } from '../../system/self.js';
import { createJobLauncher, type JobEnd } from './job-launcher.js';
import type { JobSpec } from './job-spec.js';
import { checkRestoreTarget, protectedFolders } from './restore-target.js';

export interface BackupDeps {
  scheduler: HeavyJobScheduler;
  tickMs?: number;
  /** Where jobs run (a transient systemd unit or a plain child); default: plain children. */
  changes?: SystemChangeRunner;
  /** How to start `rmagent backup-job` (default: this process's own executable and entry script). */
  self?: SelfInvocation;
}

const StateSchema = z.object({
  owner: z.nullable(z.string()),
  ownerRecordedAt: z.nullable(z.number()),
  lastRunAt: z.nullable(z.number()),
  lastSnapshot: z.nullable(z.string()),
});
type BackupState = z.infer<typeof StateSchema>;
const EMPTY: BackupState = { owner: null, ownerRecordedAt: null, lastRunAt: null, lastSnapshot: null };

// Refused before anything was written: the request or what it points at is not acceptable.
const REFUSALS = new Set(['BACKUP_UNSAFE_PATH', 'BACKUP_SNAPSHOT_MISSING', 'BACKUP_MANIFEST_UNTRUSTED', 'BACKUP_DESTINATION_UNSAFE', 'BACKUP_RESTORE_TARGET_UNSAFE']);

const ACTION_OF: Partial<Record<CommandType, BackupAction>> = {
  'service.install': 'install',
  'policy.assign': 'change',
  'backup.restore': 'restore',
  'backup.run': 'run',
};

export function createBackupService(deps: BackupDeps): ServiceFactory {
  return (runtime) => backupService(deps, runtime);
}

function backupService(deps: BackupDeps, runtime: ServiceRuntime): RmService {
  const stateFile = path.join(runtime.stateDir, 'backup.json');
  const allowFile = allowChangesFileOfService(runtime.stateDir);
  let policy: BackupPolicy = backupDefaultSettings;
  // Aborted by stop()/uninstall(): drops this service's waiting heavy jobs and tells a running one.
  let lastError: string | null = null;
  // Manifests at the destination that are not sealed by this device (planted, changed, or from another install).
  let untrusted: { destination: string; count: number; first: string } | null = null;

  const loadState = async (): Promise<BackupState> => {
    const r = await readJsonFile(stateFile, StateSchema);
    if (r.status === 'invalid') runtime.logger.warn('backup: state unreadable', { reason: r.reason });
    return r.status === 'ok' ? r.value : EMPTY;
  };
  const saveState = async (patch: Partial<BackupState>) => writeJsonAtomic(stateFile, { ...(await loadState()), ...patch });
  const fail = (code: string, message: string, status: 'failed' | 'rejected' = 'failed'): CommandOutcome => ({ status, reason: { code, message } });

  const launcher = createJobLauncher({
    stateDir: runtime.stateDir,
    changes: deps.changes ?? createSystemRunner({ runner: runtime.runner, workDir: path.join(runtime.stateDir, 'changes'), systemd: false }),
    self: deps.self ?? selfInvocation(),
    now: runtime.clock.now,
  });

  /**
   * Runs one job out of process inside the heavy-job budget and turns its end into an outcome. When the service
   * stops (agent shutdown) while the job runs, the job keeps going: the outcome is `later`, and the agent that
   * starts next waits for it (resume()) and settles the command.
   */
  async function runJob(spec: JobSpec, options: { maxJitterMs?: number; window?: BackupPolicy['window'] }): Promise<CommandOutcome> {
    let started = false;
    const result = await deps.scheduler.run(
      spec.kind === 'snapshot' ? 'backup' : 'backup-restore',
      async (signal) => {
        const { exit } = await launcher.start(spec);
        started = true;
        return launcher.wait(spec.jobId, exit, signal);
      },
      { ...options, signal: ticker.signal },
    );
    if (!result.ran && started) return { status: 'done', later: true };
    if (!result.ran) return fail('SERVICE_FAILED', `${spec.kind === 'snapshot' ? 'backup' : 'restore'} not run: ${result.reason}`, 'rejected');
    if (result.value.status === 'detached') return { status: 'done', later: true };
    return finish(spec, result.value);
  }

  /** Reports a job's end, records a snapshot as the last one, forgets the job; the command's outcome. */
  async function finish(spec: JobSpec, end: Exclude<JobEnd, { status: 'detached' }>): Promise<CommandOutcome> {
    const outcome = await outcomeOf(spec, end);
    await launcher.remove(spec.jobId);
    return outcome;
  }

  async function outcomeOf(spec: JobSpec, end: Exclude<JobEnd, { status: 'detached' }>): Promise<CommandOutcome> {
    if (end.status === 'failed') {
      runtime.logger.error('backup: job failed', { job: spec.jobId, kind: spec.kind, reason: end.message });
      lastError = end.message;
      return fail('BACKUP_JOB_FAILED', end.message);
    }
    const r = end.result;
    if (r.kind === 'error') {
      if (r.code === 'BACKUP_MANIFEST_UNTRUSTED' || r.code === 'BACKUP_DESTINATION_UNSAFE' || REFUSALS.has(r.code)) return fail(r.code, r.message, 'rejected');
      return fail(r.code, r.message);
    }
    if (r.kind === 'restore') {
      await runtime.report('backup', { event: 'restore', result: 'succeeded', ...r.restore, durationMs: Math.max(0, runtime.clock.now() - spec.createdAt), peakRssBytes: r.peakRssBytes });
      return { status: 'done' };
    }
    for (const w of r.warnings) runtime.logger.warn(`backup: ${w}`);
    untrusted = r.untrusted && spec.kind === 'snapshot' ? { destination: spec.destination, count: r.untrusted.count, first: r.untrusted.first } : null;
    if (untrusted) runtime.logger.warn('backup: untrusted manifests at the destination; pruning paused', { destination: untrusted.destination, count: untrusted.count, first: untrusted.first });
    await runtime.report('backup', {
      event: 'snapshot',
      snapshot: r.snapshot.id,
      createdAt: r.snapshot.createdAt,
      ...r.snapshot.stats,
      dirs: r.snapshot.dirs,
      skippedPaths: r.snapshot.skippedPaths,
      verified: r.verified,
      pruned: r.pruned,
      peakRssBytes: r.peakRssBytes,
    });
    await saveState({ lastRunAt: r.snapshot.createdAt, lastSnapshot: r.snapshot.id });
    if (r.verified && r.verified.bad) return fail('BACKUP_VERIFY_FAILED', `${r.verified.bad} stored blob(s) do not match their hash`);
    runtime.logger.info('backup: snapshot taken', { snapshot: r.snapshot.id, files: r.snapshot.stats.files, bytesStored: r.snapshot.stats.bytesStored, jobPeakRssBytes: r.peakRssBytes });
    return { status: 'done' };
  }

  /** Takes one snapshot now (out of process, inside the heavy-job budget): snapshot, verify, prune, report. */
  async function runBackup(commandId: string | null, maxJitterMs: number, window: BackupPolicy['window']): Promise<CommandOutcome> {
    const { folders, destination, exclude } = policy;
    if (folders.length === 0 || !destination) return fail('POLICY_INVALID', 'the backup policy names no folders or no destination', 'rejected');
    const state = await loadState();
    const now = runtime.clock.now();
    const spec: JobSpec = {
      v: 1, kind: 'snapshot', jobId: launcher.newJobId(), commandId, createdAt: now, stateDir: path.resolve(runtime.stateDir), destination, lastSnapshot: state.lastSnapshot,
      snapshotId: `s${now.toString(36)}-${randomBytes(4).toString('hex')}`, folders, exclude, actor: state.owner, keep: policy.retention.keep, verify: policy.verify, verifyPercent: policy.verifySamplePercent,
    };
    return runJob(spec, { maxJitterMs, window });
  }

  // A restore is a heavy job too: it must not overlap a backup whose retention could prune its chunks.
  // Every restore writes outside the agent's own files (even to a new folder), so every one needs the opt-in.
  async function restore(commandId: string, body: { snapshot?: string; target?: string; paths?: string[] }): Promise<CommandOutcome> {
    if (!(await changesAllowed(allowFile))) return fail('CHANGES_NOT_ALLOWED', `restores need the local opt-in: ${allowFile} does not exist`, 'rejected');
    const destination = policy.destination;
    if (!destination) return fail('BACKUP_SNAPSHOT_MISSING', 'no backup destination in the policy', 'rejected');
    if (body.target !== undefined && !path.isAbsolute(body.target)) return fail('BACKUP_UNSAFE_PATH', `restore target must be an absolute path: ${body.target.slice(0, 200)}`, 'rejected');
    // A restore into (or over) the repository or the agent's own files is refused before any job starts; the job
    // checks again against the destination's real path (restore-target.ts).
    const privateDirs = (runtime.privateDirs ?? []).map((d) => path.resolve(d));
    await checkRestoreTarget({ target: body.target ?? null, paths: body.paths, policyFolders: policy.folders }, protectedFolders(destination, runtime.stateDir, privateDirs));
    const spec: JobSpec = {
      v: 1, kind: 'restore', jobId: launcher.newJobId(), commandId, createdAt: runtime.clock.now(), stateDir: path.resolve(runtime.stateDir), destination, lastSnapshot: (await loadState()).lastSnapshot,
      snapshot: body.snapshot ?? null, target: body.target ?? null, ...(body.paths ? { paths: body.paths } : {}), policyFolders: policy.folders, privateDirs,
    };
    return runJob(spec, {});
  }

  /**
   * Jobs an earlier agent started and did not see end (it stopped or crashed meanwhile): waited for inside the
   * heavy-job budget (no new job overlaps them), reported, and their commands settled, once each.
   */
  let resumed = false;
  function resume(): void {
    if (resumed) return;
    resumed = true;
    void (async () => {
      for (const spec of await launcher.pending()) {
        runtime.logger.info('backup: waiting for a job started before this agent', { job: spec.jobId, kind: spec.kind, commandId: spec.commandId });
        const result = await deps.scheduler.run('backup', (signal) => launcher.wait(spec.jobId, null, signal), { signal: ticker.signal });
        if (!result.ran || result.value.status === 'detached') return; // stopping again: the next start resumes it
        const outcome = await finish(spec, result.value);
        if (outcome.status !== 'done') await reportFailure(spec.kind === 'snapshot' ? 'snapshot' : 'restore', outcome);
        if (spec.commandId && runtime.settle) await runtime.settle(spec.commandId, outcome);
      }
    })().catch((err: unknown) => runtime.logger.error('backup: resuming jobs failed', { error: err }));
  }

  const asOutcome = (err: unknown): CommandOutcome => {
    if (isRmError(err)) return fail(err.code, err.message, REFUSALS.has(err.code) ? 'rejected' : 'failed');
    lastError = err instanceof Error ? err.message : String(err);
    return fail('SERVICE_FAILED', lastError);
  };

  /** Failed runs are reported too, so the console sees every backup and restore attempt. */
  async function reportFailure(event: 'snapshot' | 'restore', outcome: CommandOutcome): Promise<CommandOutcome> {
    if (outcome.status !== 'done' && outcome.reason && !outcome.later) await runtime.report('backup', { event, result: 'failed', code: outcome.reason.code.slice(0, 64), message: outcome.reason.message.slice(0, 2048) });
    return outcome;
  }

  async function tick(): Promise<void> {
    if (policy.folders.length === 0 || !policy.destination) return;
    const state = await loadState();
    if (!isDue(policy.schedule, state.lastRunAt, new Date(runtime.clock.now()))) return;
    const outcome = await runBackup(null, policy.maxJitterSec * 1000, policy.window).catch(asOutcome);
    // An unsafe destination or untrusted manifests refuse the run: as visible as a failure (not like "outside the window").
    const visible = outcome.status === 'failed' || REFUSALS.has(outcome.reason?.code ?? '');
    if (visible) await reportFailure('snapshot', outcome);
    lastError = visible ? (outcome.reason?.message ?? 'backup failed') : null;
  }

  /** The owner check for every command that names an account; records the owner on first sight. */
  async function gate(frame: Frame & { type: CommandType }): Promise<CommandOutcome | null> {
    const action = ACTION_OF[frame.type];
    if (!action) return null;
    const state = await loadState();
    const decision = checkActor(state.owner, (frame.body as { actor?: string }).actor, action);
    if (!decision.ok) {
      runtime.logger.warn('backup: command refused (not the Backup owner)', { type: frame.type, commandId: frame.id });
      return fail('BACKUP_ACTOR_MISMATCH', decision.message, 'rejected');
    }
    if (decision.record) await saveState({ owner: decision.record, ownerRecordedAt: runtime.clock.now() });
    return null;
  }

  const ticker = createTicker(deps.tickMs ?? 60_000, tick, (err) => {
    lastError = err instanceof Error ? err.message : String(err);
    runtime.logger.error('backup: run failed', { error: lastError });
  });

  return {
    name: 'backup',
    policySchema: backupPolicySchema,
    async install() {
      await ensureDir(runtime.stateDir);
    },
    async apply(_policy: Policy, settings: unknown) {
      policy = backupPolicySchema.parse(settings ?? {});
      ticker.start();
      resume();
    },
    async uninstall() {
      await ticker.stop();
      // The snapshots at the destination are the customer's data and stay; only the owner record goes.
      await removeFile(stateFile);
    },
    async stop() {
      await ticker.stop();
    },
    problems(): Problem[] {
      return [
        ...(lastError ? [problem('SERVICE_FAILED', `backup: ${lastError}`)] : []),
        ...(untrusted ? [problem('BACKUP_MANIFEST_UNTRUSTED', `${untrusted.count} at ${untrusted.destination} (${untrusted.first}); pruning is paused`)] : []),
      ];
    },
    async handleCommand(frame) {
      if (!ACTION_OF[frame.type]) return undefined;
      try {
        const refused = await gate(frame);
        if (refused) return refused;
        if (frame.type === 'backup.run') return await reportFailure('snapshot', await runBackup(frame.id, 0, null).catch(asOutcome));
        if (frame.type === 'backup.restore') return await reportFailure('restore', await restore(frame.id, frame.body as { snapshot?: string; target?: string; paths?: string[] }).catch(asOutcome));
        return undefined; // service.install / policy.assign: allowed, the converger carries on
      } catch (err) {
        return asOutcome(err);
      }
    },
  };
}
