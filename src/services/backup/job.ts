// The body of `rmagent backup-job --job FILE`: one snapshot (with verification and retention) or one restore,
// run in its own process so the agent's memory and life are not the job's. It touches its heartbeat while it
// runs and ends by writing result.json (temp file, fsync, rename): a job that dies before that has no result,
// and the agent reports it as failed (BACKUP_JOB_FAILED). Nothing of a snapshot counts before its sealed
// manifest is written, so a crash half-way leaves only unreferenced chunks for the next retention to remove.
import path from 'node:path';
import { fsAsync as fs } from '../../system/fs-async.js';
import { writeFileAtomic } from '../../system/files.js';
import { isRmError, RmError } from '../../protocol/errors.js';
import { loadManifestKey, openDestination } from './destination.js';
import { newestSnapshot } from './manifest.js';
import { restoreSnapshot, type RestoreResult } from './restore.js';
import { checkRestoreTarget, protectedFolders } from './restore-target.js';
import { listSnapshots, readManifest, type BackupStore } from './snapshot.js';
import { destinationError, Repository } from './repo.js';
import { listRecords, pruneRecords, readRecord, takeTreeSnapshot, verifyRepository } from './tree-snapshot.js';
import { restoreTreeSnapshot, type TreeRestoreResult } from './tree-restore.js';
import type { SnapshotRecord } from './tree.js';
import { HEARTBEAT_FILE, HEARTBEAT_MS, jobSpecSchema, RESULT_FILE, type JobResult, type JobSpec, type RestoreJob, type SnapshotJob } from './job-spec.js';
import { MAX_PRUNED_LISTED } from '../../protocol/report-data.js';

const MAX_WARNINGS = 100;

const peakRss = () => process.resourceUsage().maxRSS * 1024;

/** Reads and runs the job in `jobFile`, writes its result next to it; resolves with that result. */
export async function runJobFile(jobFile: string): Promise<JobResult> {
  const dir = path.dirname(jobFile);
  let spec: JobSpec;
  try {
    spec = jobSpecSchema().parse(JSON.parse(await fs.readFile(jobFile, 'utf8')));
  } catch (err) {
    throw new RmError('CLI_USAGE', `${jobFile}: not a backup job (${(err as Error).message.slice(0, 300)})`);
  }
  const beat = path.join(dir, HEARTBEAT_FILE);
  const touch = () => fs.writeFile(beat, `${process.pid}\n`).catch(() => undefined);
  await touch();
  const heartbeat = setInterval(() => void touch(), HEARTBEAT_MS);
  let result: JobResult;
  try {
    result = spec.kind === 'snapshot' ? await snapshotJob(spec) : await restoreJob(spec);
  } catch (err) {
    const code = isRmError(err) ? err.code : 'SERVICE_FAILED';
    result = { v: 1, kind: 'error', code, message: ((err as Error).message ?? String(err)).slice(0, 4096), peakRssBytes: peakRss() };
  } finally {
    clearInterval(heartbeat);
  }
  await writeFileAtomic(path.join(dir, RESULT_FILE), `${JSON.stringify(result)}\n`);
  return result;
}

/** The format-3 snapshot to start from: the one the agent recorded as its last, else the newest sealed one. */
async function latestRecord(repo: Repository, recorded: string | null): Promise<SnapshotRecord | null> {
  if (recorded) {
    const own = await readRecord(repo, recorded).catch(() => null);
    if (own) return own;
  }
  return (await listRecords(repo)).records[0] ?? null;
}

/** A format-2 snapshot (earlier agents: chunks/ and snapshots/<id>.json), for restores only. */
async function latestManifest(store: BackupStore, recorded: string | null) {
  if (recorded) {
    const own = await readManifest(store, recorded).catch(() => null);
    if (own) return own;
  }
  return newestSnapshot((await listSnapshots(store)).snapshots);
}

async function snapshotJob(spec: SnapshotJob): Promise<JobResult> {
  const deviceKey = await loadManifestKey(spec.stateDir);
  const { real } = await openDestination(spec.destination, deviceKey);
  const repo = await Repository.open(real, deviceKey).catch((err: unknown) => Promise.reject(destinationError(err, real)));
  const previous = await latestRecord(repo, spec.lastSnapshot);
  const warnings: string[] = [];
  const onWarning = (message: string) => void (warnings.length < MAX_WARNINGS && warnings.push(message.slice(0, 4096)));
  let record: SnapshotRecord;
  try {
    record = await takeTreeSnapshot(repo, { folders: spec.folders, exclude: spec.exclude, actor: spec.actor, now: Date.now, id: spec.snapshotId, skip: [real], onWarning }, previous);
  } catch (err) {
    // What this run wrote and no index names would stay at the destination for good (a full disk stays full).
    await repo.abandon().catch(() => undefined);
    await repo.close();
    throw destinationError(err, real);
  }
  const verified = spec.verify ? await verifyRepository(repo, spec.verifyPercent) : null;
  const pruned = await pruneRecords(repo, spec.keep).catch((err: unknown) => Promise.reject(destinationError(err, real)));
  await repo.close();
  const { dirs, ...stats } = record.stats;
  return {
    v: 1,
    kind: 'snapshot',
    snapshot: { id: record.id, createdAt: record.createdAt, stats, dirs, skippedPaths: record.skippedPaths },
    verified,
    // The report lists at most MAX_PRUNED_LISTED (a long pause of pruning can leave thousands to remove at once).
    pruned: { snapshots: pruned.snapshots.slice(0, MAX_PRUNED_LISTED), packs: pruned.packs, bytes: pruned.bytes, unusedBytes: pruned.unusedBytes },
    untrusted: pruned.untrusted.length ? { count: pruned.untrusted.length, first: pruned.untrusted[0]!.reason.slice(0, 4096) } : null,
    warnings,
    peakRssBytes: peakRss(),
  };
}

async function restoreJob(spec: RestoreJob): Promise<JobResult> {
  const deviceKey = await loadManifestKey(spec.stateDir);
  const { store, real } = await openDestination(spec.destination, deviceKey);
  const options = { target: spec.target, ...(spec.paths ? { paths: spec.paths } : {}), policyFolders: spec.policyFolders };
  // Checked again here, against the destination's real path: the job file is what this process trusts.
  await checkRestoreTarget(options, protectedFolders(real, spec.stateDir, spec.privateDirs ?? []));
  const repo = (await Repository.exists(real)) ? await Repository.open(real, deviceKey) : null;
  // A named snapshot is looked up in format 3 first, then among the earlier agents' format-2 manifests.
  if (spec.snapshot) {
    const record = repo ? await readRecord(repo, spec.snapshot).catch((err: unknown) => (isRmError(err) && err.code === 'BACKUP_SNAPSHOT_MISSING' ? null : Promise.reject(err))) : null;
    if (record) return restored(await restoreTreeSnapshot(repo!, record, options).finally(() => repo!.close()), 3);
    return restored(await restoreSnapshot(store, await readManifest(store, spec.snapshot), options), 2);
  }
  const record = repo ? await latestRecord(repo, spec.lastSnapshot) : null;
  if (record) return restored(await restoreTreeSnapshot(repo!, record, options).finally(() => repo!.close()), 3);
  const manifest = await latestManifest(store, spec.lastSnapshot);
  if (!manifest) throw new RmError('BACKUP_SNAPSHOT_MISSING', 'no snapshot has been taken yet');
  return restored(await restoreSnapshot(store, manifest, options), 2);
}

function restored(r: RestoreResult | TreeRestoreResult, format: number): JobResult {
  // What was left out goes with the report only when something was (servers before it refuse unknown fields).
  const { skipped, skippedPaths, ...rest } = { skipped: 0, skippedPaths: [], ...r };
  return { v: 1, kind: 'restore', restore: { ...rest, ...(skipped ? { skipped, skippedPaths } : {}), format }, peakRssBytes: peakRss() };
}
