// A device's page (reached from the device list and a service's overview): prerequisites, services, inventory,
// pending patches, backups and alerts. Everything comes from the public API, so the member's permissions apply:
// GET /devices/:id leaves out the alert reports outside their alert scope, GET /alerts?deviceId= gives all or only
// their own alerts, and without an alert permission the page says so instead of showing any.
import { api, ApiError, type Alert, type Device, type SessionView } from './api.js';
import { fmtTime, h, notice, show } from './dom.js';
import { ineligible, phaseText, title } from './model.js';

interface Latest { seq: number; atIso: string; data: Record<string, unknown> }
interface DeviceDetail extends Device { arch: string; enrolledAtIso: string; latest: Record<string, Latest> }
/** invalid: why the server found the data not of its kind's shape (kept, never shown as the device's data). */
interface Report { seq: number; kind: string; atIso: string; data: Record<string, unknown>; invalid: string | null }

const fail = (err: unknown) => (err instanceof ApiError ? notice('error', err.body.message, err.body.hint) : notice('error', 'The server could not be reached.'));
const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '—');
const bytes = (v: unknown): string => {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = v;
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${n.toFixed(u ? 1 : 0)} ${units[u]}`;
};
/** A definition list of label -> value, leaving out what the device did not report. */
const facts = (label: string, rows: Array<[string, string]>) =>
  h('dl', { class: 'facts', 'aria-label': label }, rows.filter(([, v]) => v && v !== '—').map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
const grid = (label: string, cols: string[], rows: HTMLElement[]) =>
  h('table', { class: 'grid', 'aria-label': label }, h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows));

export async function devicePage(root: HTMLElement, session: SessionView, id: string): Promise<void> {
  const d = await api<DeviceDetail>('GET', `/devices/${encodeURIComponent(id)}`);
  const name = d.alias ?? d.hostname;
  const alerts = h('div', { id: 'device-alerts' });
  show(root,
    h('p', { class: 'crumbs' }, h('a', { href: '/console/devices' }, 'Devices'), ' / ', name),
    h('h1', {}, name),
    facts('Device', [['Hostname', d.hostname], ['Operating system', `${d.platform} ${d.osRelease} (${d.arch})`], ['Agent', d.agentVersion], ['Tags', d.tags.join(', ')], ['State', d.online ? 'online' : `offline, last seen ${fmtTime(d.lastSeenIso)}`], ['Enrolled', fmtTime(d.enrolledAtIso)]]),
    h('h2', {}, 'Prerequisites'), prerequisites(d),
    h('h2', {}, 'Services'), services(d),
    h('h2', {}, 'Inventory'), inventory(d.latest.inventory, d.latest.status),
    h('h2', {}, 'Pending patches'), patches(d.latest.patches),
    h('h2', {}, 'Backups'), await backups(d),
    h('h2', {}, 'Alerts'), alerts,
  );
  await loadAlerts(alerts, session, d.id);
}

function prerequisites(d: DeviceDetail): HTMLElement {
  const tv = d.teamviewer;
  const blocked = ineligible(d);
  return h('div', {},
    facts('TeamViewer', [
      ['TeamViewer', tv?.installed ? (tv.edition === 'host' ? 'TeamViewer Host' : tv.edition === 'full' ? 'Full client' : 'installed') : 'not installed'],
      ['Version', tv?.version ?? '—'], ['TeamViewer ID', tv?.teamviewerId ?? '—'],
      ['Managed device', tv?.managed === true ? 'yes' : tv?.managed === false ? 'no' : 'unknown'],
    ]),
    blocked ? notice('error', `${blocked.reason}: services cannot be activated on this device.`, blocked.fix) : notice('success', 'Prerequisites met: services can be activated on this device.'),
  );
}

function services(d: DeviceDetail): HTMLElement {
  if (!d.services.length) return h('p', {}, 'No service is active on this device.');
  return grid('Services', ['Service', 'State', 'Policy version', 'Reason'], d.services.map((s) =>
    h('tr', {}, h('th', { scope: 'row' }, h('a', { href: `/console/rm/${s.name}` }, title(s.name))), h('td', {}, h('span', { class: `phase ${s.phase ?? 'pending'}` }, phaseText(s.phase))),
      h('td', {}, s.policyVersion === null ? '—' : `${s.policyVersion}${s.applied ? ' (applied)' : ' (not applied yet)'}`), h('td', {}, s.reason ? `${s.reason.code}: ${s.reason.message}` : '—'))));
}

/** The hardware and software summary of the last full inventory (Asset Management), else the last status report. */
function inventory(inv: Latest | undefined, status: Latest | undefined): HTMLElement {
  const full = inv && inv.data.full === true ? obj(inv.data.inventory) : null;
  if (full) {
    const hw = obj(full.hardware);
    const os = obj(full.os);
    const software = arr(full.software).map(obj);
    const counts = obj(inv!.data.counts);
    const sys = obj(hw.system);
    const cpu = obj(hw.cpu);
    return h('div', {},
      h('p', { class: 'hint' }, `Collected ${fmtTime(inv!.atIso)} by Asset Management.`),
      facts('Hardware', [
        ['Manufacturer', str(sys.manufacturer)], ['Model', str(sys.model)], ['Serial number', str(sys.serial)],
        ['Processor', [cpu.manufacturer, cpu.brand].filter((x) => typeof x === 'string').join(' ') || '—'], ['Cores', str(cpu.cores)],
        ['Memory', bytes(obj(hw.memory).totalBytes)], ['Disks', arr(hw.disks).map(obj).map((k) => `${str(k.name ?? k.device)} ${bytes(k.sizeBytes)}`).join(', ')],
        ['Operating system', [os.distro, os.release, os.arch].filter((x) => typeof x === 'string').join(' ') || '—'],
      ]),
      h('h3', {}, `Software (${software.length}${typeof counts.omitted === 'number' && counts.omitted ? `, ${counts.omitted} more not sent` : ''})`),
      software.length ? grid('Software', ['Name', 'Version', 'Publisher'], software.slice(0, 200).map((s) => h('tr', {}, h('th', { scope: 'row' }, str(s.name)), h('td', {}, str(s.version)), h('td', {}, str(s.publisher))))) : h('p', {}, 'No software reported.'),
      software.length > 200 ? h('p', { class: 'hint' }, `The first 200 of ${software.length} are shown; the API has them all (GET /api/v1/devices/:id).`) : null,
    );
  }
  if (status) {
    const s = status.data;
    const hw = obj(s.hardware);
    const os = obj(s.os);
    return h('div', {},
      notice('info', 'No full inventory yet: activate Asset Management on this device for the software list. From the last status report:'),
      facts('Hardware', [
        ['Manufacturer', str(hw.manufacturer)], ['Model', str(hw.model)], ['Processor', str(hw.cpu)], ['Cores', str(hw.cores)],
        ['Memory', `${bytes(obj(s.memory).totalBytes)} (${str(obj(s.memory).usedPercent)}% used)`], ['CPU load', `${str(obj(s.load).cpuPercent)}%`],
        ['Disks', arr(s.disks).map(obj).map((k) => `${str(k.mount)} ${bytes(k.sizeBytes)} (${str(k.usedPercent)}% used)`).join(', ')],
        ['Operating system', [os.distro, os.release].filter((x) => typeof x === 'string').join(' ') || '—'],
      ]),
      h('p', { class: 'hint' }, `Reported ${fmtTime(status.atIso)}.`),
    );
  }
  return h('p', {}, 'The device has not reported its inventory yet.');
}

function patches(p: Latest | undefined): HTMLElement {
  if (!p) return h('p', {}, 'No patch scan yet: activate Patch Management on this device.');
  if (p.data.event !== 'scan') return h('p', {}, `Last Patch Management event: ${str(p.data.event)} (${fmtTime(p.atIso)}); the next scan lists what is pending.`);
  const pending = arr(p.data.pending).map(obj);
  return h('div', {},
    h('p', { class: 'hint' }, `Scanned ${fmtTime(p.atIso)} with ${str(p.data.manager)}: ${pending.length} update(s) pending.`),
    pending.length ? grid('Pending patches', ['Update', 'Version', 'Severity', 'Origin'], pending.map((u) => h('tr', {}, h('th', { scope: 'row' }, str(u.name)), h('td', {}, str(u.version)), h('td', {}, str(u.severity)), h('td', {}, str(u.origin))))) : h('p', {}, 'The device is up to date.'),
  );
}

/** The snapshots the device reported (Backup's snapshot events, newest first), with the last failure if any. */
async function backups(d: DeviceDetail): Promise<HTMLElement> {
  if (!d.latest.backup && !d.services.some((s) => s.name === 'backup')) return h('p', {}, 'Backup is not active on this device.');
  let all: Report[];
  try {
    all = (await api<{ reports: Report[] }>('GET', `/devices/${encodeURIComponent(d.id)}/reports?kind=backup&limit=500`)).reports;
  } catch (err) {
    return fail(err);
  }
  // A report the server flagged is not what Backup sends: left out (GET /devices/:id/reports lists it with the reason).
  const reports = all.filter((r) => r.invalid === null);
  const skipped = all.length - reports.length;
  const snapshots = reports.filter((r) => r.data.event === 'snapshot').reverse();
  const lastFailure = [...reports].reverse().find((r) => r.data.result === 'failed');
  return h('div', {},
    lastFailure ? notice('error', `Last failure (${fmtTime(lastFailure.atIso)}): ${str(lastFailure.data.code)}`, str(lastFailure.data.message)) : null,
    skipped ? h('p', { class: 'hint' }, `${skipped} backup report(s) from this device were not in the Backup report format and are not shown.`) : null,
    snapshots.length
      ? grid('Backups', ['Snapshot', 'Taken', 'Files', 'Read', 'Stored'], snapshots.slice(0, 50).map((r) =>
          h('tr', {}, h('th', { scope: 'row' }, str(r.data.snapshot)), h('td', {}, fmtTime(r.atIso)), h('td', {}, str(r.data.files)), h('td', {}, bytes(r.data.bytesRead)), h('td', {}, bytes(r.data.bytesStored)))))
      : h('p', {}, 'No snapshot yet.'),
  );
}

async function loadAlerts(area: HTMLElement, session: SessionView, deviceId: string): Promise<void> {
  if (!session.permissions.some((p) => p === 'view_all_alerts' || p === 'view_own_alerts')) {
    area.replaceChildren(notice('info', 'Your role does not allow viewing alerts.', 'Ask a company administrator for a role with "View and acknowledge all alerts/threats" or "own alerts/threats".'));
    return;
  }
  const { alerts, scope } = await api<{ alerts: Alert[]; scope: 'all' | 'own' }>('GET', `/alerts?deviceId=${encodeURIComponent(deviceId)}&limit=100`);
  area.replaceChildren(
    h('p', { class: 'hint' }, scope === 'all' ? 'All alerts of this device.' : 'Only the alerts of the services you activated on this device (your role views own alerts).'),
    alerts.length
      ? grid('Device alerts', ['Alert', 'Service', 'Severity', 'Raised', 'State'], alerts.map((a) => h('tr', { 'data-alert': a.id },
          h('th', { scope: 'row' }, a.message), h('td', {}, title(a.service)), h('td', {}, a.severity), h('td', {}, fmtTime(a.raisedAtIso)),
          h('td', {}, a.ackedBy ? `acknowledged by ${a.ackedBy}` : h('button', { type: 'button', onclick: async () => {
            try {
              await api('POST', `/alerts/${a.id}/ack`, {});
              await loadAlerts(area, session, deviceId);
            } catch (err) {
              area.prepend(fail(err));
            }
          } }, 'Acknowledge'), a.open ? '' : ' (cleared)'))))
      : h('p', {}, 'No alert.'),
  );
}
