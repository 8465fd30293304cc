// What a verified key.rotate may change (src/agent/key-rotation.ts): the reference server's own sequences go
// through; a holder of an older pin cannot add, reorder or drop keys.
import { describe, expect, it } from 'vitest';
import { planKeyRotation } from '../../src/agent/key-rotation.js';
import { endorseKey } from '../../src/protocol/key-chain.js';
import { generateKeyPair } from '../../src/protocol/sign.js';

const [k0, k1, k2, att] = [generateKeyPair(), generateKeyPair(), generateKeyPair(), generateKeyPair()];
const link = (to: typeof k0, by: typeof k0) => endorseKey(to.publicKey, by.publicKey, by.privateKeyPem);
const K = (...keys: Array<typeof k0>) => keys.map((k) => k.publicKey);

describe('key.rotate', () => {
  it('the server sequence: rotate (endorsed from the newest pin), retire signed by the retired key or by its successor', () => {
    expect(planKeyRotation(K(k0), { newKey: k1.publicKey, endorsements: [link(k1, k0)], signedBy: k0.publicKey })).toEqual({ ok: true, keys: K(k0, k1) });
    expect(planKeyRotation(K(k0, k1), { newKey: k1.publicKey, retireKey: k0.publicKey, endorsements: [link(k1, k0)], signedBy: k0.publicKey })).toEqual({ ok: true, keys: K(k1) });
    expect(planKeyRotation(K(k0, k1), { newKey: k1.publicKey, retireKey: k0.publicKey, signedBy: k1.publicKey })).toEqual({ ok: true, keys: K(k1) });
    // Enrolled from install media during the overlap (pins K0 only), then two rotations: each chain leads from its newest pin.
    expect(planKeyRotation(K(k0), { newKey: k2.publicKey, endorsements: [link(k1, k0), link(k2, k1)], signedBy: k0.publicKey })).toEqual({ ok: true, keys: K(k0, k1, k2) });
    // The retire of K0, when the device also missed K1's announcement: K1 added from the chain, K0 dropped.
    expect(planKeyRotation(K(k0), { newKey: k1.publicKey, retireKey: k0.publicKey, endorsements: [link(k1, k0)], signedBy: k0.publicKey })).toEqual({ ok: true, keys: K(k1) });
  });

  it('TLS pins only from the newest pinned key, never from an outdated rotation (hostile review: retired-key-tls-pins)', () => {
    const refused = { ok: false, reason: { code: 'KEY_ROTATION_INVALID' } };
    // The server during the overlap (device pins K0 only; K0 signs and endorses K1): taken.
    expect(planKeyRotation(K(k0), { newKey: k1.publicKey, endorsements: [link(k1, k0)], signedBy: k0.publicKey, pins: true })).toEqual({ ok: true, keys: K(k0, k1) });
    // The reference server signs pin announcements with its newest key: taken.
    expect(planKeyRotation(K(k0, k1), { newKey: k1.publicKey, signedBy: k1.publicKey, pins: true })).toEqual({ ok: true, keys: K(k0, k1) });
    // The thief with K0 on a device that pins K0 and K1: refused, nothing changes.
    expect(planKeyRotation(K(k0, k1), { newKey: k1.publicKey, signedBy: k0.publicKey, pins: true })).toMatchObject(refused);
    // An outdated rotation carrying pins: refused rather than stale.
    expect(planKeyRotation(K(k2), { newKey: k1.publicKey, endorsements: [link(k1, k0)], signedBy: k2.publicKey, pins: true })).toMatchObject(refused);
  });

  it('an announcement the device has moved past changes nothing and says so', () => {
    // Pins K2 after following the chain in a handshake; K1's announcement, queued since, arrives signed by K2.
    const plan = planKeyRotation(K(k2), { newKey: k1.publicKey, retireKey: k2.publicKey, endorsements: [link(k1, k0)], signedBy: k2.publicKey });
    expect(plan).toMatchObject({ ok: true, keys: K(k2), stale: { code: 'KEY_ROTATION_STALE' } });
  });

  it('a holder of an older pin (pins K0, K1; the thief holds K0) cannot put K0 back on top, add its own key or drop K1', () => {
    const pins = K(k0, k1);
    const refused = { ok: false, reason: { code: 'KEY_ROTATION_INVALID' } };
    const byK0 = { signedBy: k0.publicKey };
    expect(planKeyRotation(pins, { ...byK0, newKey: k0.publicKey, retireKey: k1.publicKey })).toMatchObject(refused);
    expect(planKeyRotation(pins, { ...byK0, newKey: att.publicKey, endorsements: [link(att, k0)] })).toMatchObject(refused);
    expect(planKeyRotation(pins, { ...byK0, newKey: att.publicKey, retireKey: k1.publicKey, endorsements: [link(att, k0)] })).toMatchObject(refused);
    expect(planKeyRotation(pins, { ...byK0, newKey: att.publicKey, retireKey: k1.publicKey })).toMatchObject({ ok: true, keys: pins, stale: {} });
    // With K2 pinned too, dropping K1 in favour of K2 still needs K1's signature or a newer one.
    expect(planKeyRotation(K(k0, k1, k2), { ...byK0, newKey: k2.publicKey, retireKey: k1.publicKey })).toMatchObject(refused);
    expect(planKeyRotation(K(k0, k1, k2), { signedBy: k1.publicKey, newKey: k2.publicKey, retireKey: k1.publicKey })).toEqual({ ok: true, keys: K(k0, k2) });
  });

  it('refuses the same key added and retired, an unpinned signer, and an empty result', () => {
    expect(planKeyRotation(K(k0), { newKey: k0.publicKey, retireKey: k0.publicKey, signedBy: k0.publicKey })).toMatchObject({ ok: false });
    expect(planKeyRotation(K(k0), { newKey: k0.publicKey, signedBy: null })).toMatchObject({ ok: false });
    expect(planKeyRotation(K(k0), { newKey: k0.publicKey, signedBy: k1.publicKey })).toMatchObject({ ok: false });
  });
});
