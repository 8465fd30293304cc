// SQLite repositories of what happens over time: alerts, commands and webhook deliveries.
import type { ServiceName } from '../../protocol/model.js';
import { cursorNumber, decodeCursor, pageOf } from './cursor.js';
import { json, list, num, numOrNull, parseJson, strOrNull, type Db, type Param, type Row } from './sqlite-db.js';
import { PRUNE_CHUNK } from './sqlite-fleet.js';
import type { Repos } from './store.js';
import { PENDING_COMMAND_STATUSES, type AlertRecord, type CommandRecord, type CommandStatus, type WebhookDeliveryRecord, type WebhookEvent } from './records.js';
import type { SyncOf } from './sqlite-sync.js';

export const toAlert = (r: Row): AlertRecord => ({
  id: String(r.id),
  deviceId: String(r.device_id),
  key: String(r.key),
  service: String(r.service) as ServiceName,
  check: String(r.check),
  severity: String(r.severity) as AlertRecord['severity'],
  message: String(r.message),
  value: numOrNull(r.value),
  threshold: numOrNull(r.threshold),
  raisedAt: num(r.raised_at),
  clearedAt: numOrNull(r.cleared_at),
  ackedBy: strOrNull(r.acked_by),
  ackedAt: numOrNull(r.acked_at),
});

export const ALERT_COLUMNS: Record<string, string> = { service: 'service', check: '"check"', severity: 'severity', message: 'message', value: 'value', threshold: 'threshold', raisedAt: 'raised_at', clearedAt: 'cleared_at', ackedBy: 'acked_by', ackedAt: 'acked_at' };

/** One page of alerts, newest first (both engines; a cursor whose time is not a number is the client's error). */
export function alertListQuery(filter: Parameters<Repos['alerts']['list']>[0], page: Parameters<Repos['alerts']['list']>[1]): { sql: string; params: Param[] } {
  const where: string[] = [];
  const params: Param[] = [];
  if (filter.open !== undefined) where.push(filter.open ? 'cleared_at IS NULL' : 'cleared_at IS NOT NULL');
  if (filter.deviceId) {
    where.push('device_id = ?');
    params.push(filter.deviceId);
  }
  if (filter.ownedBy) {
    where.push('EXISTS (SELECT 1 FROM activations a WHERE a.device_id = alerts.device_id AND a.service = alerts.service AND a.activated_by = ?)');
    params.push(filter.ownedBy);
  }
  const after = decodeCursor(page.cursor, 2);
  if (after) {
    where.push('(raised_at < ? OR (raised_at = ? AND id < ?))');
    params.push(cursorNumber(after[0]!), cursorNumber(after[0]!), String(after[1]));
  }
  params.push(page.limit + 1);
  return { sql: `SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY raised_at DESC, id DESC LIMIT ?`, params };
}

export function sqliteAlerts(db: Db): SyncOf<Repos['alerts']> {
  return {
    list(filter, page) {
      const q = alertListQuery(filter, page);
      const rows = db.all(q.sql, ...q.params);
      const p = pageOf(rows, page.limit, (r) => [num(r.raised_at), String(r.id)]);
      return { items: p.items.map(toAlert), next: p.next };
    },
    get: (id) => {
      const r = db.get('SELECT * FROM alerts WHERE id = ?', id);
      return r ? toAlert(r) : null;
    },
    openByKey: (deviceId, key) => {
      const r = db.get('SELECT * FROM alerts WHERE device_id = ? AND key = ? AND cleared_at IS NULL', deviceId, key);
      return r ? toAlert(r) : null;
    },
    countOpen: (deviceId) => num(db.get<{ n: number }>('SELECT count(*) AS n FROM alerts WHERE device_id = ? AND cleared_at IS NULL', deviceId)!.n),
    insert(a) {
      db.run(
        'INSERT INTO alerts (id, device_id, key, service, "check", severity, message, value, threshold, raised_at, cleared_at, acked_by, acked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        a.id, a.deviceId, a.key, a.service, a.check, a.severity, a.message, a.value, a.threshold, a.raisedAt, a.clearedAt, a.ackedBy, a.ackedAt,
      );
    },
    update(id, patch) {
      const sets: string[] = [];
      const params: Param[] = [];
      for (const [key, value] of Object.entries(patch)) {
        const column = ALERT_COLUMNS[key];
        if (!column || value === undefined) continue;
        sets.push(`${column} = ?`);
        params.push(value as Param);
      }
      if (sets.length) db.run(`UPDATE alerts SET ${sets.join(', ')} WHERE id = ?`, ...params, id);
    },
    pruneClearedBefore: (cutoff) => db.run('DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE cleared_at IS NOT NULL AND cleared_at < ? LIMIT ?)', cutoff, PRUNE_CHUNK),
  };
}

export const toCommand = (r: Row): CommandRecord => ({
  id: String(r.id),
  deviceId: String(r.device_id),
  type: String(r.type),
  body: parseJson(r.body),
  actor: strOrNull(r.actor),
  createdAt: num(r.created_at),
  status: String(r.status) as CommandStatus,
  reason: r.reason === null ? null : parseJson(r.reason),
  updatedAt: num(r.updated_at),
  attempts: num(r.attempts),
});

export function sqliteCommands(db: Db): SyncOf<Repos['commands']> {
  return {
    insert(commands) {
      for (const c of commands) {
        db.run(
          'INSERT INTO commands (id, device_id, type, body, actor, created_at, status, reason, updated_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
          c.id, c.deviceId, c.type, json(c.body), c.actor, c.createdAt, c.status, c.reason === null ? null : json(c.reason), c.updatedAt, c.attempts,
        );
      }
    },
    get: (id) => {
      const r = db.get('SELECT * FROM commands WHERE id = ?', id);
      return r ? toCommand(r) : null;
    },
    listForDevice(deviceId, page) {
      const after = decodeCursor(page.cursor, 2);
      const rows = after
        ? db.all('SELECT * FROM commands WHERE device_id = ? AND (created_at < ? OR (created_at = ? AND id < ?)) ORDER BY created_at DESC, id DESC LIMIT ?', deviceId, after[0]!, after[0]!, after[1]!, page.limit + 1)
        : db.all('SELECT * FROM commands WHERE device_id = ? ORDER BY created_at DESC, id DESC LIMIT ?', deviceId, page.limit + 1);
      const p = pageOf(rows, page.limit, (r) => [num(r.created_at), String(r.id)]);
      return { items: p.items.map(toCommand), next: p.next };
    },
    pending: (deviceId) => db.all("SELECT * FROM commands WHERE device_id = ? AND status IN ('queued', 'sent', 'accepted') ORDER BY created_at, id", deviceId).map(toCommand),
    countPending: (deviceId, { excludeTypes }) =>
      num(db.get<{ n: number }>("SELECT count(*) AS n FROM commands WHERE device_id = ? AND status IN ('queued', 'sent', 'accepted') AND type NOT IN (SELECT value FROM json_each(?))", deviceId, list(excludeTypes))!.n),
    transition(deviceId, ids, from, to) {
      if (!ids.length) return 0;
      return db.run(
        'UPDATE commands SET status = ?, reason = ?, updated_at = ?, attempts = attempts + ? WHERE device_id = ? AND id IN (SELECT value FROM json_each(?)) AND status IN (SELECT value FROM json_each(?))',
        to.status, to.reason === null ? null : json(to.reason), to.at, to.sent ? 1 : 0, deviceId, list(ids), list(from),
      );
    },
    ofType: (type) => db.all('SELECT * FROM commands WHERE type = ? ORDER BY created_at, id', type).map(toCommand),
    pruneFinal(keep, before) {
      return db.run(
        `DELETE FROM commands WHERE id IN (
           SELECT id FROM (
             SELECT id, created_at, row_number() OVER (PARTITION BY device_id ORDER BY created_at DESC, id DESC) AS rank
             FROM commands WHERE status NOT IN (SELECT value FROM json_each(?))
           ) WHERE rank > ? OR created_at < ? LIMIT ?)`,
        list(PENDING_COMMAND_STATUSES), keep, before, PRUNE_CHUNK,
      );
    },
    expireQueued: (before, at, { excludeTypes }) =>
      db.run(
        "UPDATE commands SET status = 'expired', reason = ?, updated_at = ? WHERE status = 'queued' AND created_at < ? AND type NOT IN (SELECT value FROM json_each(?))",
        json({ code: 'COMMAND_QUEUE_EXPIRED', message: 'the device did not connect before the command expired' }), at, before, list(excludeTypes),
      ),
  };
}

export const toDelivery = (r: Row): WebhookDeliveryRecord => ({
  id: String(r.id),
  webhookId: String(r.webhook_id),
  event: String(r.event) as WebhookEvent,
  payload: String(r.payload),
  status: String(r.status) as WebhookDeliveryRecord['status'],
  attempts: num(r.attempts),
  nextAttemptAt: num(r.next_attempt_at),
  lastError: strOrNull(r.last_error),
  createdAt: num(r.created_at),
  deliveredAt: numOrNull(r.delivered_at),
});

export function sqliteWebhookDeliveries(db: Db): SyncOf<Repos['webhookDeliveries']> {
  return {
    insert(deliveries) {
      for (const d of deliveries) {
        db.run(
          'INSERT INTO webhook_deliveries (id, webhook_id, event, payload, status, attempts, next_attempt_at, last_error, created_at, delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
          d.id, d.webhookId, d.event, d.payload, d.status, d.attempts, d.nextAttemptAt, d.lastError, d.createdAt, d.deliveredAt,
        );
      }
    },
    claimDue(now, limit, leaseMs) {
      const rows = db.all("SELECT * FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? AND lease_until <= ? ORDER BY next_attempt_at, id LIMIT ?", now, now, limit);
      if (rows.length) db.run('UPDATE webhook_deliveries SET lease_until = ? WHERE id IN (SELECT value FROM json_each(?))', now + leaseMs, list(rows.map((r) => String(r.id))));
      return rows.map(toDelivery);
    },
    list(webhookId, page) {
      const after = decodeCursor(page.cursor, 2);
      const rows = after
        ? db.all('SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND (created_at < ? OR (created_at = ? AND id < ?)) ORDER BY created_at DESC, id DESC LIMIT ?', webhookId, after[0]!, after[0]!, after[1]!, page.limit + 1)
        : db.all('SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY created_at DESC, id DESC LIMIT ?', webhookId, page.limit + 1);
      const p = pageOf(rows, page.limit, (r) => [num(r.created_at), String(r.id)]);
      return { items: p.items.map(toDelivery), next: p.next };
    },
    settle(id, o) {
      db.run('UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?, delivered_at = ?, lease_until = 0 WHERE id = ?', o.status, o.attempts, o.nextAttemptAt, o.lastError, o.deliveredAt, id);
    },
    pruneBefore: (cutoff) => db.run("DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries WHERE status != 'pending' AND created_at < ? LIMIT ?)", cutoff, PRUNE_CHUNK),
  };
}
