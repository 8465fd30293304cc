// Asset Management policy: how often the inventory is collected and what it includes.
import * as z from 'zod/mini';
import { ScheduleSchema } from './schedule.js';

export const assetsPolicySchema = z.strictObject({
  schedule: z._default(ScheduleSchema, { everyHours: 24 }).check(z.describe('When the inventory is collected: {everyHours} or {dailyAt: "HH:MM", days}; only changes are sent after the first full inventory')),
  software: z._default(z.boolean(), true).check(z.describe('Include installed software (dpkg/rpm, Windows Uninstall keys, macOS /Applications)')),
  hardware: z._default(z.boolean(), true).check(z.describe('Include hardware, OS and network facts')),
  maxJitterSec: z._default(z.int().check(z.gte(0), z.lte(3_600)), 600).check(z.describe('Largest random delay before a scheduled collection starts (spreads load across devices)')),
});
export type AssetsPolicy = z.infer<typeof assetsPolicySchema>;

export const assetsDefaultSettings: AssetsPolicy = assetsPolicySchema.parse({});
