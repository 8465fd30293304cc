// followKeyChain: a device pinning an older server key accepts a rotated one only through verified endorsements.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { endorseKey, followKeyChain, type Endorsement } from '../../src/protocol/key-chain.js';
import { generateKeyPair, type KeyPair } from '../../src/protocol/sign.js';

/** K0 -> K1 -> ... -> Kn-1, each endorsed by its predecessor, as the server's keyring builds it. */
function chainOf(n: number): { keys: KeyPair[]; links: Endorsement[] } {
  const keys = Array.from({ length: n }, () => generateKeyPair());
  const links = keys.slice(1).map((k, i) => endorseKey(k.publicKey, keys[i]!.publicKey, keys[i]!.privateKeyPem));
  return { keys, links };
}
const pub = (k: KeyPair) => k.publicKey;

describe('followKeyChain', () => {
  const { keys, links } = chainOf(4);
  const [k0, k1, k2, k3] = keys as [KeyPair, KeyPair, KeyPair, KeyPair];

  it('accepts a pinned key, and anything for a device with no pins (trust on first use elsewhere)', () => {
    expect(followKeyChain([pub(k0)], pub(k0))).toMatchObject({ ok: true, added: [] });
    expect(followKeyChain([], pub(k3))).toMatchObject({ ok: true, added: [] });
  });

  it('follows every link from the pinned key to the presented one, in any order', () => {
    expect(followKeyChain([pub(k0)], pub(k2), links.slice(0, 2))).toMatchObject({ ok: true, added: [pub(k1), pub(k2)] });
    expect(followKeyChain([pub(k0)], pub(k3), [...links].reverse())).toMatchObject({ ok: true, added: [pub(k1), pub(k2), pub(k3)] });
    expect(followKeyChain([pub(k2)], pub(k3), links)).toMatchObject({ ok: true, added: [pub(k3)] });
  });

  it('refuses an unknown key without endorsements, and a chain with a missing link', () => {
    expect(followKeyChain([pub(k0)], pub(k1))).toMatchObject({ ok: false, message: /neither pinned nor endorsed/ });
    expect(followKeyChain([pub(k0)], pub(k3), [links[0]!, links[2]!])).toMatchObject({ ok: false });
  });

  it('refuses links signed by a key that is not the claimed predecessor, or signatures moved to another key', () => {
    const rogue = generateKeyPair();
    const evil = generateKeyPair();
    // Claims K0 endorsed it, but the signature is the rogue key's.
    const claimed = { ...endorseKey(pub(evil), pub(rogue), rogue.privateKeyPem), signedBy: pub(k0) };
    expect(followKeyChain([pub(k0)], pub(evil), [claimed])).toMatchObject({ ok: false });
    // K0's real signature over K1, presented as an endorsement of another key.
    expect(followKeyChain([pub(k0)], pub(evil), [{ ...links[0]!, key: pub(evil) }])).toMatchObject({ ok: false });
    // A rogue chain that never reaches a pinned key.
    expect(followKeyChain([pub(k0)], pub(evil), [endorseKey(pub(evil), pub(rogue), rogue.privateKeyPem)])).toMatchObject({ ok: false, message: /do not reach/ });
  });

  it('a retired key cannot vouch for anything once the device has dropped it', () => {
    const evil = generateKeyPair();
    const fromRetired = endorseKey(pub(evil), pub(k0), k0.privateKeyPem);
    expect(followKeyChain([pub(k2)], pub(evil), [...links, fromRetired])).toMatchObject({ ok: false });
  });

  it('ends on cycles', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    const cycle = [endorseKey(pub(a), pub(b), b.privateKeyPem), endorseKey(pub(b), pub(a), a.privateKeyPem)];
    expect(followKeyChain([pub(k0)], pub(a), cycle)).toMatchObject({ ok: false, message: /cycle/ });
  });

  it('property: flipping any byte of any link signature breaks the chain to the newest key', () => {
    const { keys: ks, links: ls } = chainOf(5);
    fc.assert(
      fc.property(fc.nat({ max: ls.length - 1 }), fc.nat({ max: 63 }), fc.integer({ min: 1, max: 255 }), (which, at, xor) => {
        const sig = Buffer.from(ls[which]!.sig, 'base64');
        sig[at] = sig[at]! ^ xor;
        const tampered = ls.map((l, i) => (i === which ? { ...l, sig: sig.toString('base64') } : l));
        return !followKeyChain([pub(ks[0]!)], pub(ks[4]!), tampered).ok;
      }),
      { numRuns: 200 },
    );
  });
});
