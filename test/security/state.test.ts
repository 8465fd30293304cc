// State never goes backwards and the server's bookkeeping is checked (issue: monotonic state, verify what the
// server claims, clock skew), against the built agent running as a real process. The peer here holds the server
// key the agent pinned at `rmagent enroll --server-key`, so everything it signs verifies: what is refused is refused
// because it is older, beyond what was sent, or outside the window of the server's own clock.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil, type Spawned } from '../../src/cli/processes.js';
import { makeFrame, type Frame } from '../../src/protocol/frames.js';
import type { Policy } from '../../src/protocol/model.js';
import { agentHome, assertBuilt, type AgentHome } from '../e2e/harness.js';
import { keyPeer, type Peer } from './key-peer.js';

const monitoring = (version: number, id = 'pol-mon'): Policy => ({ id, name: 'Mon', service: 'monitoring', version, settings: { checks: [] } });
const running: Spawned[] = [];
const peers: Peer[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
  for (const p of peers.splice(0)) await p.close();
});

async function enrolledAgent(name: string, peer: Peer): Promise<{ home: AgentHome; proc: Spawned }> {
  const home = await agentHome(name);
  const r = await home.cli('enroll', '--server', peer.url, '--token', 'state-token-123456', '--server-key', peer.key.publicKey);
  expect(r.code, r.stderr).toBe(0);
  const proc = await home.start();
  running.push(proc);
  await home.waitFor('connected', (s) => s.connection.state === 'connected' && s.registration.deviceId === 'dev-1');
  return { home, proc };
}

describe('state never goes backwards', () => {
  beforeAll(() => assertBuilt());

  it('an older desired revision, a lower policy version and a late service command are refused as COMMAND_STALE, also after a restart', async () => {
    const peer = await keyPeer();
    peers.push(peer);
    const { home, proc } = await enrolledAgent('state-mono', peer);
    const services = async () => (await home.live())!.services;

    expect(await peer.finalAck(peer.command('desired', { state: { revision: 5, services: { monitoring: { policy: monitoring(2) } } } }).id)).toMatchObject({ status: 'done' });
    await home.waitFor('monitoring v2 running', (s) => s.services.some((x) => x.name === 'monitoring' && x.phase === 'running' && x.policy?.version === 2));

    // Revision 4 (older, validly signed, inside the window): would uninstall Monitoring.
    expect(await peer.finalAck(peer.command('desired', { state: { revision: 4, services: {} } }).id)).toMatchObject({ status: 'rejected', reason: { code: 'COMMAND_STALE' } });
    // A lower version of the same policy without a revision, and a late uninstall queued for revision 4.
    expect(await peer.finalAck(peer.command('policy.assign', { service: 'monitoring', policy: monitoring(1) }).id)).toMatchObject({ status: 'rejected', reason: { code: 'COMMAND_STALE' } });
    expect(await peer.finalAck(peer.command('service.uninstall', { service: 'monitoring', revision: 4 }).id)).toMatchObject({ status: 'rejected', reason: { code: 'COMMAND_STALE' } });
    expect((await services()).find((x) => x.name === 'monitoring')).toMatchObject({ phase: 'running', policy: { version: 2 } });

    // The floor is on disk: a restarted agent refuses revision 4 too; the server's newer word (6) goes through.
    await proc.stop();
    running.splice(running.indexOf(proc), 1);
    running.push(await home.start());
    await home.waitFor('reconnected', (s) => s.connection.state === 'connected');
    expect(await peer.finalAck(peer.command('desired', { state: { revision: 4, services: {} } }).id)).toMatchObject({ status: 'rejected', reason: { code: 'COMMAND_STALE' } });
    expect(await peer.finalAck(peer.command('desired', { state: { revision: 6, services: { monitoring: { policy: monitoring(1) } } } }).id)).toMatchObject({ status: 'done' });
    await home.waitFor('monitoring v1 by revision 6', (s) => s.services.some((x) => x.name === 'monitoring' && x.policy?.version === 1));
  });

  it('a report.ack beyond what was sent deletes nothing: REPORT_ACK_INVALID, the reports stay and are delivered', async () => {
    const peer = await keyPeer();
    peers.push(peer);
    const { home } = await enrolledAgent('state-ack', peer);
    peer.ackReports = false;
    for (let i = 0; i < 3; i++) await peer.finalAck(peer.command('status.request', {}).id);
    const before = await home.waitFor('reports waiting', (s) => s.outbox.pending >= 4);
    const sent = peer.lastSeq;
    peer.send(makeFrame('report.ack', { upTo: 1000 }));
    await waitUntil(async () => peer.received.find((f) => f.type === 'error' && f.body.code === 'REPORT_ACK_INVALID'), 10_000, 'REPORT_ACK_INVALID');
    const after = (await home.live())!;
    expect(after.outbox.lastAckedSeq).toBe(before.outbox.lastAckedSeq);
    expect(after.outbox.pending).toBeGreaterThanOrEqual(before.outbox.pending);
    // An honest ack of what was sent is taken.
    peer.send(makeFrame('report.ack', { upTo: sent }));
    await home.waitFor('acked up to what was sent', (s) => s.outbox.lastAckedSeq === sent);
  });

  // A server-key holder's welcome claims it stored reports up to 2^53 - 1: taken, the outbox would delete what is
  // pending and number its next report 2^53, which the report schema refuses (no report could be made again).
  it('a device whose state was restored (the server holds numbers it has no record of): numbering moves past them, new reports are stored, not dropped as duplicates', async () => {
    const peer = await keyPeer();
    peers.push(peer);
    peer.lastSeq = 5_000;
    const { home } = await enrolledAgent('state-restored', peer);
    await home.waitFor('numbering past the server', (s) => s.outbox.lastAckedSeq >= 5_000);
    expect(await peer.finalAck(peer.command('status.request', {}).id)).toMatchObject({ status: 'done' });
    const seqs = await waitUntil(async () => {
      const found = peer.received.filter((f): f is Frame<'report'> => f.type === 'report').map((f) => f.body.seq);
      return found.length ? found : undefined;
    }, 10_000, 'reports after the status.request');
    expect(Math.min(...seqs)).toBeGreaterThan(5_000);
    expect(peer.received.some((f) => f.type === 'error' && f.body.code === 'REPORT_ACK_INVALID')).toBe(false);
  });

  it('a welcome.lastSeq beyond what the device ever numbered and beyond 2^50 moves nothing: REPORT_ACK_INVALID, numbering kept, reports delivered', async () => {
    const peer = await keyPeer();
    peers.push(peer);
    peer.lastSeq = Number.MAX_SAFE_INTEGER;
    peer.ackReports = false;
    const { home } = await enrolledAgent('state-lastseq', peer);
    const refused = await waitUntil(async () => peer.received.find((f): f is Frame<'error'> => f.type === 'error' && f.body.code === 'REPORT_ACK_INVALID'), 10_000, 'REPORT_ACK_INVALID');
    expect(refused.body.ref).toBe(peer.welcomes[0]!.id);
    expect((await home.live())!.outbox.lastAckedSeq).toBe(0);
    // Numbering carries on from the device's own count: a status.request gets a report numbered 1, 2, ...
    expect(await peer.finalAck(peer.command('status.request', {}).id)).toMatchObject({ status: 'done' });
    const reports = await waitUntil(async () => {
      const seqs = peer.received.filter((f): f is Frame<'report'> => f.type === 'report' && f.body.kind === 'teamviewer').map((f) => f.body.seq);
      return seqs.length >= 2 ? seqs : undefined;
    }, 10_000, 'reports after the status.request');
    expect(Math.max(...reports)).toBeLessThan(100);
    // An honest ack of what was sent is taken.
    const sent = Math.max(...peer.received.filter((f): f is Frame<'report'> => f.type === 'report').map((f) => f.body.seq));
    peer.send(makeFrame('report.ack', { upTo: sent }));
    await home.waitFor('acked up to what was sent', (s) => s.outbox.lastAckedSeq === sent);
  });
});

describe('clock skew', () => {
  beforeAll(() => assertBuilt());

  for (const [name, offsetMs] of [['behind', 3_600_000], ['ahead', -3_600_000]] as const) {
    it(`a device clock an hour ${name} of the server: shown in status (clockSkewMs, CLOCK_SKEW), fresh commands still run, old ones are refused with the right words`, async () => {
      const peer = await keyPeer(offsetMs);
      peers.push(peer);
      const { home } = await enrolledAgent(`skew-${name}`, peer);
      const s = (await home.live())!;
      expect(Math.abs(s.connection.clockSkewMs! - offsetMs)).toBeLessThan(5_000);
      expect(s.problems.map((p) => p.code)).toContain('CLOCK_SKEW');
      expect(s.problems.find((p) => p.code === 'CLOCK_SKEW')!.message).toContain(`3600 s ${name === 'behind' ? 'behind' : 'ahead of'} the server`);
      // Issued now by the server's clock: runs although it is an hour off the device clock.
      expect(await peer.finalAck(peer.command('status.request', {}).id)).toMatchObject({ status: 'done' });
      // Issued six minutes ago by the server's clock: refused, and the message says so.
      const old = await peer.finalAck(peer.command('status.request', {}, peer.now() - 360_000).id);
      expect(old).toMatchObject({ status: 'rejected', reason: { code: 'COMMAND_EXPIRED' } });
      expect(old.reason!.message).toMatch(/was issued 36\d s ago; commands are accepted within 300 s/);
      const future = await peer.finalAck(peer.command('status.request', {}, peer.now() + 360_000).id);
      expect(future.reason!.message).toMatch(/is dated 36\d s in the future/);
    });
  }
});

afterAll(async () => {
  for (const p of running.splice(0)) await p.stop();
});
