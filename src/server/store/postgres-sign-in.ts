// PostgreSQL repositories of the web console's sign-in and licences: the statements of sqlite-sign-in.ts in
// PostgreSQL's dialect; rows map through the same functions.
import { cursorNumber, decodeCursor, pageOf } from './cursor.js';
import { type PgDb } from './postgres-db.js';
import { num, type Row } from './sqlite-db.js';
import { toLicence, toLogin, toSession, toVerification } from './sqlite-sign-in.js';
import type { Repos } from './store.js';

export function postgresLogins(db: PgDb): Repos['logins'] {
  const get = async (accountId: string) => {
    const r = await db.get<Row>('SELECT * FROM logins WHERE account_id = ?', accountId);
    return r ? toLogin(r) : null;
  };
  return {
    get,
    byEmail: async (email, lock = {}) => {
      const r = await db.get<Row>(`SELECT * FROM logins WHERE email = ?${lock.forUpdate ? ' FOR UPDATE' : ''}`, email);
      return r ? toLogin(r) : null;
    },
    async insert(l) {
      await db.run(
        'INSERT INTO logins (account_id, email, password_hash, email_verified_at, terms_accepted_at, failed_attempts, locked_until, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        l.accountId, l.email, l.passwordHash, l.emailVerifiedAt, l.termsAcceptedAt, l.failedAttempts, l.lockedUntil, l.createdAt,
      );
    },
    update: (accountId, patch) =>
      db.atomic(async () => {
        const r = await db.get<Row>('SELECT * FROM logins WHERE account_id = ? FOR UPDATE', accountId);
        if (!r) return;
        const n = { ...toLogin(r), ...patch };
        await db.run(
          'UPDATE logins SET password_hash = ?, email_verified_at = ?, terms_accepted_at = ?, failed_attempts = ?, locked_until = ? WHERE account_id = ?',
          n.passwordHash, n.emailVerifiedAt, n.termsAcceptedAt, n.failedAttempts, n.lockedUntil, accountId,
        );
      }),
    async recordFailure(accountId, lockAfter, lockUntil) {
      // One statement: two wrong passwords at once cannot both read the old count.
      const r = await db.get<Row>(
        'UPDATE logins SET failed_attempts = failed_attempts + 1, locked_until = CASE WHEN failed_attempts + 1 >= ? THEN ? ELSE locked_until END WHERE account_id = ? RETURNING *',
        lockAfter, lockUntil, accountId,
      );
      return r ? toLogin(r) : null;
    },
  };
}

export function postgresSessions(db: PgDb): Repos['sessions'] {
  return {
    async insert(s) {
      await db.run('INSERT INTO sessions (id_hash, account_id, csrf_token, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)', s.idHash, s.accountId, s.csrfToken, s.createdAt, s.lastSeenAt, s.expiresAt);
    },
    byHash: async (idHash, now) => {
      const r = await db.get<Row>('SELECT * FROM sessions WHERE id_hash = ? AND expires_at > ?', idHash, now);
      return r ? toSession(r) : null;
    },
    async touch(idHash, lastSeenAt, expiresAt) {
      await db.run('UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id_hash = ?', lastSeenAt, expiresAt, idHash);
    },
    async delete(idHash) {
      await db.run('DELETE FROM sessions WHERE id_hash = ?', idHash);
    },
    deleteForAccount: (accountId) => db.run('DELETE FROM sessions WHERE account_id = ?', accountId),
    pruneExpired: (now) => db.run('DELETE FROM sessions WHERE expires_at <= ?', now),
  };
}

export function postgresLicences(db: PgDb): Repos['licences'] {
  return {
    async insert(l) {
      await db.run('INSERT INTO licences (id, product, seats, email, key_hash, issued_at, activated_at, activated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', l.id, l.product, l.seats, l.email, l.keyHash, l.issuedAt, l.activatedAt, l.activatedBy);
    },
    get: async (id) => {
      const r = await db.get<Row>('SELECT * FROM licences WHERE id = ?', id);
      return r ? toLicence(r) : null;
    },
    byKeyHash: async (keyHash, lock = {}) => {
      const r = await db.get<Row>(`SELECT * FROM licences WHERE key_hash = ?${lock.forUpdate ? ' FOR UPDATE' : ''}`, keyHash);
      return r ? toLicence(r) : null;
    },
    async list(page) {
      const after = decodeCursor(page.cursor, 2);
      const rows = after
        ? await db.all<Row>('SELECT * FROM licences WHERE issued_at < ? OR (issued_at = ? AND id < ?) ORDER BY issued_at DESC, id DESC LIMIT ?', cursorNumber(after[0]!), cursorNumber(after[0]!), String(after[1]), page.limit + 1)
        : await db.all<Row>('SELECT * FROM licences ORDER BY issued_at DESC, id DESC LIMIT ?', page.limit + 1);
      const p = pageOf(rows, page.limit, (r) => [num(r.issued_at), String(r.id)]);
      return { items: p.items.map(toLicence), next: p.next };
    },
    activate: async (id, at, by) => (await db.run('UPDATE licences SET activated_at = ?, activated_by = ? WHERE id = ? AND activated_at IS NULL', at, by, id)) === 1,
    count: async () => num((await db.get<{ n: string }>('SELECT count(*) AS n FROM licences'))!.n),
    async seats(product) {
      const r = (await db.get<{ total: string; used: string }>(
        'SELECT (SELECT coalesce(sum(seats), 0) FROM licences WHERE product = ? AND activated_at IS NOT NULL) AS total, (SELECT count(*) FROM activations WHERE service = ?) AS used',
        product, product,
      ))!;
      return { total: num(r.total), used: num(r.used) };
    },
  };
}

export function postgresVerifications(db: PgDb): Repos['verifications'] {
  return {
    async insert(v) {
      await db.run('INSERT INTO verifications (token_hash, purpose, account_id, licence_id, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?)', v.tokenHash, v.purpose, v.accountId, v.licenceId, v.createdAt, v.expiresAt, v.usedAt);
    },
    byHash: async (tokenHash, lock = {}) => {
      const r = await db.get<Row>(`SELECT * FROM verifications WHERE token_hash = ?${lock.forUpdate ? ' FOR UPDATE' : ''}`, tokenHash);
      return r ? toVerification(r) : null;
    },
    use: async (tokenHash, at) => (await db.run('UPDATE verifications SET used_at = ? WHERE token_hash = ? AND used_at IS NULL', at, tokenHash)) === 1,
    pruneExpired: (now) => db.run('DELETE FROM verifications WHERE expires_at <= ?', now),
  };
}
