// The server's key ring on real files: an existing server-key is kept as the root (upgrades strand nobody),
// rotate/retire rules, files and modes, and the endorsement chain it hands to hello.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKeyring } from '../../src/server/keyring.js';
import { loadOrCreateServerKey } from '../../src/server/signer.js';
import { followKeyChain } from '../../src/protocol/key-chain.js';
import { isRmError } from '../../src/protocol/errors.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'rmagent-keyring-'));

describe('server key ring', () => {
  it('keeps the key of a data folder from before rotation existed', async () => {
    const data = dir();
    const before = await loadOrCreateServerKey(data);
    const ring = await loadKeyring(data, 1);
    expect(ring.signing().publicKey).toBe(before.publicKey);
    expect(ring.endorsements()).toEqual([]);
    expect(statSync(path.join(data, 'server-keys.json')).mode & 0o777).toBe(0o600);
  });

  it('rotates with overlap, retires only the signing key, and reloads the same state from disk', async () => {
    const data = dir();
    const ring = await loadKeyring(data, 1);
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

    const again = await loadKeyring(data, 4);
    expect(again.list().map((k) => [k.publicKey, k.state])).toEqual([[k0, 'retired'], [k1, 'signing']]);
    const onDisk = JSON.parse(readFileSync(path.join(data, 'server-keys.json'), 'utf8')) as { keys: Array<{ privateKeyPem: string | null }> };
    expect(onDisk.keys.map((k) => k.privateKeyPem === null)).toEqual([true, false]);
  });

  it('a device many rotations behind gets the chain from the newest key it pins (no 32-link window); active keys are listed', async () => {
    const data = dir();
    const ring = await loadKeyring(data, 1);
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

  it('a corrupt key file stops the start instead of silently making a new key', async () => {
    const data = dir();
    await loadKeyring(data, 1);
    writeFileSync(path.join(data, 'server-keys.json'), '{"v":1,"keys":[]}');
    await expect(loadKeyring(data, 2)).rejects.toMatchObject({ code: 'SERVER_STORE_CORRUPT' });
  });
});
