// From a hostile review: a holder of a RETIRED server key K0 (stolen with the old certificate A's private key, in
// the same breach) against a device that missed K0's retirement (it pins K0 and K1) and pins certificates. Before
// the defence, the TLS pin set a key.rotate carries (`pins`) was taken from any pinned signer: K0 sent key.rotate
// {newKey: K1 (already pinned), pins: [A]} and the device dropped B, the certificate the real server moved to; it
// could then never reach the real server (TLS_PIN_MISMATCH), so never met the server.hello whose activeKeys drop
// K0: the retired key kept the device for good. The defence: a pin set only from the newest pinned key
// (KEY_ROTATION_INVALID otherwise), and the device reaches the real server afterwards.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { endorseKey } from '../../src/protocol/key-chain.js';
import { generateKeyPair, keyFingerprint as fp } from '../../src/protocol/sign.js';
import { agentHome, assertBuilt } from '../e2e/harness.js';
import { peersAndAgents, pointTo } from './peer-harness.js';
import { makeCerts, makeServerCert } from './tls-server.js';

const { peer, start, stop } = peersAndAgents();

describe('a retired key holder and TLS pins', () => {
  beforeAll(() => assertBuilt());

  it('cannot replace the TLS pin set with key.rotate signed by the retired key (and so lock the device out of the real server)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rmagent-h4pins-'));
    const certs = makeCerts(dir); // CA + certificate A
    const b = makeServerCert(dir, certs, 'b');
    const tlsA = { certFile: certs.certFile, keyFile: certs.keyFile };
    const k0 = generateKeyPair();
    const k1 = generateKeyPair();
    // The real server during the overlap: K0 signs, K1 announced; certificate A, pin set [A, B] announced.
    const overlap = await peer({ key: k0, activeKeys: [k0.publicKey, k1.publicKey], tls: tlsA });
    const home = await agentHome('h4-pins', { RMAGENT_CA_FILE: certs.caFile, RMAGENT_PIN_SHA256: certs.pin });
    expect((await home.cli('enroll', '--server', overlap.url, '--token', 'h4-pins-token-123456', '--server-key', k0.publicKey)).code).toBe(0);
    let proc = await start(home);
    await home.waitFor('enrolled', (s) => s.connection.state === 'connected' && s.registration.deviceId === 'dev-1');
    const announce = overlap.command('key.rotate', { newKey: k1.publicKey, endorsements: [endorseKey(k1.publicKey, k0.publicKey, k0.privateKeyPem)], pins: [certs.pin, b.pin] } as never);
    expect(await overlap.finalAck(announce.id)).toMatchObject({ status: 'done' });
    await home.waitFor('pins K0, K1 and certificates A, B', (s) => s.registration.serverKeys.length === 2 && JSON.stringify(s.connection.tlsPins?.pins) === JSON.stringify([certs.pin, b.pin]));
    await stop(proc);

    // The device is away while the real server moves to certificate B and K1, and retires K0.
    // The thief holds K0 and A's private key and makes the device's server name lead to it.
    const thief = await peer({ key: k0, activeKeys: [k0.publicKey, k1.publicKey], tls: tlsA });
    await pointTo(home, thief.url);
    proc = await start(home);
    await home.waitFor('connected to the thief', (s) => s.connection.state === 'connected');
    const lock = await thief.finalAck(thief.command('key.rotate', { newKey: k1.publicKey, pins: [certs.pin] }).id);
    await stop(proc);

    // The real server: K1, certificate B, K0 retired.
    const real = await peer({ key: k1, activeKeys: [k1.publicKey], tls: { certFile: b.certFile, keyFile: b.keyFile } });
    await pointTo(home, real.url);
    await start(home);
    const after = await home.waitFor('connected to the real server, or refused by it', (s) => s.connection.state === 'connected' || s.connection.lastError !== null && s.connection.lastError !== undefined, 30_000);
    // Without a defence: lock = done (pins [A] learned) and the real server is refused with TLS_PIN_MISMATCH, K0 kept.
    expect({ lock: lock.status, state: after.connection.state, error: after.connection.lastError?.code ?? null, keys: after.registration.serverKeys })
      .toEqual({ lock: 'rejected', state: 'connected', error: null, keys: [fp(k1.publicKey)] });
  });
});
