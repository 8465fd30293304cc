// Time shapes shared by several policies: a maintenance window and a run schedule (local time).
import * as z from 'zod/mini';

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const hhmm = z.string().check(z.regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM (24 h, local time)'));

export const MaintenanceWindowSchema = z.strictObject({
  days: z._default(z.array(z.enum(WEEKDAYS)).check(z.minLength(1), z.maxLength(7)), [...WEEKDAYS]).check(z.describe('Days the window opens on (local time): sun, mon, ... sat')),
  start: hhmm.check(z.describe('Local time the window opens, HH:MM')),
  durationMin: z.int().check(z.gte(1), z.lte(1440), z.describe('How long the window stays open (minutes); it may run past midnight')),
});
export type MaintenanceWindow = z.infer<typeof MaintenanceWindowSchema>;

export const ScheduleSchema = z.union([
  z.strictObject({ everyHours: z.number().check(z.gte(0.05), z.lte(24 * 31), z.describe('Run every N hours (first run at once)')) }),
  z.strictObject({
    dailyAt: hhmm.check(z.describe('Run at this local time, HH:MM (first run at once if a slot has passed)')),
    days: z._default(z.array(z.enum(WEEKDAYS)).check(z.minLength(1), z.maxLength(7)), [...WEEKDAYS]).check(z.describe('Days to run on')),
  }),
]);
export type Schedule = z.infer<typeof ScheduleSchema>;
