// SQLite repositories of the web console's sign-in and licences: logins, sessions, licences, e-mailed
// verification secrets.
import { decodeCursor, pageOf } from './cursor.js';
import { num, numOrNull, strOrNull, type Db, type Row } from './sqlite-db.js';
import type { LicenceRecord, LoginRecord, SessionRecord, VerificationRecord } from './records.js';
import type { SyncOf } from './sqlite-sync.js';
import type { Repos } from './store.js';

export const toLogin = (r: Row): LoginRecord => ({
  accountId: String(r.account_id),
  email: String(r.email),
  passwordHash: String(r.password_hash),
  emailVerifiedAt: numOrNull(r.email_verified_at),
  termsAcceptedAt: numOrNull(r.terms_accepted_at),
  failedAttempts: num(r.failed_attempts),
  lockedUntil: numOrNull(r.locked_until),
  createdAt: num(r.created_at),
});

export function sqliteLogins(db: Db): SyncOf<Repos['logins']> {
  const get = (accountId: string) => {
    const r = db.get('SELECT * FROM logins WHERE account_id = ?', accountId);
    return r ? toLogin(r) : null;
  };
  return {
    get,
    byEmail: (email) => {
      const r = db.get('SELECT * FROM logins WHERE email = ?', email);
      return r ? toLogin(r) : null;
    },
    insert(l) {
      db.run(
        'INSERT INTO logins (account_id, email, password_hash, email_verified_at, terms_accepted_at, failed_attempts, locked_until, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        l.accountId, l.email, l.passwordHash, l.emailVerifiedAt, l.termsAcceptedAt, l.failedAttempts, l.lockedUntil, l.createdAt,
      );
    },
    update(accountId, patch) {
      const l = get(accountId);
      if (!l) return;
      const n = { ...l, ...patch };
      db.run(
        'UPDATE logins SET password_hash = ?, email_verified_at = ?, terms_accepted_at = ?, failed_attempts = ?, locked_until = ? WHERE account_id = ?',
        n.passwordHash, n.emailVerifiedAt, n.termsAcceptedAt, n.failedAttempts, n.lockedUntil, accountId,
      );
    },
    recordFailure(accountId, lockAfter, lockUntil) {
      // One statement: two wrong passwords at once cannot both read the old count.
      db.run(
        'UPDATE logins SET failed_attempts = failed_attempts + 1, locked_until = CASE WHEN failed_attempts + 1 >= ? THEN ? ELSE locked_until END WHERE account_id = ?',
        lockAfter, lockUntil, accountId,
      );
      return get(accountId);
    },
  };
}

export const toSession = (r: Row): SessionRecord => ({
  idHash: String(r.id_hash),
  accountId: String(r.account_id),
  csrfToken: String(r.csrf_token),
  createdAt: num(r.created_at),
  lastSeenAt: num(r.last_seen_at),
  expiresAt: num(r.expires_at),
});

export function sqliteSessions(db: Db): SyncOf<Repos['sessions']> {
  return {
    insert(s) {
      db.run('INSERT INTO sessions (id_hash, account_id, csrf_token, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)', s.idHash, s.accountId, s.csrfToken, s.createdAt, s.lastSeenAt, s.expiresAt);
    },
    byHash: (idHash, now) => {
      const r = db.get('SELECT * FROM sessions WHERE id_hash = ? AND expires_at > ?', idHash, now);
      return r ? toSession(r) : null;
    },
    touch(idHash, lastSeenAt, expiresAt) {
      db.run('UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id_hash = ?', lastSeenAt, expiresAt, idHash);
    },
    delete(idHash) {
      db.run('DELETE FROM sessions WHERE id_hash = ?', idHash);
    },
    deleteForAccount: (accountId) => db.run('DELETE FROM sessions WHERE account_id = ?', accountId),
    pruneExpired: (now) => db.run('DELETE FROM sessions WHERE expires_at <= ?', now),
  };
}

export const toLicence = (r: Row): LicenceRecord => ({
  id: String(r.id),
  product: String(r.product),
  seats: num(r.seats),
  email: String(r.email),
  keyHash: String(r.key_hash),
  issuedAt: num(r.issued_at),
  activatedAt: numOrNull(r.activated_at),
  activatedBy: strOrNull(r.activated_by),
});

export function sqliteLicences(db: Db): SyncOf<Repos['licences']> {
  return {
    insert(l) {
      db.run('INSERT INTO licences (id, product, seats, email, key_hash, issued_at, activated_at, activated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', l.id, l.product, l.seats, l.email, l.keyHash, l.issuedAt, l.activatedAt, l.activatedBy);
    },
    get: (id) => {
      const r = db.get('SELECT * FROM licences WHERE id = ?', id);
      return r ? toLicence(r) : null;
    },
    byKeyHash: (keyHash) => {
      const r = db.get('SELECT * FROM licences WHERE key_hash = ?', keyHash);
      return r ? toLicence(r) : null;
    },
    list(page) {
      const after = decodeCursor(page.cursor, 2);
      const rows = after
        ? db.all('SELECT * FROM licences WHERE issued_at < ? OR (issued_at = ? AND id < ?) ORDER BY issued_at DESC, id DESC LIMIT ?', after[0]!, after[0]!, after[1]!, page.limit + 1)
        : db.all('SELECT * FROM licences ORDER BY issued_at DESC, id DESC LIMIT ?', page.limit + 1);
      const p = pageOf(rows, page.limit, (r) => [num(r.issued_at), String(r.id)]);
      return { items: p.items.map(toLicence), next: p.next };
    },
    activate: (id, at, by) => db.run('UPDATE licences SET activated_at = ?, activated_by = ? WHERE id = ? AND activated_at IS NULL', at, by, id) === 1,
    count: () => num(db.get<{ n: number }>('SELECT count(*) AS n FROM licences')!.n),
    seats(product) {
      const total = num(db.get<{ n: number | null }>('SELECT coalesce(sum(seats), 0) AS n FROM licences WHERE product = ? AND activated_at IS NOT NULL', product)!.n);
      const used = num(db.get<{ n: number }>('SELECT count(*) AS n FROM activations WHERE service = ?', product)!.n);
      return { total, used };
    },
  };
}

export const toVerification = (r: Row): VerificationRecord => ({
  tokenHash: String(r.token_hash),
  purpose: String(r.purpose) as VerificationRecord['purpose'],
  accountId: String(r.account_id),
  licenceId: strOrNull(r.licence_id),
  createdAt: num(r.created_at),
  expiresAt: num(r.expires_at),
  usedAt: numOrNull(r.used_at),
});

export function sqliteVerifications(db: Db): SyncOf<Repos['verifications']> {
  return {
    insert(v) {
      db.run('INSERT INTO verifications (token_hash, purpose, account_id, licence_id, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?)', v.tokenHash, v.purpose, v.accountId, v.licenceId, v.createdAt, v.expiresAt, v.usedAt);
    },
    byHash: (tokenHash) => {
      const r = db.get('SELECT * FROM verifications WHERE token_hash = ?', tokenHash);
      return r ? toVerification(r) : null;
    },
    use: (tokenHash, at) => db.run('UPDATE verifications SET used_at = ? WHERE token_hash = ? AND used_at IS NULL', at, tokenHash) === 1,
    pruneExpired: (now) => db.run('DELETE FROM verifications WHERE expires_at <= ?', now),
  };
}
