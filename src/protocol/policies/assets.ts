// Asset Management policy: how often the inventory is collected and what it includes.
import * as z from 'zod';
import { ScheduleSchema } from './schedule.js';

export const assetsPolicySchema = z
  .object({
    schedule: ScheduleSchema.default({ everyHours: 24 }).describe('When the inventory is collected: {everyHours} or {dailyAt: "HH:MM", days}; only changes are sent after the first full inventory'),
    software: z.boolean().default(true).describe('Include installed software (dpkg/rpm, Windows Uninstall keys, macOS /Applications)'),
    hardware: z.boolean().default(true).describe('Include hardware, OS and network facts'),
    maxJitterSec: z.number().int().min(0).max(3_600).default(600).describe('Largest random delay before a scheduled collection starts (spreads load across devices)'),
  })
  .strict();
export type AssetsPolicy = z.infer<typeof assetsPolicySchema>;

export const assetsDefaultSettings: AssetsPolicy = assetsPolicySchema.parse({});
