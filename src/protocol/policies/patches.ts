// Patch Management policy: when pending updates are scanned and whether/when they may be installed.
import * as z from 'zod';
import { MaintenanceWindowSchema, ScheduleSchema } from './schedule.js';

export const patchesPolicySchema = z
  .object({
    schedule: ScheduleSchema.default({ everyHours: 6 }).describe('When pending updates are scanned and reported: {everyHours} or {dailyAt: "HH:MM", days}'),
    autoInstall: z.boolean().default(false).describe('Install pending updates inside the maintenance window (also needs the local allow-changes opt-in file)'),
    securityOnly: z.boolean().default(false).describe('Install only updates the source marks as security/critical/important (apt, dnf, softwareupdate)'),
    window: MaintenanceWindowSchema.nullable().default(null).describe('Maintenance window {days, start "HH:MM", durationMin} (local time); updates are never installed outside it, nor without it'),
    refresh: z.boolean().default(true).describe('Refresh the package index before scanning (apt-get update; dnf/yum without --cacheonly)'),
    maxJitterSec: z.number().int().min(0).max(3_600).default(600).describe('Largest random delay before a scheduled scan starts (spreads load across devices)'),
  })
  .strict();
export type PatchesPolicy = z.infer<typeof patchesPolicySchema>;

export const patchesDefaultSettings: PatchesPolicy = patchesPolicySchema.parse({});
