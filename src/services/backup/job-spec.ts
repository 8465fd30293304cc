// What the agent hands a backup job (job.json) and what the job hands back (result.json): both files live in
// the Backup service's own state folder (0700), one folder per job, and are validated on every read.
import * as z from 'zod/mini';
import { IdSchema } from '../../protocol/model.js';
import { MAX_PRUNED_LISTED } from '../../protocol/report-data.js';

// The schemas are built at each read and not kept: a job file is read a few times a day, and the ~100 schema objects
// of the two files would otherwise stay in the idle daemon's heap (docs/benchmarks.md, issue 19).
const text = (max: number) => z.string().check(z.minLength(1), z.maxLength(max));
const common = () => {
  const absolute = text(4096);
  return {
    v: z.literal(1),
    jobId: z.string().check(z.regex(/^[a-z0-9-]{1,64}$/)),
    /** The command this job answers (null for a scheduled run). */
    commandId: z.nullable(IdSchema),
    createdAt: z.int().check(z.nonnegative()),
    /** The Backup service's state folder (the manifest key). */
    stateDir: absolute,
    destination: absolute,
    /** The snapshot this agent recorded as its last (never a manifest's own claim). */
    lastSnapshot: z.nullable(text(128)),
  };
};

const snapshotJobSchema = () => z.strictObject({
  ...common(),
  kind: z.literal('snapshot'),
  snapshotId: text(128),
  folders: z.array(text(4096)).check(z.minLength(1), z.maxLength(256)),
  exclude: z.array(z.string().check(z.maxLength(1024))).check(z.maxLength(1024)),
  actor: z.nullable(z.string().check(z.maxLength(128))),
  keep: z.int().check(z.gte(1)),
  verify: z.boolean(),
  /** Share of older packs checked (tree-snapshot.ts verifyRepository). */
  verifyPercent: z._default(z.int().check(z.gte(0), z.lte(100)), 5),
});

const restoreJobSchema = () => z.strictObject({
  ...common(),
  kind: z.literal('restore'),
  snapshot: z.nullable(text(128)),
  target: z.nullable(text(4096)),
  paths: z.optional(z.array(text(4096)).check(z.maxLength(1024))),
  policyFolders: z.array(text(4096)).check(z.maxLength(256)),
  /** Folders no restore may write into or over besides the destination and stateDir (the agent's state folder). */
  privateDirs: z.optional(z.array(text(4096)).check(z.maxLength(16))),
});

/** job.json, built for one read. */
export const jobSpecSchema = () => z.discriminatedUnion('kind', [snapshotJobSchema(), restoreJobSchema()]);
export type JobSpec = z.infer<ReturnType<typeof jobSpecSchema>>;
export type SnapshotJob = z.infer<ReturnType<typeof snapshotJobSchema>>;
export type RestoreJob = z.infer<ReturnType<typeof restoreJobSchema>>;

/** result.json, built for one read. */
export function jobResultSchema() {
  const count = z.int().check(z.nonnegative());
  const stats = z.strictObject({ files: count, bytesRead: count, bytesStored: count, durationMs: count, skipped: count });
  return z.discriminatedUnion('kind', [
    z.strictObject({
      v: z.literal(1),
      kind: z.literal('snapshot'),
      snapshot: z.strictObject({ id: text(128), createdAt: count, stats, dirs: count, skippedPaths: z.array(z.strictObject({ path: z.string(), reason: z.string() })).check(z.maxLength(100)) }),
      verified: z.nullable(z.strictObject({ packs: count, blobs: count, bytes: count, bad: count })),
      pruned: z.strictObject({ snapshots: z.array(text(128)).check(z.maxLength(MAX_PRUNED_LISTED)), packs: count, bytes: count, unusedBytes: count }),
      untrusted: z.nullable(z.strictObject({ count, first: z.string().check(z.maxLength(4096)) })),
      warnings: z.array(z.string().check(z.maxLength(4096))).check(z.maxLength(100)),
      peakRssBytes: count,
    }),
    z.strictObject({
      v: z.literal(1),
      kind: z.literal('restore'),
      restore: z.strictObject({ snapshot: text(128), files: count, bytes: count, verified: count, target: z.nullable(z.string()), dirs: z.optional(count), symlinks: z.optional(count), hardlinks: z.optional(count), fifos: z.optional(count), skipped: z.optional(count), skippedPaths: z.optional(z.array(z.strictObject({ path: z.string().check(z.maxLength(4096)), reason: z.string().check(z.maxLength(512)) })).check(z.maxLength(100))), format: z.int() }),
      peakRssBytes: count,
    }),
    z.strictObject({
      v: z.literal(1),
      kind: z.literal('error'),
      code: text(64),
      message: z.string().check(z.maxLength(4096)),
      peakRssBytes: count,
    }),
  ]);
}
export type JobResult = z.infer<ReturnType<typeof jobResultSchema>>;

export const JOB_FILE = 'job.json';
export const RESULT_FILE = 'result.json';
/** Touched by the running job every HEARTBEAT_MS; a job silent for JOB_STALE_MS without a result is dead. */
export const HEARTBEAT_FILE = 'heartbeat';
export const HEARTBEAT_MS = 2_000;
export const JOB_STALE_MS = 30_000;

/** How a job that has not written its result stands, from its heartbeat's age (ms, null = none yet). Pure. */
export function jobLiveness(heartbeatAgeMs: number | null, jobAgeMs: number): 'running' | 'dead' {
  const age = heartbeatAgeMs ?? jobAgeMs;
  return age > JOB_STALE_MS ? 'dead' : 'running';
}
