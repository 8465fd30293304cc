// PostgreSQL repositories of what happens over time: alerts, commands and webhook deliveries. The statements of
// sqlite-events.ts in PostgreSQL's dialect; rows map through the same functions. Webhook deliveries are leased with
// , so two nodes never take the same delivery.
import { cursorNumber, decodeCursor, pageOf } from './cursor.js';
import { pgJson as json, type PgDb, type PgParam } from './postgres-db.js';
import { num, type Row } from './sqlite-db.js';
import { ALERT_COLUMNS, alertListQuery, toAlert, toCommand, toDelivery } from './sqlite-events.js';
import { PRUNE_CHUNK } from './sqlite-fleet.js';
import type { Repos } from './store.js';
import { PENDING_COMMAND_STATUSES } from './records.js';

export function postgresAlerts(db: PgDb): Repos['alerts'] {
  return {
    async list(filter, page) {
      const q = alertListQuery(filter, page);
      const rows = await db.all<Row>(q.sql, ...q.params);
      const p = pageOf(rows, page.limit, (r) => [num(r.raised_at), String(r.id)]);
      return { items: p.items.map(toAlert), next: p.next };
    },
    get: async (id) => {
      const r = await db.get<Row>('SELECT * FROM alerts WHERE id = ?', id);
      return r ? toAlert(r) : null;
    },
    openByKey: async (deviceId, key) => {
      const r = await db.get<Row>('SELECT * FROM alerts WHERE device_id = ? AND key = ? AND cleared_at IS NULL', deviceId, key);
      return r ? toAlert(r) : null;
    },
    countOpen: async (deviceId) => num((await db.get<{ n: string }>('SELECT count(*) AS n FROM alerts WHERE device_id = ? AND cleared_at IS NULL', deviceId))!.n),
    async insert(a) {
      await db.run(
        'INSERT INTO alerts (id, device_id, key, service, "check", severity, message, value, threshold, raised_at, cleared_at, acked_by, acked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        a.id, a.deviceId, a.key, a.service, a.check, a.severity, a.message, a.value, a.threshold, a.raisedAt, a.clearedAt, a.ackedBy, a.ackedAt,
      );
    },
    async update(id, patch) {
      const sets: string[] = [];
      const params: PgParam[] = [];
      for (const [key, value] of Object.entries(patch)) {
        const column = ALERT_COLUMNS[key];
        if (!column || value === undefined) continue;
        sets.push(`${column} = ?`);
        params.push(value as PgParam);
      }
      if (sets.length) await db.run(`UPDATE alerts SET ${sets.join(', ')} WHERE id = ?`, ...params, id);
    },
    pruneClearedBefore: (cutoff) => db.run('DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE cleared_at IS NOT NULL AND cleared_at < ? LIMIT ?)', cutoff, PRUNE_CHUNK),
  };
}

export function postgresCommands(db: PgDb): Repos['commands'] {
  return {
    async insert(commands) {
      if (!commands.length) return;
      await db.atomic(async () => {
        for (const c of commands) {
          await db.run(
            'INSERT INTO commands (id, device_id, type, body, actor, created_at, status, reason, updated_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            c.id, c.deviceId, c.type, json(c.body), c.actor, c.createdAt, c.status, c.reason === null ? null : json(c.reason), c.updatedAt, c.attempts,
          );
        }
      });
    },
    get: async (id) => {
      const r = await db.get<Row>('SELECT * FROM commands WHERE id = ?', id);
      return r ? toCommand(r) : null;
    },
    async listForDevice(deviceId, page) {
      const after = decodeCursor(page.cursor, 2);
      const rows = after
        ? await db.all<Row>('SELECT * FROM commands WHERE device_id = ? AND (created_at < ? OR (created_at = ? AND id < ?)) ORDER BY created_at DESC, id DESC LIMIT ?', deviceId, cursorNumber(after[0]!), cursorNumber(after[0]!), String(after[1]), page.limit + 1)
        : await db.all<Row>('SELECT * FROM commands WHERE device_id = ? ORDER BY created_at DESC, id DESC LIMIT ?', deviceId, page.limit + 1);
      const p = pageOf(rows, page.limit, (r) => [num(r.created_at), String(r.id)]);
      return { items: p.items.map(toCommand), next: p.next };
    },
    pending: async (deviceId) => (await db.all<Row>("SELECT * FROM commands WHERE device_id = ? AND status IN ('queued', 'sent', 'accepted') ORDER BY created_at, id", deviceId)).map(toCommand),
    countPending: async (deviceId, { excludeTypes }) =>
      num((await db.get<{ n: string }>("SELECT count(*) AS n FROM commands WHERE device_id = ? AND status IN ('queued', 'sent', 'accepted') AND NOT (type = ANY(?))", deviceId, excludeTypes))!.n),
    async transition(deviceId, ids, from, to) {
      if (!ids.length) return 0;
      return db.run(
        'UPDATE commands SET status = ?, reason = ?, updated_at = ?, attempts = attempts + ? WHERE device_id = ? AND id = ANY(?) AND status = ANY(?)',
        to.status, to.reason === null ? null : json(to.reason), to.at, to.sent ? 1 : 0, deviceId, ids, from,
      );
    },
    ofType: async (type) => (await db.all<Row>('SELECT * FROM commands WHERE type = ? ORDER BY created_at, id', type)).map(toCommand),
    pruneFinal: (keep, before) =>
      db.run(
        `DELETE FROM commands WHERE id IN (
           SELECT id FROM (
             SELECT id, created_at, row_number() OVER (PARTITION BY device_id ORDER BY created_at DESC, id DESC) AS rank
             FROM commands WHERE NOT (status = ANY(?))
           ) ranked WHERE rank > ? OR created_at < ? LIMIT ?)`,
        PENDING_COMMAND_STATUSES, keep, before, PRUNE_CHUNK,
      ),
    expireQueued: (before, at, { excludeTypes }) =>
      db.run(
        "UPDATE commands SET status = 'expired', reason = ?, updated_at = ? WHERE status = 'queued' AND created_at < ? AND NOT (type = ANY(?))",
        json({ code: 'COMMAND_QUEUE_EXPIRED', message: 'the device did not connect before the command expired' }), at, before, excludeTypes,
      ),
  };
}

export function postgresWebhookDeliveries(db: PgDb): Repos['webhookDeliveries'] {
  return {
    async insert(deliveries) {
      if (!deliveries.length) return;
      await db.atomic(async () => {
        for (const d of deliveries) {
          await db.run(
            'INSERT INTO webhook_deliveries (id, webhook_id, event, payload, status, attempts, next_attempt_at, last_error, created_at, delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            d.id, d.webhookId, d.event, d.payload, d.status, d.attempts, d.nextAttemptAt, d.lastError, d.createdAt, d.deliveredAt,
          );
        }
      });
    },
    claimDue: (now, limit, leaseMs) =>
      db.atomic(async () => {
        const rows = await db.all<Row>("SELECT * FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? AND lease_until <= ? ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED", now, now, limit);
        if (rows.length) await db.run('UPDATE webhook_deliveries SET lease_until = ? WHERE id = ANY(?)', now + leaseMs, rows.map((r) => String(r.id)));
        return rows.map(toDelivery);
      }),
    async list(webhookId, page) {
      const after = decodeCursor(page.cursor, 2);
      const rows = after
        ? await db.all<Row>('SELECT * FROM webhook_deliveries WHERE webhook_id = ? AND (created_at < ? OR (created_at = ? AND id < ?)) ORDER BY created_at DESC, id DESC LIMIT ?', webhookId, cursorNumber(after[0]!), cursorNumber(after[0]!), String(after[1]), page.limit + 1)
        : await db.all<Row>('SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY created_at DESC, id DESC LIMIT ?', webhookId, page.limit + 1);
      const p = pageOf(rows, page.limit, (r) => [num(r.created_at), String(r.id)]);
      return { items: p.items.map(toDelivery), next: p.next };
    },
    async settle(id, o) {
      await db.run('UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ?, delivered_at = ?, lease_until = 0 WHERE id = ?', o.status, o.attempts, o.nextAttemptAt, o.lastError, o.deliveredAt, id);
    },
    pruneBefore: (cutoff) => db.run("DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries WHERE status != 'pending' AND created_at < ? LIMIT ?)", cutoff, PRUNE_CHUNK),
  };
}
