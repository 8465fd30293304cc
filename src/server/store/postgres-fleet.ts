// PostgreSQL repositories of the fleet: devices, what they reported, and the bounded report history. The same
// statements as sqlite-fleet.ts in PostgreSQL's dialect (lists as arrays: `= ANY(?)`); rows map through the same
// functions. Multi-statement methods run atomically (db.atomic) when called outside a transaction.
import type { ReportKind } from '../../protocol/frames.js';
import type { ServiceState } from '../../protocol/model.js';
import { decodeCursor, pageOf } from './cursor.js';
import { pgJson as json, type PgDb, type PgParam } from './postgres-db.js';
import { num, parseJson, type Row } from './sqlite-db.js';
import { deviceWhere, PRUNE_CHUNK, sortNameOf, toDevice, toReport, TRIM_CHUNK } from './sqlite-fleet.js';
import type { ReportLimits, Repos } from './store.js';
import type { LatestReport } from './records.js';
import { PENDING_COMMAND_STATUSES } from './records.js';

const DEVICE_COLUMNS = `d.*, (SELECT coalesce(json_agg(t.tag ORDER BY t.tag), '[]'::json)::text FROM device_tags t WHERE t.device_id = d.id) AS tags`;

/** PostgreSQL's expression for the device's hostname fact (deviceWhere's search). */
const PG_HOSTNAME = "d.facts::jsonb ->> 'hostname'";

export function postgresDevices(db: PgDb): Repos['devices'] {
  const writeTags = async (id: string, tags: readonly string[]) => {
    await db.run('DELETE FROM device_tags WHERE device_id = ?', id);
    const unique = [...new Set(tags)];
    if (unique.length) await db.run('INSERT INTO device_tags (device_id, tag) SELECT ?, unnest(?::text[])', id, unique);
  };
  return {
    async get(id, options = {}) {
      const row = await db.get<Row>(`SELECT ${DEVICE_COLUMNS} FROM devices d WHERE d.id = ?${options.forUpdate ? ' FOR UPDATE OF d' : ''}`, id);
      if (!row) return null;
      const device = toDevice(row);
      return device.revokedAt !== null && !options.includeRevoked ? null : device;
    },
    async list(filter, page) {
      const { where, params } = deviceWhere(filter, PG_HOSTNAME);
      const after = decodeCursor(page.cursor, 2);
      const keyset = after ? ' AND (d.sort_name > ? OR (d.sort_name = ? AND d.id > ?))' : '';
      const keyParams: PgParam[] = after ? [String(after[0]), String(after[0]), String(after[1])] : [];
      const rows = await db.all<Row>(`SELECT ${DEVICE_COLUMNS} FROM devices d WHERE ${where}${keyset} ORDER BY d.sort_name, d.id LIMIT ?`, ...params, ...keyParams, page.limit + 1);
      const p = pageOf(rows, page.limit, (r) => [String(r.sort_name), String(r.id)]);
      return { items: p.items.map(toDevice), next: p.next };
    },
    many: async (ids) => (ids.length ? (await db.all<Row>(`SELECT ${DEVICE_COLUMNS} FROM devices d WHERE d.revoked_at IS NULL AND d.id = ANY(?)`, ids)).map(toDevice) : []),
    async ids(filter, max) {
      const { where, params } = deviceWhere(filter, PG_HOSTNAME);
      return (await db.all<{ id: string }>(`SELECT d.id FROM devices d WHERE ${where} ORDER BY d.id LIMIT ?`, ...params, max + 1)).map((r) => r.id);
    },
    count: async () => num((await db.get<{ n: string }>('SELECT count(*) AS n FROM devices WHERE revoked_at IS NULL'))!.n),
    insert: (device) =>
      db.atomic(async () => {
        await db.run(
          'INSERT INTO devices (id, public_key, facts, sort_name, platform, enrolled_at, enrolled_with, last_seen, last_seq, revision, revoked_at, revoked_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
          device.id, device.publicKey, json(device.facts), sortNameOf(device.facts), device.facts.platform, device.enrolledAt, device.enrolledWith, device.lastSeen, device.lastSeq, device.revision, device.revokedAt, device.revokedBy,
        );
        await writeTags(device.id, device.tags);
      }),
    async updateFacts(id, facts) {
      await db.run('UPDATE devices SET facts = ?, sort_name = ?, platform = ? WHERE id = ?', json(facts), sortNameOf(facts), facts.platform, id);
    },
    async advance(id, lastSeq, seenAt) {
      await db.run('UPDATE devices SET last_seq = GREATEST(last_seq, ?), last_seen = ? WHERE id = ?', lastSeq, seenAt, id);
    },
    async recordSeen(ids, at) {
      if (ids.length) await db.run('UPDATE devices SET last_seen = ? WHERE id = ANY(?)', at, ids);
    },
    async bumpRevision(ids) {
      if (ids.length) await db.run('UPDATE devices SET revision = revision + 1 WHERE id = ANY(?)', ids);
    },
    setTags: (id, tags) => db.atomic(() => writeTags(id, tags)),
    tags: async () =>
      (await db.all<{ tag: string; n: string }>('SELECT t.tag, count(*) AS n FROM device_tags t JOIN devices d ON d.id = t.device_id WHERE d.revoked_at IS NULL GROUP BY t.tag ORDER BY t.tag')).map((r) => ({ tag: r.tag, devices: num(r.n) })),
    revoke: (id, at, by) =>
      db.atomic(async () => {
        await db.run('UPDATE devices SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL', at, by, id);
        for (const table of ['device_tags', 'device_services', 'device_latest', 'reports', 'report_usage', 'activations', 'alerts']) await db.run(`DELETE FROM ${table} WHERE device_id = ?`, id);
        await db.run(
          'UPDATE commands SET status = ?, reason = ?, updated_at = ? WHERE device_id = ? AND status = ANY(?)',
          'cancelled', json({ code: 'DEVICE_REVOKED', message: 'the device was deleted' }), at, id, PENDING_COMMAND_STATUSES,
        );
      }),
  };
}

export function postgresDeviceState(db: PgDb): Repos['deviceState'] {
  return {
    async services(deviceIds) {
      const out = new Map<string, ServiceState[]>();
      if (!deviceIds.length) return out;
      for (const r of await db.all<Row>('SELECT device_id, state FROM device_services WHERE device_id = ANY(?) ORDER BY device_id, service', deviceIds)) {
        const id = String(r.device_id);
        const states = out.get(id) ?? [];
        states.push(parseJson<ServiceState>(r.state));
        out.set(id, states);
      }
      return out;
    },
    async putService(deviceId, state) {
      await db.run('INSERT INTO device_services (device_id, service, state) VALUES (?, ?, ?) ON CONFLICT (device_id, service) DO UPDATE SET state = excluded.state', deviceId, state.name, json(state));
    },
    latest: async (deviceId) =>
      (await db.all<Row>('SELECT kind, seq, at, received_at, data FROM device_latest WHERE device_id = ? ORDER BY kind', deviceId)).map(
        (r): LatestReport => ({ kind: String(r.kind) as ReportKind, seq: num(r.seq), at: num(r.at), receivedAt: num(r.received_at), data: parseJson(r.data) }),
      ),
    async putLatest(deviceId, l, dataJson) {
      await db.run(
        'INSERT INTO device_latest (device_id, kind, seq, at, received_at, data) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, kind) DO UPDATE SET seq = excluded.seq, at = excluded.at, received_at = excluded.received_at, data = excluded.data',
        deviceId, l.kind, l.seq, l.at, l.receivedAt, dataJson ?? json(l.data),
      );
    },
  };
}

type UsageRow = { seq: string; kind: string; bytes: string };

export function postgresReports(db: PgDb): Repos['reports'] {
  const dropRows = async (deviceId: string, rows: UsageRow[]) => {
    if (!rows.length) return;
    await db.run('DELETE FROM reports WHERE device_id = ? AND seq = ANY(?::bigint[])', deviceId, rows.map((r) => num(r.seq)));
    const perKind = new Map<string, { reports: number; bytes: number }>();
    for (const r of rows) {
      const k = perKind.get(r.kind) ?? { reports: 0, bytes: 0 };
      k.reports += 1;
      k.bytes += num(r.bytes);
      perKind.set(r.kind, k);
    }
    for (const [kind, k] of perKind) await db.run('UPDATE report_usage SET reports = reports - ?, bytes = bytes - ? WHERE device_id = ? AND kind = ?', k.reports, k.bytes, deviceId, kind);
  };

  /** Removes the oldest reports (of one kind, or of any) until `over` bytes are gone; never the report `keep`. */
  const trimOldest = async (deviceId: string, kind: string | null, over: number, keep: number): Promise<number> => {
    let trimmed = 0;
    let after = 0;
    while (over > 0) {
      const rows = kind
        ? await db.all<UsageRow>('SELECT seq, kind, bytes FROM reports WHERE device_id = ? AND kind = ? AND seq > ? ORDER BY seq LIMIT ?', deviceId, kind, after, TRIM_CHUNK)
        : await db.all<UsageRow>('SELECT seq, kind, bytes FROM reports WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT ?', deviceId, after, TRIM_CHUNK);
      const doomed: UsageRow[] = [];
      for (const r of rows) {
        if (over <= 0) break;
        after = num(r.seq);
        if (num(r.seq) === keep) continue;
        doomed.push(r);
        over -= num(r.bytes);
      }
      await dropRows(deviceId, doomed);
      trimmed += doomed.length;
      if (rows.length < TRIM_CHUNK) break;
    }
    return trimmed;
  };

  return {
    append: (report, limits: ReportLimits, dataJson) =>
      db.atomic(async () => {
        const inserted = await db.run(
          'INSERT INTO reports (device_id, seq, kind, at, received_at, bytes, data, invalid) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
          report.deviceId, report.seq, report.kind, report.at, report.receivedAt, report.bytes, dataJson ?? json(report.data), report.invalid,
        );
        if (!inserted) return { trimmed: 0 };
        const kindBytes = num(
          (await db.get<{ bytes: string }>(
            'INSERT INTO report_usage AS u (device_id, kind, reports, bytes) VALUES (?, ?, 1, ?) ON CONFLICT (device_id, kind) DO UPDATE SET reports = u.reports + 1, bytes = u.bytes + excluded.bytes RETURNING bytes',
            report.deviceId, report.kind, report.bytes,
          ))!.bytes,
        );
        let trimmed = kindBytes > limits.bytesPerKind ? await trimOldest(report.deviceId, report.kind, kindBytes - limits.bytesPerKind, report.seq) : 0;
        const deviceBytes = num((await db.get<{ bytes: string }>('SELECT coalesce(sum(bytes), 0) AS bytes FROM report_usage WHERE device_id = ?', report.deviceId))!.bytes);
        trimmed += await trimOldest(report.deviceId, null, deviceBytes - limits.bytesPerDevice, report.seq);
        return { trimmed };
      }),
    async list(deviceId, { kinds, after, limit }) {
      if (kinds && !kinds.length) return [];
      const rows = kinds
        ? await db.all<Row>('SELECT * FROM reports WHERE device_id = ? AND seq > ? AND kind = ANY(?) ORDER BY seq LIMIT ?', deviceId, after, kinds, limit)
        : await db.all<Row>('SELECT * FROM reports WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT ?', deviceId, after, limit);
      return rows.map(toReport);
    },
    usage: async (deviceId) =>
      (await db.all<Row>('SELECT kind, reports, bytes FROM report_usage WHERE device_id = ? AND reports > 0 ORDER BY kind', deviceId)).map((r) => ({ kind: String(r.kind) as ReportKind, reports: num(r.reports), bytes: num(r.bytes) })),
    pruneBefore: (cutoff) =>
      db.atomic(async () => {
        const rows = await db.all<UsageRow & { device_id: string }>('SELECT device_id, seq, kind, bytes FROM reports WHERE received_at < ? LIMIT ?', cutoff, PRUNE_CHUNK);
        const perDevice = new Map<string, UsageRow[]>();
        for (const r of rows) {
          const mine = perDevice.get(r.device_id);
          if (mine) mine.push(r);
          else perDevice.set(r.device_id, [r]);
        }
        for (const [deviceId, mine] of perDevice) await dropRows(deviceId, mine);
        return rows.length;
      }),
  };
}
