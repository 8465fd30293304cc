// Backup policy: which folders, what to leave out, when, how many snapshots to keep, and where to.
import path from 'node:path';
import * as z from 'zod';
import { MaintenanceWindowSchema, ScheduleSchema } from './schedule.js';

const absolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => path.posix.isAbsolute(p) || path.win32.isAbsolute(p), 'must be an absolute path')
  .refine((p) => !p.includes('\0'), 'must not contain NUL');

export const backupPolicySchema = z
  .object({
    folders: z.array(absolutePath).max(64).default([]).describe('Absolute folders to back up (recursively); nothing runs while empty'),
    exclude: z.array(z.string().min(1).max(512)).max(256).default([]).describe('Globs left out: `*.tmp`, `cache/`, `**/node_modules`; without "/" a glob matches a name at any depth'),
    destination: absolutePath.nullable().default(null).describe('Absolute folder receiving the chunks and snapshot manifests (a mounted disk or share)'),
    schedule: ScheduleSchema.default({ everyHours: 24 }).describe('When a snapshot is taken: {everyHours} or {dailyAt: "HH:MM", days}'),
    retention: z.object({ keep: z.number().int().min(1).max(1_000).default(7).describe('Snapshots kept; older ones and chunks no kept snapshot uses are deleted') }).strict().default({ keep: 7 }).describe('Retention'),
    window: MaintenanceWindowSchema.nullable().default(null).describe('Optional maintenance window; scheduled backups start only inside it'),
    verify: z.boolean().default(true).describe('Re-hash every chunk of the new snapshot after it is written'),
    maxJitterSec: z.number().int().min(0).max(3_600).default(600).describe('Largest random delay before a scheduled backup starts (spreads load across devices)'),
  })
  .strict();
export type BackupPolicy = z.infer<typeof backupPolicySchema>;

export const backupDefaultSettings: BackupPolicy = backupPolicySchema.parse({});
