// What every Store engine must do for the console's sign-in and licences (logins, sessions, licences, e-mailed
// verifications). Engine-neutral: each engine's test file calls signInStoreCases with a way to open a fresh store.
import { describe, expect, it } from 'vitest';
import type { AccountRecord, LicenceRecord, LoginRecord, Store } from '../../src/server/store/store.js';
import { sampleFacts } from './helpers.js';

export function signInStoreCases(engine: string, fresh: () => Promise<Store>): void {
  const account = (id: string): AccountRecord => ({ id, name: id, tokenHash: `hash-${id}`, roleIds: [], createdAt: 1, disabledAt: null });
  const login = (accountId: string, email: string, overrides: Partial<LoginRecord> = {}): LoginRecord => ({
    accountId, email, passwordHash: 'scrypt$x', emailVerifiedAt: null, termsAcceptedAt: null, failedAttempts: 0, lockedUntil: null, createdAt: 1, ...overrides,
  });
  const licence = (id: string, product: string, seats: number, issuedAt: number): LicenceRecord => ({ id, product, seats, email: 'buyer@example.com', keyHash: `key-${id}`, issuedAt, activatedAt: null, activatedBy: null });

  describe(`${engine} store: console sign-in and licences`, () => {
    it('keeps one login per e-mail, finds it by e-mail, counts wrong passwords in one statement and locks at the limit', async () => {
      const store = await fresh();
      await store.accounts.insert(account('acct-a'));
      await store.accounts.insert(account('acct-b'));
      await store.logins.insert(login('acct-a', 'a@example.com'));
      await expect(store.logins.insert(login('acct-b', 'a@example.com'))).rejects.toThrow();
      expect((await store.logins.byEmail('a@example.com'))?.accountId).toBe('acct-a');
      expect(await store.logins.byEmail('nobody@example.com')).toBeNull();
      await Promise.all([store.logins.recordFailure('acct-a', 3, 500), store.logins.recordFailure('acct-a', 3, 500)]);
      expect(await store.logins.get('acct-a')).toMatchObject({ failedAttempts: 2, lockedUntil: null });
      expect(await store.logins.recordFailure('acct-a', 3, 500)).toMatchObject({ failedAttempts: 3, lockedUntil: 500 });
      await store.logins.update('acct-a', { failedAttempts: 0, lockedUntil: null, emailVerifiedAt: 7 });
      expect(await store.logins.get('acct-a')).toMatchObject({ failedAttempts: 0, lockedUntil: null, emailVerifiedAt: 7, passwordHash: 'scrypt$x' });
    });

    it('finds a session only before it expires, moves its expiry, and signs an account out everywhere', async () => {
      const store = await fresh();
      await store.accounts.insert(account('acct-a'));
      for (const id of ['s1', 's2']) await store.sessions.insert({ idHash: id, accountId: 'acct-a', csrfToken: `csrf-${id}`, createdAt: 0, lastSeenAt: 0, expiresAt: 100 });
      expect((await store.sessions.byHash('s1', 99))?.csrfToken).toBe('csrf-s1');
      expect(await store.sessions.byHash('s1', 100)).toBeNull();
      await store.sessions.touch('s1', 150, 200);
      expect(await store.sessions.byHash('s1', 150)).toMatchObject({ lastSeenAt: 150, expiresAt: 200 });
      expect(await store.sessions.pruneExpired(150)).toBe(1); // s2
      await store.sessions.insert({ idHash: 's3', accountId: 'acct-a', csrfToken: 'c', createdAt: 0, lastSeenAt: 0, expiresAt: 900 });
      expect(await store.sessions.deleteForAccount('acct-a')).toBe(2);
      expect(await store.sessions.byHash('s3', 1)).toBeNull();
    });

    it('activates a licence once, lists newest first with a cursor, and counts seats per product over activated licences', async () => {
      const store = await fresh();
      await store.accounts.insert(account('acct-a'));
      expect(await store.licences.count()).toBe(0);
      await store.licences.insert(licence('lic-1', 'monitoring', 2, 10));
      await store.licences.insert(licence('lic-2', 'monitoring', 3, 20));
      await store.licences.insert(licence('lic-3', 'backup', 5, 30));
      expect(await store.licences.count()).toBe(3);
      expect(await store.licences.seats('monitoring')).toEqual({ total: 0, used: 0 });
      expect(await store.licences.activate('lic-1', 40, 'acct-a')).toBe(true);
      expect(await store.licences.activate('lic-1', 41, 'acct-a')).toBe(false);
      expect(await store.licences.get('lic-1')).toMatchObject({ activatedAt: 40, activatedBy: 'acct-a' });
      expect((await store.licences.byKeyHash('key-lic-2'))?.id).toBe('lic-2');
      const first = await store.licences.list({ limit: 2, cursor: null });
      expect(first.items.map((l) => l.id)).toEqual(['lic-3', 'lic-2']);
      expect((await store.licences.list({ limit: 2, cursor: first.next })).items.map((l) => l.id)).toEqual(['lic-1']);

      await store.policies.insert({ id: 'pol-m', name: 'm', service: 'monitoring', version: 1, settings: {}, createdBy: 'acct-a', createdAt: 1, updatedAt: 1 });
      for (const id of ['dev-1', 'dev-2']) {
        await store.devices.insert({ id, publicKey: 'k', facts: sampleFacts(id), enrolledAt: 1, enrolledWith: null, lastSeen: null, lastSeq: 0, revision: 1, tags: [], revokedAt: null, revokedBy: null });
        await store.activations.upsert({ deviceId: id, service: 'monitoring', policyId: 'pol-m', activatedBy: 'acct-a', at: 1 });
      }
      expect(await store.licences.seats('monitoring')).toEqual({ total: 2, used: 2 });
      expect(await store.licences.seats('backup')).toEqual({ total: 0, used: 0 });
    });

    it('uses an e-mailed secret once and prunes expired ones', async () => {
      const store = await fresh();
      await store.accounts.insert(account('acct-a'));
      await store.licences.insert(licence('lic-1', 'monitoring', 2, 10));
      await store.verifications.insert({ tokenHash: 'v1', purpose: 'verify_email', accountId: 'acct-a', licenceId: 'lic-1', createdAt: 1, expiresAt: 100, usedAt: null });
      await store.verifications.insert({ tokenHash: 'v2', purpose: 'verify_email', accountId: 'acct-a', licenceId: null, createdAt: 1, expiresAt: 50, usedAt: null });
      expect(await store.verifications.byHash('v1')).toMatchObject({ accountId: 'acct-a', licenceId: 'lic-1', usedAt: null });
      expect(await store.verifications.use('v1', 5)).toBe(true);
      expect(await store.verifications.use('v1', 6)).toBe(false);
      expect((await store.verifications.byHash('v1'))?.usedAt).toBe(5);
      expect(await store.verifications.pruneExpired(60)).toBe(1);
      expect(await store.verifications.byHash('v2')).toBeNull();
    });
  });
}
