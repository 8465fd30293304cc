// SQLite repositories of what the console manages: roles, accounts, enrollment tokens, policies, activations,
// webhooks.
import type { ServiceName } from '../../protocol/model.js';
import type { Permission } from '../access.js';
import { decodeCursor, pageOf } from './cursor.js';
import { json, list, num, numOrNull, parseJson, strOrNull, type Db, type Param, type Row } from './sqlite-db.js';
import type { Repos } from './store.js';
import type { AccountRecord, ActivationRecord, EnrollmentTokenRecord, PolicyRecord, RoleRecord, WebhookEvent, WebhookRecord } from './records.js';
import type { SyncOf } from './sqlite-sync.js';

export const toRole = (r: Row): RoleRecord => ({ id: String(r.id), name: String(r.name), permissions: parseJson<Permission[]>(r.permissions), builtIn: num(r.built_in) === 1 });

export function sqliteRoles(db: Db): SyncOf<Repos['roles']> {
  const get = (id: string) => {
    const r = db.get('SELECT * FROM roles WHERE id = ?', id);
    return r ? toRole(r) : null;
  };
  return {
    list: () => db.all('SELECT * FROM roles ORDER BY built_in DESC, name, id').map(toRole),
    get,
    insert(role) {
      db.run('INSERT INTO roles (id, name, permissions, built_in) VALUES (?, ?, ?, ?)', role.id, role.name, json(role.permissions), role.builtIn);
    },
    update(id, patch) {
      const role = get(id);
      if (role) db.run('UPDATE roles SET name = ?, permissions = ? WHERE id = ?', patch.name ?? role.name, json(patch.permissions ?? role.permissions), id);
    },
    delete(id) {
      db.run('DELETE FROM roles WHERE id = ?', id);
    },
    holders: (id) => num(db.get<{ n: number }>('SELECT count(*) AS n FROM account_roles WHERE role_id = ?', id)!.n),
  };
}

export function sqliteAccounts(db: Db): SyncOf<Repos['accounts']> {
  const withRoles = (rows: Row[]): AccountRecord[] => {
    if (!rows.length) return [];
    const roles = new Map<string, string[]>();
    for (const r of db.all<{ account_id: string; role_id: string }>('SELECT account_id, role_id FROM account_roles WHERE account_id IN (SELECT value FROM json_each(?)) ORDER BY role_id', list(rows.map((r) => String(r.id))))) {
      roles.set(r.account_id, [...(roles.get(r.account_id) ?? []), r.role_id]);
    }
    return rows.map((r) => ({ id: String(r.id), name: String(r.name), tokenHash: String(r.token_hash), roleIds: roles.get(String(r.id)) ?? [], createdAt: num(r.created_at), disabledAt: numOrNull(r.disabled_at) }));
  };
  const writeRoles = (id: string, roleIds: readonly string[]) => {
    db.run('DELETE FROM account_roles WHERE account_id = ?', id);
    for (const roleId of new Set(roleIds)) db.run('INSERT INTO account_roles (account_id, role_id) VALUES (?, ?)', id, roleId);
  };
  const one = (row: Row | undefined) => (row ? withRoles([row])[0]! : null);
  return {
    byTokenHash: (hash) => one(db.get('SELECT * FROM accounts WHERE token_hash = ?', hash)),
    get: (id) => one(db.get('SELECT * FROM accounts WHERE id = ?', id)),
    list(page) {
      const after = decodeCursor(page.cursor, 2);
      const rows = after
        ? db.all('SELECT * FROM accounts WHERE created_at > ? OR (created_at = ? AND id > ?) ORDER BY created_at, id LIMIT ?', after[0]!, after[0]!, after[1]!, page.limit + 1)
        : db.all('SELECT * FROM accounts ORDER BY created_at, id LIMIT ?', page.limit + 1);
      const p = pageOf(rows, page.limit, (r) => [num(r.created_at), String(r.id)]);
      return { items: withRoles(p.items), next: p.next };
    },
    insert(a) {
      db.run('INSERT INTO accounts (id, name, token_hash, created_at, disabled_at) VALUES (?, ?, ?, ?, ?)', a.id, a.name, a.tokenHash, a.createdAt, a.disabledAt);
      writeRoles(a.id, a.roleIds);
    },
    update(id, patch) {
      const a = one(db.get('SELECT * FROM accounts WHERE id = ?', id));
      if (!a) return;
      const next = { ...a, ...patch };
      db.run('UPDATE accounts SET name = ?, token_hash = ?, disabled_at = ? WHERE id = ?', next.name, next.tokenHash, next.disabledAt, id);
      if (patch.roleIds) writeRoles(id, patch.roleIds);
    },
  };
}

export const toToken = (r: Row): EnrollmentTokenRecord => ({
  id: String(r.id),
  tokenHash: String(r.token_hash),
  label: strOrNull(r.label),
  expiresAt: numOrNull(r.expires_at),
  maxUses: numOrNull(r.max_uses),
  uses: num(r.uses),
  tags: parseJson<string[]>(r.tags),
  createdBy: String(r.created_by),
  createdAt: num(r.created_at),
  revokedAt: numOrNull(r.revoked_at),
  revokedBy: strOrNull(r.revoked_by),
});

export function sqliteEnrollmentTokens(db: Db): SyncOf<Repos['enrollmentTokens']> {
  return {
    insert(t) {
      db.run(
        'INSERT INTO enrollment_tokens (id, token_hash, label, expires_at, max_uses, uses, tags, created_by, created_at, revoked_at, revoked_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        t.id, t.tokenHash, t.label, t.expiresAt, t.maxUses, t.uses, json(t.tags), t.createdBy, t.createdAt, t.revokedAt, t.revokedBy,
      );
    },
    get: (id) => {
      const r = db.get('SELECT * FROM enrollment_tokens WHERE id = ?', id);
      return r ? toToken(r) : null;
    },
    byHash: (hash) => {
      const r = db.get('SELECT * FROM enrollment_tokens WHERE token_hash = ?', hash);
      return r ? toToken(r) : null;
    },
    list(page, options = {}) {
      const after = decodeCursor(page.cursor, 2);
      const params: Param[] = [];
      const where: string[] = [];
      if (!options.includeRevoked) where.push('revoked_at IS NULL');
      if (after) {
        where.push('(created_at < ? OR (created_at = ? AND id < ?))');
        params.push(after[0]!, after[0]!, after[1]!);
      }
      const rows = db.all(`SELECT * FROM enrollment_tokens ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`, ...params, page.limit + 1);
      const p = pageOf(rows, page.limit, (r) => [num(r.created_at), String(r.id)]);
      return { items: p.items.map(toToken), next: p.next };
    },
    recordUse(id) {
      db.run('UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ?', id);
    },
    revoke(id, at, by) {
      db.run('UPDATE enrollment_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL', at, by, id);
    },
  };
}

export const toPolicy = (r: Row): PolicyRecord => ({
  id: String(r.id),
  name: String(r.name),
  service: String(r.service) as ServiceName,
  version: num(r.version),
  settings: parseJson(r.settings),
  createdBy: String(r.created_by),
  createdAt: num(r.created_at),
  updatedAt: num(r.updated_at),
});

export function sqlitePolicies(db: Db): SyncOf<Repos['policies']> {
  return {
    list(page, filter = {}) {
      const after = decodeCursor(page.cursor, 2);
      const where: string[] = [];
      const params: Param[] = [];
      if (filter.service) {
        where.push('service = ?');
        params.push(filter.service);
      }
      if (after) {
        where.push('(created_at > ? OR (created_at = ? AND id > ?))');
        params.push(after[0]!, after[0]!, after[1]!);
      }
      const rows = db.all(`SELECT * FROM policies ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id LIMIT ?`, ...params, page.limit + 1);
      const p = pageOf(rows, page.limit, (r) => [num(r.created_at), String(r.id)]);
      return { items: p.items.map(toPolicy), next: p.next };
    },
    get: (id) => {
      const r = db.get('SELECT * FROM policies WHERE id = ?', id);
      return r ? toPolicy(r) : null;
    },
    many: (ids) => (ids.length ? db.all('SELECT * FROM policies WHERE id IN (SELECT value FROM json_each(?))', list(ids)).map(toPolicy) : []),
    insert(p) {
      db.run('INSERT INTO policies (id, name, service, version, settings, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', p.id, p.name, p.service, p.version, json(p.settings), p.createdBy, p.createdAt, p.updatedAt);
    },
    update(id, patch) {
      db.run('UPDATE policies SET name = ?, settings = ?, version = ?, updated_at = ? WHERE id = ?', patch.name, json(patch.settings), patch.version, patch.updatedAt, id);
    },
    delete(id) {
      db.run('DELETE FROM policies WHERE id = ?', id);
    },
  };
}

export const toActivation = (r: Row): ActivationRecord => ({ deviceId: String(r.device_id), service: String(r.service) as ServiceName, policyId: String(r.policy_id), activatedBy: String(r.activated_by), at: num(r.at) });

export function sqliteActivations(db: Db): SyncOf<Repos['activations']> {
  return {
    forDevices: (ids) => (ids.length ? db.all('SELECT * FROM activations WHERE device_id IN (SELECT value FROM json_each(?)) ORDER BY device_id, service', list(ids)).map(toActivation) : []),
    forService(service, page) {
      const after = decodeCursor(page.cursor, 1);
      const rows = after
        ? db.all('SELECT * FROM activations WHERE service = ? AND device_id > ? ORDER BY device_id LIMIT ?', service, after[0]!, page.limit + 1)
        : db.all('SELECT * FROM activations WHERE service = ? ORDER BY device_id LIMIT ?', service, page.limit + 1);
      const p = pageOf(rows, page.limit, (r) => [String(r.device_id)]);
      return { items: p.items.map(toActivation), next: p.next };
    },
    get: (deviceId, service) => {
      const r = db.get('SELECT * FROM activations WHERE device_id = ? AND service = ?', deviceId, service);
      return r ? toActivation(r) : null;
    },
    byPolicy: (policyId) => db.all('SELECT * FROM activations WHERE policy_id = ? ORDER BY device_id', policyId).map(toActivation),
    upsert(a) {
      db.run(
        'INSERT INTO activations (device_id, service, policy_id, activated_by, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id, service) DO UPDATE SET policy_id = excluded.policy_id, activated_by = excluded.activated_by, at = excluded.at',
        a.deviceId, a.service, a.policyId, a.activatedBy, a.at,
      );
    },
    delete(deviceId, service) {
      db.run('DELETE FROM activations WHERE device_id = ? AND service = ?', deviceId, service);
    },
  };
}

export const toWebhook = (r: Row): WebhookRecord => ({ id: String(r.id), url: String(r.url), secret: String(r.secret), events: parseJson<WebhookEvent[]>(r.events), createdBy: String(r.created_by), createdAt: num(r.created_at) });

export function sqliteWebhooks(db: Db): SyncOf<Repos['webhooks']> {
  return {
    list: () => db.all('SELECT * FROM webhooks ORDER BY created_at, id').map(toWebhook),
    get: (id) => {
      const r = db.get('SELECT * FROM webhooks WHERE id = ?', id);
      return r ? toWebhook(r) : null;
    },
    insert(w) {
      db.run('INSERT INTO webhooks (id, url, secret, events, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)', w.id, w.url, w.secret, json(w.events), w.createdBy, w.createdAt);
    },
    delete(id) {
      db.run('DELETE FROM webhooks WHERE id = ?', id);
    },
    forEvent: (event) => db.all('SELECT * FROM webhooks WHERE EXISTS (SELECT 1 FROM json_each(webhooks.events) WHERE value = ?) ORDER BY created_at, id', event).map(toWebhook),
  };
}
