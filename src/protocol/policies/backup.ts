// Backup policy: which folders, what to leave out, when, how many snapshots to keep, and where to.
import path from 'node:path';
import * as z from 'zod/mini';
import { MaintenanceWindowSchema, ScheduleSchema } from './schedule.js';
import { globProblem } from './glob.js';

const absolutePath = z
  .string().check(z.minLength(1), z.maxLength(4096), z.refine((p) => path.posix.isAbsolute(p) || path.win32.isAbsolute(p), 'must be an absolute path'), z.refine((p) => !p.includes('\0'), 'must not contain NUL'));

// Unsupported glob syntax is refused with its reason, never matched literally (glob.ts).
const excludeGlob = z.string().check(
  z.minLength(1),
  z.maxLength(512),
  z.superRefine((glob, ctx) => {
    const problem = globProblem(glob);
    if (problem) ctx.issues.push({ code: 'custom', message: `unsupported glob ${JSON.stringify(glob.slice(0, 80))}: ${problem}`, input: glob });
  }),
);

export const backupPolicySchema = z.strictObject({
  folders: z._default(z.array(absolutePath).check(z.maxLength(64)), []).check(z.describe('Absolute folders to back up (recursively); nothing runs while empty')),
  exclude: z._default(z.array(excludeGlob).check(z.maxLength(256)), []).check(z.describe('Globs left out: `*.tmp`, `cache/`, `**/node_modules`, `*.{tmp,bak}`, `[Tt]emp/`; without "/" a glob matches a name at any depth. `*` `?` `**` `[...]` `{a,b}` only: negation, extended globs and backslashes are refused')),
  destination: z._default(z.nullable(absolutePath), null).check(z.describe('Absolute folder receiving the chunks and snapshot manifests (a mounted disk or share)')),
  schedule: z._default(ScheduleSchema, { everyHours: 24 }).check(z.describe('When a snapshot is taken: {everyHours} or {dailyAt: "HH:MM", days}')),
  retention: z._default(z.strictObject({ keep: z._default(z.int().check(z.gte(1), z.lte(1_000)), 7).check(z.describe('Snapshots kept; older ones and chunks no kept snapshot uses are deleted')) }), { keep: 7 }).check(z.describe('Retention')),
  window: z._default(z.nullable(MaintenanceWindowSchema), null).check(z.describe('Optional maintenance window; scheduled backups start only inside it')),
  verify: z._default(z.boolean(), true).check(z.describe('After each snapshot, re-read and check the data it wrote and a sample of the rest')),
  verifySamplePercent: z._default(z.int().check(z.gte(0), z.lte(100)), 5).check(z.describe('Share of the older packs checked after each snapshot (at least one, chosen at random; 100 = the whole repository every run)')),
  maxJitterSec: z._default(z.int().check(z.gte(0), z.lte(3_600)), 600).check(z.describe('Largest random delay before a scheduled backup starts (spreads load across devices)')),
});
export type BackupPolicy = z.infer<typeof backupPolicySchema>;

export const backupDefaultSettings: BackupPolicy = backupPolicySchema.parse({});
