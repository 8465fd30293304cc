// Time shapes shared by several policies: a maintenance window and a run schedule (local time).
import * as z from 'zod';

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM (24 h, local time)');

export const MaintenanceWindowSchema = z
  .object({
    days: z.array(z.enum(WEEKDAYS)).min(1).max(7).default([...WEEKDAYS]).describe('Days the window opens on (local time): sun, mon, ... sat'),
    start: hhmm.describe('Local time the window opens, HH:MM'),
    durationMin: z.number().int().min(1).max(1440).describe('How long the window stays open (minutes); it may run past midnight'),
  })
  .strict();
export type MaintenanceWindow = z.infer<typeof MaintenanceWindowSchema>;

export const ScheduleSchema = z.union([
  z.object({ everyHours: z.number().min(0.05).max(24 * 31).describe('Run every N hours (first run at once)') }).strict(),
  z
    .object({
      dailyAt: hhmm.describe('Run at this local time, HH:MM (first run at once if a slot has passed)'),
      days: z.array(z.enum(WEEKDAYS)).min(1).max(7).default([...WEEKDAYS]).describe('Days to run on'),
    })
    .strict(),
]);
export type Schedule = z.infer<typeof ScheduleSchema>;
