// What a report from a device changes in the server's state: pure over the store's plain data, so the
// gateway only parses, calls this, commits and acknowledges.
import { REPORT_DATA_SCHEMAS, describeIssues, type ReportBody } from '../protocol/frames.js';
import { AlertSchema, ServiceStateSchema, TeamViewerFactsSchema, type ServiceName } from '../protocol/model.js';
import type { DeviceRecord, StoreData } from './store.js';

/** Reports kept per device for GET /devices/:id/reports (the latest of each kind is kept apart). */
export const MAX_REPORTS_PER_DEVICE = 500;

export type ReportOutcome = { stored: false; reason: 'duplicate' } | { stored: true; invalid?: string };

/**
 * Applies one report: duplicates (seq <= lastSeq) are dropped; anything newer is stored and moves lastSeq,
 * even when its data does not match its kind's schema (it is kept, flagged, and not applied) — otherwise the
 * agent would resend it forever.
 */
export function applyReport(data: StoreData, device: DeviceRecord, report: ReportBody, now: number, newId: () => string): ReportOutcome {
  if (report.seq <= device.lastSeq) return { stored: false, reason: 'duplicate' };
  device.lastSeq = report.seq;
  device.lastSeen = now;
  const schema = REPORT_DATA_SCHEMAS[report.kind];
  const checked = schema ? schema.safeParse(report.data) : { success: true as const, data: report.data };
  const invalid = checked.success ? undefined : `${report.kind}: ${describeIssues(checked.error)}`;
  const kept = (data.reports[device.id] ??= []);
  kept.push({ deviceId: device.id, seq: report.seq, kind: report.kind, at: report.at, receivedAt: now, data: report.data, ...(invalid ? { invalid } : {}) });
  if (kept.length > MAX_REPORTS_PER_DEVICE) kept.splice(0, kept.length - MAX_REPORTS_PER_DEVICE);
  if (invalid) return { stored: true, invalid };
  device.latest[report.kind] = { seq: report.seq, at: report.at, data: report.data };
  applyKind(data, device, report, now, newId);
  return { stored: true };
}

function applyKind(data: StoreData, device: DeviceRecord, report: ReportBody, now: number, newId: () => string): void {
  switch (report.kind) {
    case 'service': {
      const state = ServiceStateSchema.parse(report.data);
      device.services[state.name] = state;
      return;
    }
    case 'teamviewer':
      device.facts.teamviewer = TeamViewerFactsSchema.parse(report.data);
      return;
    case 'alert.raised': {
      const alert = AlertSchema.parse(report.data);
      const open = findOpenAlert(data, device.id, alert.key);
      const fields = { service: alert.service, check: alert.check, severity: alert.severity, message: alert.message, value: alert.value ?? null, threshold: alert.threshold ?? null };
      if (open) Object.assign(open, fields);
      else data.alerts.push({ id: newId(), deviceId: device.id, key: alert.key, ...fields, raisedAt: report.at, clearedAt: null, ackedBy: null, ackedAt: null });
      return;
    }
    case 'alert.cleared': {
      const open = findOpenAlert(data, device.id, String(report.data.key));
      if (open) open.clearedAt = report.at || now;
      return;
    }
    default:
      return;
  }
}

function findOpenAlert(data: StoreData, deviceId: string, key: string) {
  return data.alerts.find((a) => a.deviceId === deviceId && a.key === key && a.clearedAt === null);
}

/** Service activated by an account on a device, if any. */
export function activationOf(data: StoreData, deviceId: string, service: ServiceName | string) {
  return data.activations.find((a) => a.deviceId === deviceId && a.service === service);
}
