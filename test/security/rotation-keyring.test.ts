// The server's key ring in a real SQLite store: key files of an older server are imported (upgrades strand nobody)
// and removed, rotate/retire rules, private halves sealed at rest (the database alone cannot sign), the secret's
// file and mode, a wrong secret stops the start, and the endorsement chain it hands to hello.
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { loadKeyring } from '../../src/server/keyring.js';
import { createSqliteStore } from '../../src/server/store/sqlite.js';
import type { Store } from '../../src/server/store/store.js';
import { followKeyChain } from '../../src/protocol/key-chain.js';
import { generateKeyPair } from '../../src/protocol/sign.js';
import { isRmError } from '../../src/protocol/errors.js';
import { silentLogger } from '../../src/log.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'rmagent-keyring-'));
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});
async function storeIn(dataDir: string): Promise<Store> {
  const store = createSqliteStore({ dataDir, logger: silentLogger() });
  await store.open();
  stores.push(store);
  return store;
}
const ringIn = async (dataDir: string, now: number, store?: Store) => loadKeyring({ store: store ?? (await storeIn(dataDir)), dataDir, logger: silentLogger(), now });

describe('server key ring', () => {
  it('imports the key of a data folder from before rotation existed, then removes the file', async () => {
    const data = dir();
    const before = generateKeyPair();
    writeFileSync(path.join(data, 'server-key'), before.privateKeyPem, { mode: 0o600 });
    const ring = await ringIn(data, 1);
    expect(ring.signing().publicKey).toBe(before.publicKey);
    expect(ring.endorsements()).toEqual([]);
    expect(existsSync(path.join(data, 'server-key'))).toBe(false);
    expect(readFileSync(path.join(data, 'server-key.pub'), 'utf8').trim()).toBe(before.publicKey);
    expect(statSync(path.join(data, 'key-encryption.secret')).mode & 0o777).toBe(0o600);
  });

  it('imports a rotated chain (server-keys.json) as it was: retired keys stay retired, without private halves', async () => {
    const data = dir();
    const ring0 = await ringIn(data, 1, await storeIn(dir()));
    const k0 = ring0.signing();
    const k1 = await ring0.rotate(2);
    await ring0.retire(k0.publicKey, 3);
    const entries = ring0.list().map((k, i) => ({ publicKey: k.publicKey, privateKeyPem: i === 0 ? null : ring0.signing().privateKeyPem, createdAt: k.createdAt, retiredAt: k.retiredAt, endorsement: i === 0 ? null : ring0.endorsements([k0.publicKey])[0]! }));
    writeFileSync(path.join(data, 'server-keys.json'), JSON.stringify({ v: 1, keys: entries }), { mode: 0o600 });
    writeFileSync(path.join(data, 'server-key'), ring0.signing().privateKeyPem, { mode: 0o600 });
    const ring = await ringIn(data, 4);
    expect(ring.list().map((k) => [k.publicKey, k.state])).toEqual([[k0.publicKey, 'retired'], [k1.publicKey, 'signing']]);
    expect(ring.endorsements([k0.publicKey]).map((e) => [e.signedBy, e.key])).toEqual([[k0.publicKey, k1.publicKey]]);
    expect(existsSync(path.join(data, 'server-keys.json')) || existsSync(path.join(data, 'server-key'))).toBe(false);
  });

  it('rotates with overlap, retires only the signing key, and reads the same state again; the database holds no private key in the clear', async () => {
    const data = dir();
    const ring = await ringIn(data, 1);
    const k0 = ring.signing().publicKey;
    const refusal = (f: () => unknown) => { try { f(); return null; } catch (e) { return isRmError(e) ? e.code : String(e); } };
    expect(refusal(() => ring.assertRetirable(k0))).toBe('API_INVALID'); // nothing to take over
    const k1 = (await ring.rotate(2)).publicKey;
    expect(ring.signing().publicKey).toBe(k0); // overlap: the old key still signs
    expect(refusal(() => ring.assertRetirable(k1))).toBe('API_INVALID'); // not the signing key
    await ring.retire(k0, 3);
    expect(ring.signing().publicKey).toBe(k1);
    expect(readFileSync(path.join(data, 'server-key.pub'), 'utf8').trim()).toBe(k1);
    expect(ring.endorsements().map((e) => [e.signedBy, e.key])).toEqual([[k0, k1]]);
    expect(followKeyChain([k0], k1, ring.endorsements())).toMatchObject({ ok: true, added: [k1] });
    await expect(ring.retire(k0, 4)).rejects.toMatchObject({ code: 'API_INVALID' });

    const again = await ringIn(data, 4, stores[0]);
    expect(again.list().map((k) => [k.publicKey, k.state])).toEqual([[k0, 'retired'], [k1, 'signing']]);
    const rows = new DatabaseSync(path.join(data, 'rmagent.db'), { readOnly: true }).prepare('SELECT sealed_private_key AS s FROM server_keys ORDER BY position').all() as Array<{ s: string | null }>;
    expect(rows.map((r) => r.s === null)).toEqual([true, false]);
    expect(rows[1]!.s).toMatch(/^aes256gcm\.v1:/);
    for (const f of ['rmagent.db', 'rmagent.db-wal']) if (existsSync(path.join(data, f))) expect(readFileSync(path.join(data, f)).includes('PRIVATE KEY')).toBe(false);
  });

  it('a node with another secret cannot open the keys (SERVER_KEYS_UNREADABLE); one with none is not given a new one', async () => {
    const data = dir();
    const store = await storeIn(data);
    await ringIn(data, 1, store);
    const other = dir();
    writeFileSync(path.join(other, 'key-encryption.secret'), `${Buffer.alloc(32, 7).toString('base64')}\n`);
    await expect(loadKeyring({ store, dataDir: other, logger: silentLogger(), now: 2 })).rejects.toMatchObject({ code: 'SERVER_KEYS_UNREADABLE' });
    const none = dir();
    await expect(loadKeyring({ store, dataDir: none, logger: silentLogger(), now: 2 })).rejects.toMatchObject({ code: 'SERVER_KEYS_UNREADABLE' });
    expect(existsSync(path.join(none, 'key-encryption.secret'))).toBe(false);
  });

  it('a device many rotations behind gets the chain from the newest key it pins (no 32-link window); active keys are listed', async () => {
    const data = dir();
    const ring = await ringIn(data, 1);
    const history = [ring.signing().publicKey];
    // 40 rotations, each retired: more than the 32 newest links hello used to carry.
    for (let i = 0; i < 40; i++) {
      history.push((await ring.rotate(i + 2)).publicKey);
      await ring.retire(history[i]!, i + 2);
    }
    const signing = ring.signing().publicKey;
    expect(signing).toBe(history[40]);
    expect(ring.active()).toEqual([signing]);
    // A device asleep since the first key asks from it: 40 links, and they lead to the signing key.
    const fromFirst = ring.endorsements([history[0]!]);
    expect(fromFirst).toHaveLength(40);
    expect(followKeyChain([history[0]!], signing, fromFirst)).toMatchObject({ ok: true });
    // One that pins a recent key gets only what it lacks; one pinning the signing key gets nothing.
    expect(ring.endorsements([history[0]!, history[37]!])).toHaveLength(3);
    expect(ring.endorsements([signing])).toEqual([]);
  });

  it('a corrupt key file of an older server stops the start instead of silently making a new key', async () => {
    const data = dir();
    writeFileSync(path.join(data, 'server-keys.json'), '{"v":1,"keys":[]}');
    await expect(ringIn(data, 2)).rejects.toMatchObject({ code: 'SERVER_STORE_CORRUPT' });
  });
});
