// The keys API shows which devices lag behind a rotation, from the keys each device reported pinning at its last
// handshake (facts.serverKeys): the operator sees a device that still trusts a retired key, or that is getting
// close to the number of rotations it can follow, before it is stranded.
import { afterEach, describe, expect, it } from 'vitest';
import { keyFingerprint } from '../../src/protocol/sign.js';
import type { RunningServer } from '../../src/server/server.js';
import { apiOf, enroll, newEnrollmentToken, sampleFacts, serverIn, tempDir, type TestAgent } from './helpers.js';
import { connectAgent } from './helpers.js';

const open: Array<{ close(): Promise<void> } | RunningServer> = [];
afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await ('stop' in thing ? thing.stop() : thing.close());
});

describe('devices lagging behind a key rotation', () => {
  it('lists a device still pinning a retired key (and how far behind), counts the current ones and those that never said', async () => {
    const server = await serverIn(await tempDir());
    open.push(server);
    const api = apiOf(server);
    const k0 = server.serverPublicKey;
    const behind = await enroll(server, await newEnrollmentToken(server), 'behind');
    const current = await enroll(server, await newEnrollmentToken(server), 'current');
    const silent = await enroll(server, await newEnrollmentToken(server), 'silent');
    for (const a of [behind, current, silent]) await a.close();
    const k1 = (await api('POST', '/server-keys/rotate', {})).body.key.publicKey as string;
    expect((await api('POST', '/server-keys/retire', { key: k0 })).status).toBe(200);

    // Each reconnects once and reports what it pins after the handshake (an old agent reports nothing).
    const report = async (a: typeof behind, serverKeys?: string[]) => {
      const agent: TestAgent = await connectAgent(server.agentUrl);
      open.push(agent);
      await agent.sendAuth(a.deviceId, a.keys, { ...sampleFacts(a === behind ? 'behind' : a === current ? 'current' : 'silent'), ...(serverKeys ? { serverKeys } : {}) });
      await agent.next('welcome');
    };
    await report(behind, [k0]);
    await report(current, [k1]);
    await report(silent);

    const { body } = await api('GET', '/server-keys');
    expect(body.devices).toMatchObject({ reporting: 2, current: 1, unknown: 1, laggingTotal: 1, maxBehind: 256 });
    expect(body.devices.lagging).toEqual([expect.objectContaining({ deviceId: behind.deviceId, hostname: 'behind', behind: 1, pins: [keyFingerprint(k0)], retiredPinned: [keyFingerprint(k0)] })]);
  });
});
