// PostgreSQL repositories of what the console manages: roles, accounts, enrollment tokens, policies, activations,
// webhooks. The statements of sqlite-console.ts in PostgreSQL's dialect; rows map through the same functions.
import { cursorNumber, decodeCursor, pageOf } from './cursor.js';
import { pgJson as json, type PgDb, type PgParam } from './postgres-db.js';
import { num, type Row } from './sqlite-db.js';
import { toActivation, toPolicy, toRole, toToken, toWebhook } from './sqlite-console.js';
import type { Repos } from './store.js';
import type { AccountRecord } from './records.js';

export function postgresRoles(db: PgDb): Repos['roles'] {
  const get = async (id: string) => {
    const r = await db.get<Row>('SELECT * FROM roles WHERE id = ?', id);
    return r ? toRole(r) : null;
  };
  return {
    list: async () => (await db.all<Row>('SELECT * FROM roles ORDER BY built_in DESC, name, id')).map(toRole),
    get,
    async insert(role) {
      await db.run('INSERT INTO roles (id, name, permissions, built_in) VALUES (?, ?, ?, ?)', role.id, role.name, json(role.permissions), role.builtIn);
    },
    async update(id, patch) {
      await db.run('UPDATE roles SET name = coalesce(?, name), permissions = coalesce(?, permissions) WHERE id = ?', patch.name ?? null, patch.permissions ? json(patch.permissions) : null, id);
    },
    async delete(id) {
      await db.run('DELETE FROM roles WHERE id = ?', id);
    },
    holders: async (id) => num((await db.get<{ n: string }>('SELECT count(*) AS n FROM account_roles WHERE role_id = ?', id))!.n),
  };
}

export function postgresAccounts(db: PgDb): Repos['accounts'] {
  const withRoles = async (rows: Row[]): Promise<AccountRecord[]> => {
    if (!rows.length) return [];
    const roles = new Map<string, string[]>();
    for (const r of await db.all<{ account_id: string; role_id: string }>('SELECT account_id, role_id FROM account_roles WHERE account_id = ANY(?) ORDER BY role_id', rows.map((r) => String(r.id)))) {
      roles.set(r.account_id, [...(roles.get(r.account_id) ?? []), r.role_id]);
    }
    return rows.map((r) => ({ id: String(r.id), name: String(r.name), tokenHash: String(r.token_hash), roleIds: roles.get(String(r.id)) ?? [], createdAt: num(r.created_at), disabledAt: r.disabled_at === null ? null : num(r.disabled_at) }));
  };
  const writeRoles = async (id: string, roleIds: readonly string[]) => {
    await db.run('DELETE FROM account_roles WHERE account_id = ?', id);
    const unique = [...new Set(roleIds)];
    if (unique.length) await db.run('INSERT INTO account_roles (account_id, role_id) SELECT ?, unnest(?::text[])', id, unique);
  };
  const one = async (row: Row | undefined) => (row ? (await withRoles([row]))[0]! : null);
  return {
    byTokenHash: async (hash) => one(await db.get<Row>('SELECT * FROM accounts WHERE token_hash = ?', hash)),
    get: async (id) => one(await db.get<Row>('SELECT * FROM accounts WHERE id = ?', id)),
    async list(page) {
      const after = decodeCursor(page.cursor, 2);
      const rows = after
        ? await db.all<Row>('SELECT * FROM accounts WHERE created_at > ? OR (created_at = ? AND id > ?) ORDER BY created_at, id LIMIT ?', cursorNumber(after[0]!), cursorNumber(after[0]!), String(after[1]), page.limit + 1)
        : await db.all<Row>('SELECT * FROM accounts ORDER BY created_at, id LIMIT ?', page.limit + 1);
      const p = pageOf(rows, page.limit, (r) => [num(r.created_at), String(r.id)]);
      return { items: await withRoles(p.items), next: p.next };
    },
    insert: (a) =>
      db.atomic(async () => {
        await db.run('INSERT INTO accounts (id, name, token_hash, created_at, disabled_at) VALUES (?, ?, ?, ?, ?)', a.id, a.name, a.tokenHash, a.createdAt, a.disabledAt);
        await writeRoles(a.id, a.roleIds);
      }),
    update: (id, patch) =>
      db.atomic(async () => {
        const a = await one(await db.get<Row>('SELECT * FROM accounts WHERE id = ? FOR UPDATE', id));
        if (!a) return;
        const next = { ...a, ...patch };
        await db.run('UPDATE accounts SET name = ?, token_hash = ?, disabled_at = ? WHERE id = ?', next.name, next.tokenHash, next.disabledAt, id);
        if (patch.roleIds) await writeRoles(id, patch.roleIds);
      }),
  };
}

export function postgresEnrollmentTokens(db: PgDb): Repos['enrollmentTokens'] {
  return {
    async insert(t) {
      await db.run(
        'INSERT INTO enrollment_tokens (id, token_hash, label, expires_at, max_uses, uses, tags, created_by, created_at, revoked_at, revoked_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        t.id, t.tokenHash, t.label, t.expiresAt, t.maxUses, t.uses, json(t.tags), t.createdBy, t.createdAt, t.revokedAt, t.revokedBy,
      );
    },
    get: async (id) => {
      const r = await db.get<Row>('SELECT * FROM enrollment_tokens WHERE id = ?', id);
      return r ? toToken(r) : null;
    },
    byHash: async (hash, lock = {}) => {
      const r = await db.get<Row>(`SELECT * FROM enrollment_tokens WHERE token_hash = ?${lock.forUpdate ? ' FOR UPDATE' : ''}`, hash);
      return r ? toToken(r) : null;
    },
    async list(page, options = {}) {
      const after = decodeCursor(page.cursor, 2);
      const params: PgParam[] = [];
      const where: string[] = [];
      if (!options.includeRevoked) where.push('revoked_at IS NULL');
      if (after) {
        where.push('(created_at < ? OR (created_at = ? AND id < ?))');
        params.push(cursorNumber(after[0]!), cursorNumber(after[0]!), String(after[1]));
      }
      const rows = await db.all<Row>(`SELECT * FROM enrollment_tokens ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`, ...params, page.limit + 1);
      const p = pageOf(rows, page.limit, (r) => [num(r.created_at), String(r.id)]);
      return { items: p.items.map(toToken), next: p.next };
    },
    async recordUse(id) {
      await db.run('UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ?', id);
    },
    async revoke(id, at, by) {
      await db.run('UPDATE enrollment_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL', at, by, id);
    },
  };
}

export function postgresPolicies(db: PgDb): Repos['policies'] {
  return {
    async list(page, filter = {}) {
      const after = decodeCursor(page.cursor, 2);
      const where: string[] = [];
      const params: PgParam[] = [];
      if (filter.service) {
        where.push('service = ?');
        params.push(filter.service);
      }
      if (after) {
        where.push('(created_at > ? OR (created_at = ? AND id > ?))');
        params.push(cursorNumber(after[0]!), cursorNumber(after[0]!), String(after[1]));
      }
      const rows = await db.all<Row>(`SELECT * FROM policies ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id LIMIT ?`, ...params, page.limit + 1);
      const p = pageOf(rows, page.limit, (r) => [num(r.created_at), String(r.id)]);
      return { items: p.items.map(toPolicy), next: p.next };
    },
    get: async (id, lock = {}) => {
      const r = await db.get<Row>(`SELECT * FROM policies WHERE id = ?${lock.forUpdate ? ' FOR UPDATE' : ''}`, id);
      return r ? toPolicy(r) : null;
    },
    many: async (ids) => (ids.length ? (await db.all<Row>('SELECT * FROM policies WHERE id = ANY(?)', ids)).map(toPolicy) : []),
    async insert(p) {
      await db.run('INSERT INTO policies (id, name, service, version, settings, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', p.id, p.name, p.service, p.version, json(p.settings), p.createdBy, p.createdAt, p.updatedAt);
    },
    async update(id, patch) {
      await db.run('UPDATE policies SET name = ?, settings = ?, version = ?, updated_at = ? WHERE id = ?', patch.name, json(patch.settings), patch.version, patch.updatedAt, id);
    },
    async delete(id) {
      await db.run('DELETE FROM policies WHERE id = ?', id);
    },
  };
}

export function postgresActivations(db: PgDb): Repos['activations'] {
  return {
    forDevices: async (ids) => (ids.length ? (await db.all<Row>('SELECT * FROM activations WHERE device_id = ANY(?) ORDER BY device_id, service', ids)).map(toActivation) : []),
    async forService(service, page) {
      const after = decodeCursor(page.cursor, 1);
      const rows = after
        ? await db.all<Row>('SELECT * FROM activations WHERE service = ? AND device_id > ? ORDER BY device_id LIMIT ?', service, String(after[0]), page.limit + 1)
        : await db.all<Row>('SELECT * FROM activations WHERE service = ? ORDER BY device_id LIMIT ?', service, page.limit + 1);
      const p = pageOf(rows, page.limit, (r) => [String(r.device_id)]);
      return { items: p.items.map(toActivation), next: p.next };
    },
    get: async (deviceId, service) => {
      const r = await db.get<Row>('SELECT * FROM activations WHERE device_id = ? AND service = ?', deviceId, service);
      return r ? toActivation(r) : null;
    },
    byPolicy: async (policyId) => (await db.all<Row>('SELECT * FROM activations WHERE policy_id = ? ORDER BY device_id', policyId)).map(toActivation),
    async upsert(a) {
      await db.run(
        'INSERT INTO activations (device_id, service, policy_id, activated_by, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id, service) DO UPDATE SET policy_id = excluded.policy_id, activated_by = excluded.activated_by, at = excluded.at',
        a.deviceId, a.service, a.policyId, a.activatedBy, a.at,
      );
    },
    async delete(deviceId, service) {
      await db.run('DELETE FROM activations WHERE device_id = ? AND service = ?', deviceId, service);
    },
  };
}

export function postgresWebhooks(db: PgDb): Repos['webhooks'] {
  return {
    list: async () => (await db.all<Row>('SELECT * FROM webhooks ORDER BY created_at, id')).map(toWebhook),
    get: async (id) => {
      const r = await db.get<Row>('SELECT * FROM webhooks WHERE id = ?', id);
      return r ? toWebhook(r) : null;
    },
    async insert(w) {
      await db.run('INSERT INTO webhooks (id, url, secret, events, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)', w.id, w.url, w.secret, json(w.events), w.createdBy, w.createdAt);
    },
    async delete(id) {
      await db.run('DELETE FROM webhooks WHERE id = ?', id);
    },
    forEvent: async (event) =>
      (await db.all<Row>('SELECT * FROM webhooks WHERE EXISTS (SELECT 1 FROM jsonb_array_elements_text(webhooks.events::jsonb) e WHERE e = ?) ORDER BY created_at, id', event)).map(toWebhook),
  };
}
