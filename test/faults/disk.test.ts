// Disk full and read-only disks: the agent's state folder on a 2 MiB tmpfs the test mounts (root only). The
// agent must keep running, keep its last good state, say STATE_UNWRITABLE in `status`, and deliver reports
// again once space returns or the disk is writable again. The outbox's overflow policy is checked on the same
// kind of small disk: past its byte budget the oldest non-alert reports go, alerts never.
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createOutbox } from '../../src/agent/outbox.js';
import { silentLogger } from '../../src/log.js';
import { systemClock } from '../../src/system/clock.js';
import type { Spawned } from '../../src/cli/processes.js';
import type { AgentHome, ServerProcess } from '../e2e/harness.js';
import { checkStateDir } from './lib/state-check.js';
import { mountSmallDisk, smallDiskUnavailable, type SmallDisk } from './lib/small-disk.js';
import { reportsAfter, serverAndAgent, sleep, tempDir } from './lib/enrolled.js';

const unavailable = smallDiskUnavailable(path.join(tempDir('disk-probe'), 'mnt'));

describe.skipIf(unavailable !== null)(`state folder on a small disk${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  const disks: SmallDisk[] = [];
  let server: ServerProcess | undefined;
  let agent: Spawned | undefined;

  afterAll(async () => {
    await agent?.stop('SIGKILL');
    await server?.stop();
    for (const d of disks) d.unmount();
  });

  it('disk full, then read-only: keeps running and its last good state, says STATE_UNWRITABLE, recovers', async () => {
    let home: AgentHome;
    // The state folder is mounted before enrollment so every state file lives on the small disk.
    ({ server, home } = await serverAndAgent('disk', { RMAGENT_HEARTBEAT_SEC: '1' }, undefined, (h) => disks.push(mountSmallDisk(h.stateDir, 2 * 1024 * 1024))));
    const disk = disks[0]!;
    agent = await home.start();
    const s0 = await home.waitFor('connected', (s) => s.connection.state === 'connected' && s.registration.enrolled);
    const deviceId = s0.registration.deviceId!;
    const lastSeq = async () => (await reportsAfter(server!, deviceId, 0)).at(-1)?.seq ?? 0;
    const requestStatus = () => server!.api('POST', `/devices/${deviceId}/commands`, { type: 'status.request' });

    for (const fault of ['full', 'read-only'] as const) {
      await home.waitFor('idle outbox', (s) => s.outbox.pending === 0);
      if (fault === 'full') expect(disk.fill()).toBeGreaterThan(1024 * 1024);
      else disk.readOnly(true);
      const before = await lastSeq();
      await requestStatus();
      const broken = await home.waitFor(`STATE_UNWRITABLE while ${fault}`, (s) => s.problems.some((p) => p.code === 'STATE_UNWRITABLE'), 15_000);
      expect(broken.health).toBe('unhealthy');
      await sleep(1_500);
      expect(agent.child.exitCode).toBeNull();
      expect(checkStateDir(home.stateDir).problems).toEqual([]);
      expect(await lastSeq()).toBe(before); // nothing reached the server that was not first on disk

      if (fault === 'full') disk.free();
      else disk.readOnly(false);
      await requestStatus();
      await home.waitFor(`problem gone after ${fault}`, (s) => !s.problems.some((p) => p.code === 'STATE_UNWRITABLE'), 20_000);
      for (let i = 0; i < 100 && (await lastSeq()) <= before; i++) await sleep(200);
      expect(await lastSeq()).toBeGreaterThan(before);
    }
  });

  it('outbox overflow on a small disk drops the oldest status reports, never an alert', async () => {
    const disk = mountSmallDisk(path.join(tempDir('disk-outbox'), 'mnt'), 512 * 1024);
    disks.push(disk);
    const open = async () => {
      const outbox = createOutbox({ dir: path.join(disk.dir, 'outbox'), maxBytes: 64 * 1024, clock: systemClock, logger: silentLogger() });
      await outbox.open();
      return outbox;
    };
    const outbox = await open();
    const padding = 'x'.repeat(900);
    const alerts: number[] = [];
    for (let i = 0; i < 400; i++) {
      if (i % 20 === 7) alerts.push(await outbox.append(i % 40 === 7 ? 'alert.raised' : 'alert.cleared', { key: `check-${i}`, severity: 'critical', message: padding }));
      else await outbox.append('status', { uptimeSec: i, padding });
    }
    const stats = outbox.stats();
    expect(stats.dropped).toBeGreaterThan(250);
    expect(stats.bytes).toBeLessThanOrEqual(64 * 1024 + 2 * 1024);
    // A restart reads the same outbox back: alerts all there, in order, newest statuses kept.
    const pending = await (await open()).pending();
    const seqs = pending.map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(pending.filter((r) => r.kind.startsWith('alert.')).map((r) => r.seq)).toEqual(alerts);
    expect(seqs.at(-1)).toBe(400);
  });
});
