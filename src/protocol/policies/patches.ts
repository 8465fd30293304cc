// Patch Management policy: when pending updates are scanned and whether/when they may be installed.
import * as z from 'zod/mini';
import { MaintenanceWindowSchema, ScheduleSchema } from './schedule.js';

export const patchesPolicySchema = z.strictObject({
  schedule: z._default(ScheduleSchema, { everyHours: 6 }).check(z.describe('When pending updates are scanned and reported: {everyHours} or {dailyAt: "HH:MM", days}')),
  autoInstall: z._default(z.boolean(), false).check(z.describe('Install pending updates inside the maintenance window (also needs the local allow-changes opt-in file)')),
  securityOnly: z._default(z.boolean(), false).check(z.describe('Install only updates the source marks as security/critical/important (apt, dnf, softwareupdate)')),
  window: z._default(z.nullable(MaintenanceWindowSchema), null).check(z.describe('Maintenance window {days, start "HH:MM", durationMin} (local time); updates are never installed outside it, nor without it')),
  refresh: z._default(z.boolean(), true).check(z.describe('Refresh the package index before scanning (apt-get update; dnf/yum without --cacheonly)')),
  maxJitterSec: z._default(z.int().check(z.gte(0), z.lte(3_600)), 600).check(z.describe('Largest random delay before a scheduled scan starts (spreads load across devices)')),
});
export type PatchesPolicy = z.infer<typeof patchesPolicySchema>;

export const patchesDefaultSettings: PatchesPolicy = patchesPolicySchema.parse({});
