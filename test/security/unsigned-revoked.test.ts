// From a hostile review: an endpoint that holds NO server key (DNS hijack, a TLS certificate for the name)
// answers agent.hello with one unsigned frame, error {code: DEVICE_REVOKED, fatal: true}, before any proof. The
// agent takes it as a revocation and waits 30-60 minutes (backoff.ts revokedDelay), although docs/protocol.md says
// error frames are not signed so their wait is honoured only up to connection.backoffMaxMs (5 minutes), and
// connection.ts says a hostile one must not park the device. One frame an hour keeps a fleet away from its server.
// Expected (the defence): before a proven server.hello (at least), DEVICE_REVOKED waits no longer than
// backoffMaxMs. Failed before the fix in src/agent/connection.ts (58 min measured).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Spawned } from '../../src/cli/processes.js';
import { HANDSHAKE_TIMEOUT_MS } from '../../src/agent/connection.js';
import { makeFrame } from '../../src/protocol/frames.js';
import { writeJsonAtomic } from '../../src/system/files.js';
import { agentHome, assertBuilt } from '../e2e/harness.js';
import { keyPeer, type Peer } from './key-peer.js';
import { roguePeer, typeOf, type RoguePeer } from './rogue-peer.js';

const BACKOFF_MAX_MS = 5 * 60_000; // connection.backoffMaxMs default (the harness sets 1 s)
const running: Spawned[] = [];
const closers: Array<Peer | RoguePeer> = [];
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
  for (const p of closers.splice(0)) await p.close();
});

describe('an unsigned DEVICE_REVOKED from an endpoint with no key', () => {
  beforeAll(() => assertBuilt());

  it('parks the device no longer than backoffMaxMs', async () => {
    const real = await keyPeer();
    closers.push(real);
    const home = await agentHome('h4-revoked');
    expect((await home.cli('enroll', '--server', real.url, '--token', 'h4-revoked-token-1234', '--server-key', real.key.publicKey)).code).toBe(0);
    let proc = await home.start();
    running.push(proc);
    await home.waitFor('enrolled', (s) => s.connection.state === 'connected');
    await proc.stop();
    running.splice(0);
    // The device's server name now leads to an endpoint without any key.
    // It never closes its end after the fatal error (`fatal` says the sender closes): the agent drops it itself.
    let sentAt = 0;
    const rogue = await roguePeer({
      onAgent: (text, wire) => {
        if (typeOf(text) !== 'agent.hello') return;
        sentAt = Date.now();
        wire.toAgent(makeFrame('error', { code: 'DEVICE_REVOKED', message: 'this device was deleted', fatal: true }));
      },
    });
    closers.push(rogue);
    const file = path.join(home.stateDir, 'registration.json');
    await writeJsonAtomic(file, { ...(JSON.parse(readFileSync(file, 'utf8')) as object), serverUrl: rogue.url });
    proc = await home.start();
    running.push(proc);
    const s = await home.waitFor('refused by the rogue', (x) => x.connection.lastError?.code === 'DEVICE_REVOKED' && x.connection.nextRetryAt !== null, 40_000);
    const waitMs = s.connection.nextRetryAt! - Date.now();
    const heldMs = s.connection.nextRetryAt! - sentAt;
    // Nothing but hellos (the agent may have tried again by now: the harness's backoffMaxMs is 1 s).
    expect(new Set(rogue.heard.map(typeOf))).toEqual(new Set(['agent.hello']));
    // Before the agent dropped the open socket itself, the rogue held it until the handshake timeout (15 s).
    expect(heldMs, `the rogue held the device ${heldMs} ms after its fatal error`).toBeLessThan(HANDSHAKE_TIMEOUT_MS);
    // Without a defence: 30-60 minutes.
    expect(waitMs, `next try in ${Math.round(waitMs / 60_000)} min after one unsigned frame`).toBeLessThanOrEqual(BACKOFF_MAX_MS);
  });
});
