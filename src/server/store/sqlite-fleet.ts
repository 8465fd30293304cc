// SQLite repositories of the fleet: devices, what they reported, and the bounded report history.
import type { ReportKind } from '../../protocol/frames.js';
import type { DeviceFacts, ServiceState } from '../../protocol/model.js';
import { decodeCursor, pageOf } from './cursor.js';
import { json, list, num, numOrNull, parseJson, strOrNull, type Db, type Param, type Row } from './sqlite-db.js';
import type { DeviceFilter, ReportLimits, Repos } from './store.js';
import type { DeviceRecord, LatestReport, ReportRecord } from './records.js';
import { PENDING_COMMAND_STATUSES } from './records.js';
import type { SyncOf } from './sqlite-sync.js';

const DEVICE_COLUMNS = `d.*, (SELECT json_group_array(tag) FROM (SELECT tag FROM device_tags t WHERE t.device_id = d.id ORDER BY tag)) AS tags`;
/** Rows a trimming step looks at per query. */
export const TRIM_CHUNK = 64;
/** Rows a retention call removes at most (the sweeper calls again until less comes back). */
export const PRUNE_CHUNK = 5_000;

export function toDevice(r: Row): DeviceRecord {
  return {
    id: String(r.id),
    publicKey: String(r.public_key),
    facts: parseJson<DeviceFacts>(r.facts),
    enrolledAt: num(r.enrolled_at),
    enrolledWith: strOrNull(r.enrolled_with),
    lastSeen: numOrNull(r.last_seen),
    lastSeq: num(r.last_seq),
    revision: num(r.revision),
    tags: parseJson<string[]>(r.tags ?? '[]'),
    revokedAt: numOrNull(r.revoked_at),
    revokedBy: strOrNull(r.revoked_by),
  };
}

export function toReport(r: Row): ReportRecord {
  return {
    deviceId: String(r.device_id),
    seq: num(r.seq),
    kind: String(r.kind) as ReportKind,
    at: num(r.at),
    receivedAt: num(r.received_at),
    bytes: num(r.bytes),
    data: parseJson<Record<string, unknown>>(r.data),
    invalid: strOrNull(r.invalid),
  };
}

export const sortNameOf = (facts: DeviceFacts): string => (facts.alias ?? facts.hostname).toLowerCase();
export const likePattern = (text: string): string => `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** SQLite's expression for the device's hostname fact (deviceWhere's search). */
const SQLITE_HOSTNAME = "json_extract(d.facts, '$.hostname')";

/** WHERE clause and parameters of a device filter (live devices only); `hostnameSql` reads the fact in the engine's dialect. */
export function deviceWhere(filter: DeviceFilter, hostnameSql = SQLITE_HOSTNAME): { where: string; params: Param[] } {
  const clauses = ['d.revoked_at IS NULL'];
  const params: Param[] = [];
  for (const tag of filter.tags ?? []) {
    clauses.push('EXISTS (SELECT 1 FROM device_tags t WHERE t.device_id = d.id AND t.tag = ?)');
    params.push(tag);
  }
  if (filter.search) {
    clauses.push(`(d.sort_name LIKE ? ESCAPE '\\' OR lower(${hostnameSql}) LIKE ? ESCAPE '\\')`);
    params.push(likePattern(filter.search), likePattern(filter.search));
  }
  if (filter.platform) {
    clauses.push('d.platform = ?');
    params.push(filter.platform);
  }
  return { where: clauses.join(' AND '), params };
}

export function sqliteDevices(db: Db): SyncOf<Repos['devices']> {
  const writeTags = (id: string, tags: readonly string[]) => {
    db.run('DELETE FROM device_tags WHERE device_id = ?', id);
    for (const tag of new Set(tags)) db.run('INSERT INTO device_tags (device_id, tag) VALUES (?, ?)', id, tag);
  };
  return {
    get(id, options = {}) {
      const row = db.get(`SELECT ${DEVICE_COLUMNS} FROM devices d WHERE d.id = ?`, id);
      if (!row) return null;
      const device = toDevice(row);
      return device.revokedAt !== null && !options.includeRevoked ? null : device;
    },
    list(filter, page) {
      const { where, params } = deviceWhere(filter);
      const after = decodeCursor(page.cursor, 2);
      const keyset = after ? ' AND (d.sort_name > ? OR (d.sort_name = ? AND d.id > ?))' : '';
      const keyParams: Param[] = after ? [after[0]!, after[0]!, after[1]!] : [];
      const rows = db.all(`SELECT ${DEVICE_COLUMNS} FROM devices d WHERE ${where}${keyset} ORDER BY d.sort_name, d.id LIMIT ?`, ...params, ...keyParams, page.limit + 1);
      const page_ = pageOf(rows, page.limit, (r) => [String(r.sort_name), String(r.id)]);
      return { items: page_.items.map(toDevice), next: page_.next };
    },
    many: (ids) => (ids.length ? db.all(`SELECT ${DEVICE_COLUMNS} FROM devices d WHERE d.revoked_at IS NULL AND d.id IN (SELECT value FROM json_each(?))`, list(ids)).map(toDevice) : []),
    ids(filter, max) {
      const { where, params } = deviceWhere(filter);
      return db.all<{ id: string }>(`SELECT d.id FROM devices d WHERE ${where} ORDER BY d.id LIMIT ?`, ...params, max + 1).map((r) => r.id);
    },
    count: () => num(db.get<{ n: number }>('SELECT count(*) AS n FROM devices WHERE revoked_at IS NULL')!.n),
    insert(device) {
      db.run(
        'INSERT INTO devices (id, public_key, facts, sort_name, platform, enrolled_at, enrolled_with, last_seen, last_seq, revision, revoked_at, revoked_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        device.id, device.publicKey, json(device.facts), sortNameOf(device.facts), device.facts.platform, device.enrolledAt, device.enrolledWith, device.lastSeen, device.lastSeq, device.revision, device.revokedAt, device.revokedBy,
      );
      writeTags(device.id, device.tags);
    },
    updateFacts(id, facts) {
      db.run('UPDATE devices SET facts = ?, sort_name = ?, platform = ? WHERE id = ?', json(facts), sortNameOf(facts), facts.platform, id);
    },
    advance(id, lastSeq, seenAt) {
      db.run('UPDATE devices SET last_seq = max(last_seq, ?), last_seen = ? WHERE id = ?', lastSeq, seenAt, id);
    },
    recordSeen(ids, at) {
      if (ids.length) db.run('UPDATE devices SET last_seen = ? WHERE id IN (SELECT value FROM json_each(?))', at, list(ids));
    },
    bumpRevision(ids) {
      if (ids.length) db.run('UPDATE devices SET revision = revision + 1 WHERE id IN (SELECT value FROM json_each(?))', list(ids));
    },
    setTags: writeTags,
    tags: () =>
      db.all<{ tag: string; n: number }>('SELECT t.tag, count(*) AS n FROM device_tags t JOIN devices d ON d.id = t.device_id WHERE d.revoked_at IS NULL GROUP BY t.tag ORDER BY t.tag').map((r) => ({ tag: r.tag, devices: num(r.n) })),
    revoke(id, at, by) {
      db.run('UPDATE devices SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL', at, by, id);
      for (const table of ['device_tags', 'device_services', 'device_latest', 'reports', 'report_usage', 'activations', 'alerts']) db.run(`DELETE FROM ${table} WHERE device_id = ?`, id);
      db.run(
        'UPDATE commands SET status = ?, reason = ?, updated_at = ? WHERE device_id = ? AND status IN (SELECT value FROM json_each(?))',
        'cancelled', json({ code: 'DEVICE_REVOKED', message: 'the device was deleted' }), at, id, list(PENDING_COMMAND_STATUSES),
      );
    },
  };
}

export function sqliteDeviceState(db: Db): SyncOf<Repos['deviceState']> {
  return {
    services(deviceIds) {
      const out = new Map<string, ServiceState[]>();
      if (!deviceIds.length) return out;
      for (const r of db.all('SELECT device_id, state FROM device_services WHERE device_id IN (SELECT value FROM json_each(?)) ORDER BY device_id, service', list(deviceIds))) {
        const id = String(r.device_id);
        const states = out.get(id) ?? [];
        states.push(parseJson<ServiceState>(r.state));
        out.set(id, states);
      }
      return out;
    },
    putService(deviceId, state) {
      db.run('INSERT INTO device_services (device_id, service, state) VALUES (?, ?, ?) ON CONFLICT (device_id, service) DO UPDATE SET state = excluded.state', deviceId, state.name, json(state));
    },
    latest: (deviceId) =>
      db.all('SELECT kind, seq, at, received_at, data FROM device_latest WHERE device_id = ? ORDER BY kind', deviceId).map(
        (r): LatestReport => ({ kind: String(r.kind) as ReportKind, seq: num(r.seq), at: num(r.at), receivedAt: num(r.received_at), data: parseJson(r.data) }),
      ),
    putLatest(deviceId, l, dataJson) {
      db.run(
        'INSERT INTO device_latest (device_id, kind, seq, at, received_at, data) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, kind) DO UPDATE SET seq = excluded.seq, at = excluded.at, received_at = excluded.received_at, data = excluded.data',
        deviceId, l.kind, l.seq, l.at, l.receivedAt, dataJson ?? json(l.data),
      );
    },
  };
}

export function sqliteReports(db: Db): SyncOf<Repos['reports']> {
  const dropRows = (deviceId: string, rows: Array<{ seq: number; kind: string; bytes: number }>) => {
    const perKind = new Map<string, { reports: number; bytes: number }>();
    for (const r of rows) {
      db.run('DELETE FROM reports WHERE device_id = ? AND seq = ?', deviceId, r.seq);
      const k = perKind.get(r.kind) ?? { reports: 0, bytes: 0 };
      k.reports += 1;
      k.bytes += num(r.bytes);
      perKind.set(r.kind, k);
    }
    for (const [kind, k] of perKind) db.run('UPDATE report_usage SET reports = reports - ?, bytes = bytes - ? WHERE device_id = ? AND kind = ?', k.reports, k.bytes, deviceId, kind);
  };

  /** Removes the oldest reports (of one kind, or of any) until `over` bytes are gone; never the report `keep`. */
  const trimOldest = (deviceId: string, kind: string | null, over: number, keep: number): number => {
    let trimmed = 0;
    let after = 0;
    while (over > 0) {
      const rows = kind
        ? db.all<{ seq: number; kind: string; bytes: number }>('SELECT seq, kind, bytes FROM reports WHERE device_id = ? AND kind = ? AND seq > ? ORDER BY seq LIMIT ?', deviceId, kind, after, TRIM_CHUNK)
        : db.all<{ seq: number; kind: string; bytes: number }>('SELECT seq, kind, bytes FROM reports WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT ?', deviceId, after, TRIM_CHUNK);
      const doomed: typeof rows = [];
      for (const r of rows) {
        if (over <= 0) break;
        after = num(r.seq);
        if (num(r.seq) === keep) continue;
        doomed.push(r);
        over -= num(r.bytes);
      }
      dropRows(deviceId, doomed);
      trimmed += doomed.length;
      if (rows.length < TRIM_CHUNK) break;
    }
    return trimmed;
  };

  return {
    append(report, limits: ReportLimits, dataJson) {
      const inserted = db.run(
        'INSERT OR IGNORE INTO reports (device_id, seq, kind, at, received_at, bytes, data, invalid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        report.deviceId, report.seq, report.kind, report.at, report.receivedAt, report.bytes, dataJson ?? json(report.data), report.invalid,
      );
      if (!inserted) return { trimmed: 0 };
      const kindBytes = num(
        db.get<{ bytes: number }>(
          'INSERT INTO report_usage (device_id, kind, reports, bytes) VALUES (?, ?, 1, ?) ON CONFLICT (device_id, kind) DO UPDATE SET reports = reports + 1, bytes = bytes + excluded.bytes RETURNING bytes',
          report.deviceId, report.kind, report.bytes,
        )!.bytes,
      );
      let trimmed = kindBytes > limits.bytesPerKind ? trimOldest(report.deviceId, report.kind, kindBytes - limits.bytesPerKind, report.seq) : 0;
      const deviceBytes = num(db.get<{ bytes: number }>('SELECT coalesce(sum(bytes), 0) AS bytes FROM report_usage WHERE device_id = ?', report.deviceId)!.bytes);
      trimmed += trimOldest(report.deviceId, null, deviceBytes - limits.bytesPerDevice, report.seq);
      return { trimmed };
    },
    list(deviceId, { kinds, after, limit }) {
      if (kinds && !kinds.length) return [];
      const rows = kinds
        ? db.all('SELECT * FROM reports WHERE device_id = ? AND seq > ? AND kind IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?', deviceId, after, list(kinds), limit)
        : db.all('SELECT * FROM reports WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT ?', deviceId, after, limit);
      return rows.map(toReport);
    },
    usage: (deviceId) =>
      db.all('SELECT kind, reports, bytes FROM report_usage WHERE device_id = ? AND reports > 0 ORDER BY kind', deviceId).map((r) => ({ kind: String(r.kind) as ReportKind, reports: num(r.reports), bytes: num(r.bytes) })),
    pruneBefore(cutoff) {
      const rows = db.all<{ device_id: string; seq: number; kind: string; bytes: number }>('SELECT device_id, seq, kind, bytes FROM reports WHERE received_at < ? LIMIT ?', cutoff, PRUNE_CHUNK);
      const perDevice = new Map<string, typeof rows>();
      for (const r of rows) {
        const mine = perDevice.get(r.device_id);
        if (mine) mine.push(r);
        else perDevice.set(r.device_id, [r]);
      }
      for (const [deviceId, mine] of perDevice) dropRows(deviceId, mine);
      return rows.length;
    },
  };
}
