// What one report from a device means for the server: pure, so the intake only reads the device, asks this,
// writes the answer and acknowledges once it is committed.
import { REPORT_DATA_SCHEMAS, describeIssues, type ReportBody } from '../protocol/frames.js';
import { AlertSchema, ServiceStateSchema, TeamViewerFactsSchema, type Alert, type ServiceState, type TeamViewerFacts } from '../protocol/model.js';

/** Open alerts one device may hold; further keys are not opened (a device cannot fill the alert list). */
export const MAX_OPEN_ALERTS_PER_DEVICE = 256;

export type ReportEffect =
  | { kind: 'service'; state: ServiceState }
  | { kind: 'teamviewer'; facts: TeamViewerFacts }
  | { kind: 'alert.raised'; alert: Alert }
  | { kind: 'alert.cleared'; key: string }
  | null;

export type ReportDecision =
  | { stored: false; reason: 'duplicate' }
  /** invalid: the data does not match its kind; it is kept (flagged) and not applied, otherwise the agent would resend it forever. */
  | { stored: true; invalid: string | null; effect: ReportEffect };

/**
 * Duplicates (seq <= lastSeq) are dropped; anything newer is stored, even when its data does not match its kind's
 * schema (then flagged: readers skip it, and it never becomes the device's latest of its kind).
 */
export function decideReport(lastSeq: number, report: ReportBody): ReportDecision {
  if (report.seq <= lastSeq) return { stored: false, reason: 'duplicate' };
  const checked = REPORT_DATA_SCHEMAS[report.kind].safeParse(report.data);
  if (!checked.success) return { stored: true, invalid: `${report.kind}: ${describeIssues(checked.error)}`, effect: null };
  return { stored: true, invalid: null, effect: effectOf(report) };
}

function effectOf(report: ReportBody): ReportEffect {
  switch (report.kind) {
    case 'service':
      return { kind: 'service', state: ServiceStateSchema.parse(report.data) };
    case 'teamviewer':
      return { kind: 'teamviewer', facts: TeamViewerFactsSchema.parse(report.data) };
    case 'alert.raised':
      return { kind: 'alert.raised', alert: AlertSchema.parse(report.data) };
    case 'alert.cleared':
      return { kind: 'alert.cleared', key: String(report.data.key) };
    default:
      return null;
  }
}
