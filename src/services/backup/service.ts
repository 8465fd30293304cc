// Backup on the device: snapshots the policy's folders on its schedule (a heavy job), verifies and prunes,
// restores on `backup.restore` (only with the local opt-in, ../opt-in.ts), and enforces that only the
// account that installed Backup installs, changes or restores it. The converger passes service.install /
// policy.assign frames for 'backup' to handleCommand before applying them: an outcome means "refused",
// undefined means "go ahead".
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as z from 'zod/mini';
import { ensureDir, readJsonFile, removeFile, writeJsonAtomic } from '../../system/files.js';
import { isRmError, problem, RmError, type Problem } from '../../protocol/errors.js';
import type { CommandType, Frame } from '../../protocol/frames.js';
import type { Policy } from '../../protocol/model.js';
import type { CommandOutcome, RmService, ServiceFactory, ServiceRuntime } from '../../agent/contracts.js';
import { createTicker, isDue, type HeavyJobScheduler } from '../budget.js';
import { allowChangesFileOfService, changesAllowed } from '../opt-in.js';
import { checkActor, type BackupAction } from './actor.js';
import { backupDefaultSettings, backupPolicySchema, type BackupPolicy } from '../../protocol/policies/backup.js';
import { restoreSnapshot } from './restore.js';
import { listSnapshots, pruneSnapshots, readManifest, takeSnapshot, verifySnapshot, type BackupStore } from './snapshot.js';
import { loadManifestKey, openDestination } from './destination.js';
import { newestSnapshot, type Manifest } from './manifest.js';

export interface BackupDeps {
  scheduler: HeavyJobScheduler;
  tickMs?: number;
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
const REFUSALS = new Set(['BACKUP_UNSAFE_PATH', 'BACKUP_SNAPSHOT_MISSING', 'BACKUP_MANIFEST_UNTRUSTED', 'BACKUP_DESTINATION_UNSAFE']);

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

  /**
   * The snapshot to start from: the one this agent recorded as its last (its own state, 0600), else the newest
   * sealed one. A manifest at the destination never becomes "latest" by claiming a later createdAt.
   */
  async function latestSnapshot(store: BackupStore): Promise<Manifest | null> {
    const recorded = (await loadState()).lastSnapshot;
    if (recorded) {
      const own = await readManifest(store, recorded).catch(() => null);
      if (own) return own;
    }
    return newestSnapshot((await listSnapshots(store)).snapshots);
  }

  /** Takes one snapshot now (inside the heavy-job budget), verifies it, prunes, reports. */
  async function runBackup(maxJitterMs: number, window: BackupPolicy['window']): Promise<CommandOutcome> {
    const { folders, destination, exclude } = policy;
    if (folders.length === 0 || !destination) return fail('POLICY_INVALID', 'the backup policy names no folders or no destination', 'rejected');
    const result = await deps.scheduler.run(
      'backup',
      async (signal) => {
        const { store, real } = await openDestination(destination, await loadManifestKey(runtime.stateDir));
        const previous = await latestSnapshot(store);
        const state = await loadState();
        const now = runtime.clock.now();
        const id = `s${now.toString(36)}-${randomBytes(4).toString('hex')}`;
        const onWarning = (message: string) => runtime.logger.warn(`backup: ${message}`);
        const manifest = await takeSnapshot(store, { folders, exclude, actor: state.owner, now: runtime.clock.now, id, skip: [real], signal, onWarning }, previous);
        const verified = policy.verify ? await verifySnapshot(store, manifest) : null;
        const pruned = await pruneSnapshots(store, policy.retention.keep);
        untrusted = pruned.untrusted.length ? { destination, count: pruned.untrusted.length, first: pruned.untrusted[0]!.reason } : null;
        if (untrusted) runtime.logger.warn('backup: untrusted manifests at the destination; pruning paused', { destination, count: untrusted.count, first: untrusted.first });
        return { manifest, verified, pruned };
      },
      { maxJitterMs, window, signal: ticker.signal },
    );
    if (!result.ran) return fail('SERVICE_FAILED', `backup not run: ${result.reason}`, 'rejected');
    const { manifest, verified, pruned } = result.value;
    await runtime.report('backup', {
      event: 'snapshot',
      snapshot: manifest.id,
      createdAt: manifest.createdAt,
      ...manifest.stats,
      verified: verified ? { chunks: verified.chunks, bad: verified.bad.length } : null,
      pruned: { snapshots: pruned.snapshots, chunks: pruned.chunks, bytes: pruned.bytes },
    });
    await saveState({ lastRunAt: manifest.createdAt, lastSnapshot: manifest.id });
    if (verified && verified.bad.length) return fail('BACKUP_VERIFY_FAILED', `${verified.bad.length} chunk(s) do not match their hash`);
    runtime.logger.info('backup: snapshot taken', { snapshot: manifest.id, files: manifest.stats.files, bytesStored: manifest.stats.bytesStored });
    return { status: 'done' };
  }

  // A restore is a heavy job too: it must not overlap a backup whose retention could prune its chunks.
  // Every restore writes outside the agent's own files (even to a new folder), so every one needs the opt-in.
  async function restore(body: { snapshot?: string; target?: string; paths?: string[] }): Promise<CommandOutcome> {
    if (!(await changesAllowed(allowFile))) return fail('CHANGES_NOT_ALLOWED', `restores need the local opt-in: ${allowFile} does not exist`, 'rejected');
    const destination = policy.destination;
    if (!destination) return fail('BACKUP_SNAPSHOT_MISSING', 'no backup destination in the policy', 'rejected');
    const startedAt = runtime.clock.now();
    const result = await deps.scheduler.run(
      'backup-restore',
      async () => {
        const { store } = await openDestination(destination, await loadManifestKey(runtime.stateDir));
        const manifest = body.snapshot ? await readManifest(store, body.snapshot) : await latestSnapshot(store);
        if (!manifest) throw new RmError('BACKUP_SNAPSHOT_MISSING', 'no snapshot has been taken yet');
        return restoreSnapshot(store, manifest, { target: body.target ?? null, paths: body.paths, policyFolders: policy.folders });
      },
      { signal: ticker.signal },
    );
    if (!result.ran) return fail('SERVICE_FAILED', `restore not run: ${result.reason}`, 'rejected');
    await runtime.report('backup', { event: 'restore', result: 'succeeded', ...result.value, durationMs: runtime.clock.now() - startedAt });
    return { status: 'done' };
  }

  const asOutcome = (err: unknown): CommandOutcome => {
    if (isRmError(err)) return fail(err.code, err.message, REFUSALS.has(err.code) ? 'rejected' : 'failed');
    lastError = err instanceof Error ? err.message : String(err);
    return fail('SERVICE_FAILED', lastError);
  };

  /** Failed runs are reported too, so the console sees every backup and restore attempt. */
  async function reportFailure(event: 'snapshot' | 'restore', outcome: CommandOutcome): Promise<CommandOutcome> {
    if (outcome.status !== 'done' && outcome.reason) await runtime.report('backup', { event, result: 'failed', code: outcome.reason.code, message: outcome.reason.message });
    return outcome;
  }

  async function tick(): Promise<void> {
    if (policy.folders.length === 0 || !policy.destination) return;
    const state = await loadState();
    if (!isDue(policy.schedule, state.lastRunAt, new Date(runtime.clock.now()))) return;
    const outcome = await runBackup(policy.maxJitterSec * 1000, policy.window).catch(asOutcome);
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
        if (frame.type === 'backup.run') return await reportFailure('snapshot', await runBackup(0, null).catch(asOutcome));
        if (frame.type === 'backup.restore') return await reportFailure('restore', await restore(frame.body as { snapshot?: string; target?: string; paths?: string[] }).catch(asOutcome));
        return undefined; // service.install / policy.assign: allowed, the converger carries on
      } catch (err) {
        return asOutcome(err);
      }
    },
  };
}
