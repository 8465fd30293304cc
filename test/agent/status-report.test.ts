import { describe, expect, it } from 'vitest';
import { createStatusReporter } from '../../src/agent/status-report.js';
import { createSysinfo } from '../../src/system/sysinfo.js';
import { systemClock } from '../../src/system/clock.js';
import { REPORT_DATA_SCHEMAS } from '../../src/protocol/frames.js';

describe('status reporter', () => {
  it('sends a valid status report now and on its interval, and stops', async () => {
    const reports: Array<{ kind: string; data: Record<string, unknown> }> = [];
    const reporter = createStatusReporter({ sysinfo: createSysinfo(), report: async (kind, data) => void reports.push({ kind, data }), intervalMs: 300, clock: systemClock });
    await reporter.sendNow();
    expect(reports).toHaveLength(1);
    expect(reports[0]!.kind).toBe('status');
    expect(REPORT_DATA_SCHEMAS.status!.safeParse(reports[0]!.data).success).toBe(true);
    reporter.start();
    const until = Date.now() + 5_000;
    while (reports.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    reporter.stop();
    expect(reports.length).toBeGreaterThanOrEqual(3);
    // A snapshot already in flight may still land; after that nothing more comes.
    await new Promise((r) => setTimeout(r, 1_500));
    const stoppedAt = reports.length;
    await new Promise((r) => setTimeout(r, 1_000));
    expect(reports.length).toBe(stoppedAt);
  });
});
