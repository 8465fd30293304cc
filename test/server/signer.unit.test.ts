// Which key the reference server signs a command with (src/server/signer.ts): the signing (oldest active) key,
// except a key.rotate carrying TLS pins, signed with its newKey: devices take pins only from their newest pin.
import { describe, expect, it } from 'vitest';
import { generateKeyPair, signerOf } from '../../src/protocol/sign.js';
import { createCommandSigner } from '../../src/server/signer.js';

describe('command signer', () => {
  it('signs pin announcements with newKey while an overlap is open, everything else with the signing key', () => {
    const [k0, k1] = [generateKeyPair(), generateKeyPair()];
    const active = new Map([[k0.publicKey, k0], [k1.publicKey, k1]]);
    const signer = createCommandSigner(() => k0, () => [], () => [...active.keys()], (k) => active.get(k) ?? null);
    const keys = [k0.publicKey, k1.publicKey];
    const pins = signer.sign('key.rotate', { deviceId: 'd', newKey: k1.publicKey, pins: ['a'.repeat(43) + '='] }, 1);
    const plain = signer.sign('key.rotate', { deviceId: 'd', newKey: k1.publicKey }, 1);
    expect([signerOf(pins, keys), signerOf(plain, keys)]).toEqual([k1.publicKey, k0.publicKey]);
    // newKey no longer active: the signing key.
    active.delete(k1.publicKey);
    expect(signerOf(signer.sign('key.rotate', { deviceId: 'd', newKey: k1.publicKey, pins: ['a'.repeat(43) + '='] }, 1), keys)).toBe(k0.publicKey);
  });
});
