import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { inWindow, isDue, MaintenanceWindowSchema, ScheduleSchema, WEEKDAYS } from '../../../src/services/budget.js';

// Local-time dates: 2026-11-24 is a Tuesday.
const at = (day: number, h: number, m = 0) => new Date(2026, 10, day, h, m, 0, 0);

describe('inWindow', () => {
  const nightly = MaintenanceWindowSchema.parse({ days: ['tue'], start: '23:00', durationMin: 120 });

  it('is open from the start for durationMin on the listed day only', () => {
    expect(inWindow(nightly, at(24, 22, 59))).toBe(false);
    expect(inWindow(nightly, at(24, 23, 0))).toBe(true);
    expect(inWindow(nightly, at(25, 0, 59))).toBe(true); // still Tuesday's window after midnight
    expect(inWindow(nightly, at(25, 1, 0))).toBe(false);
    expect(inWindow(nightly, at(25, 23, 30))).toBe(false); // Wednesday is not listed
  });

  it('defaults to every day', () => {
    const daily = MaintenanceWindowSchema.parse({ start: '02:00', durationMin: 60 });
    for (let d = 22; d < 29; d++) expect(inWindow(daily, at(d, 2, 30))).toBe(true);
  });

  it('rejects a malformed start time', () => {
    expect(MaintenanceWindowSchema.safeParse({ start: '24:00', durationMin: 10 }).success).toBe(false);
    expect(MaintenanceWindowSchema.safeParse({ start: '2:00', durationMin: 10 }).success).toBe(false);
  });

  it('property: open at its start on an allowed day, closed at start + duration', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 28 }), (h, m, dur, day) => {
        const start = new Date(2026, 1, day, h, m);
        const w = { days: [WEEKDAYS[start.getDay()]!], start: `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`, durationMin: dur };
        expect(inWindow(w, start)).toBe(true);
        expect(inWindow(w, new Date(start.getTime() + dur * 60_000))).toBe(false);
      }),
    );
  });
});

describe('isDue', () => {
  it('runs at once when it never ran, then after the interval', () => {
    const every = ScheduleSchema.parse({ everyHours: 6 });
    const now = at(24, 12);
    expect(isDue(every, null, now)).toBe(true);
    expect(isDue(every, now.getTime() - 5 * 3_600_000, now)).toBe(false);
    expect(isDue(every, now.getTime() - 6 * 3_600_000, now)).toBe(true);
  });

  it('runs once per daily slot on the listed days', () => {
    const daily = ScheduleSchema.parse({ dailyAt: '03:00', days: ['mon', 'tue'] });
    const tueSlot = at(24, 3).getTime();
    expect(isDue(daily, tueSlot - 1, at(24, 3, 5))).toBe(true);
    expect(isDue(daily, tueSlot + 1000, at(24, 23))).toBe(false);
    expect(isDue(daily, tueSlot + 1000, at(25, 3, 5))).toBe(false); // Wednesday is not listed
    expect(isDue(daily, tueSlot + 1000, at(30, 3, 1))).toBe(true); // next Monday
  });
});
