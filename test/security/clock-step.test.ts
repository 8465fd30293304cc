// The device's wall clock steps while it is connected (NTP correcting it, a user setting the date, a VM resumed).
// The agent's real connection, replay guard and identity store, composed as agent.ts composes them, talk over a
// real socket to a peer that holds the pinned server key and keeps real time; the device's wall clock is
// injected and stepped. Server time must come from the handshake's signed serverTime plus monotonic time since,
// so a step changes nothing: fresh commands still run, and a recorded command replayed after a forward step (on
// a new connection, where the skew is measured again) is still known.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { createConnection } from '../../src/agent/connection.js';
import { createIdentityStore, registerDevice } from '../../src/agent/identity.js';
import { createOutbox } from '../../src/agent/outbox.js';
import { createReplayGuard } from '../../src/agent/replay.js';
import { createServerClock } from '../../src/agent/server-time.js';
import type { AgentContext, Connection } from '../../src/agent/contracts.js';
import { waitUntil } from '../../src/cli/processes.js';
import { configSchema } from '../../src/config/schema.js';
import type { Frame } from '../../src/protocol/frames.js';
import { createCommandRunner } from '../../src/system/exec.js';
import type { Clock } from '../../src/system/clock.js';
import { silentLogger } from '../../src/log.js';
import { keyPeer, type Peer } from './key-peer.js';

const HOUR = 3_600_000;
const FACTS = { hostname: 'stepper', platform: 'linux', arch: 'x64', osRelease: '6', agentVersion: '0.1.0', alias: null, teamviewer: null };

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Real time, with a wall clock that can be stepped; the monotonic clock never steps. */
function steppableClock(): Clock & { step(ms: number): void } {
  let offset = 0;
  return { now: () => Date.now() + offset, monotonic: () => performance.now(), step: (ms) => { offset += ms; } };
}

/** An enrolled device connected to `peer`, its parts composed as agent.ts does. */
async function device(peer: Peer) {
  const clock = steppableClock();
  const stateDir = mkdtempSync(path.join(tmpdir(), 'rmagent-step-'));
  await registerDevice({ stateDir, machineId: 'm1', serverUrl: peer.url, token: 'step-token-0123456789', clock, serverKey: peer.key.publicKey });
  const config = configSchema().parse({ stateDir, logDir: stateDir, connection: { backoffBaseMs: 20, backoffMaxMs: 200 } });
  const context: AgentContext = { config, logger: silentLogger(), runner: createCommandRunner(), clock };
  const identity = createIdentityStore({ stateDir, machineId: 'm1', clock, logger: context.logger });
  const outbox = createOutbox({ dir: path.join(stateDir, 'outbox'), maxBytes: 1 << 20, clock, logger: context.logger });
  const serverClock = createServerClock(clock);
  const replay = createReplayGuard({ file: path.join(stateDir, 'replay.json'), windowMs: config.connection.commandWindowSec * 1000, clock: serverClock });
  await outbox.open();
  await replay.open();
  const applied: string[] = [];
  const connection: Connection = createConnection({
    context, identity, outbox, replay, serverClock, deviceFacts: async () => FACTS,
    onCommand: async (f) => { applied.push(f.id); return { status: 'done' }; },
  });
  cleanups.push(() => connection.stop());
  connection.start();
  await waitUntil(async () => connection.status().phase === 'connected' || undefined, 10_000, 'connected');
  return { clock, connection, applied };
}

describe('a device clock that steps while connected', () => {
  for (const [name, stepMs] of [['forward', HOUR], ['back', -HOUR]] as const) {
    it(`an hour ${name}: fresh commands still run, old ones are still refused, and status shows the new skew at once`, async () => {
      const peer = await keyPeer();
      cleanups.push(peer.close);
      const d = await device(peer);
      expect(Math.abs(d.connection.status().clockSkewMs!)).toBeLessThan(2_000);
      d.clock.step(stepMs);
      // The peer (the server) signs with its own, correct, time.
      const fresh = peer.command('status.request', {});
      expect(await peer.finalAck(fresh.id)).toMatchObject({ status: 'done' });
      const old = await peer.finalAck(peer.command('status.request', {}, peer.now() - 360_000).id);
      expect(old).toMatchObject({ status: 'rejected', reason: { code: 'COMMAND_EXPIRED' } });
      expect(old.reason!.message).toMatch(/was issued 36\d s ago/);
      expect(d.applied).toEqual([fresh.id]);
      // Server time minus the device clock: the device is now an hour ahead (forward) or behind (back).
      expect(Math.abs(d.connection.status().clockSkewMs! + stepMs)).toBeLessThan(2_000);
    });
  }

  it('a recorded command replayed after a forward step beyond the replay window, on a new connection, is refused as COMMAND_REPLAYED and runs once', async () => {
    const peer = await keyPeer();
    cleanups.push(peer.close);
    const d = await device(peer);
    const recorded = peer.command('status.request', {});
    expect(await peer.finalAck(recorded.id)).toMatchObject({ status: 'done' });
    d.clock.step(HOUR);
    // The session ends (a relay can end it at will); the device reconnects and measures the skew again.
    const connections = peer.connections;
    peer.socket!.terminate();
    await waitUntil(async () => (peer.connections > connections && d.connection.status().phase === 'connected') || undefined, 10_000, 'reconnected');
    peer.received.splice(0);
    peer.send(recorded as Frame);
    expect(await peer.finalAck(recorded.id)).toMatchObject({ status: 'rejected', reason: { code: 'COMMAND_REPLAYED' } });
    expect(d.applied).toEqual([recorded.id]);
  });
});
