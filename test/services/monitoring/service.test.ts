// The Monitoring service on its own: real log files, a stand-in `systemctl` on PATH, real processes.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { appendFile, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { onCleanup, setup, sleep, tempDir, waitFor } from './harness.js';

describe('monitoring service', () => {
  it('log check: only new matching lines raise, once; alert.ack clears it', async () => {
    const h = await setup();
    const log = path.join(h.dir, 'app.log');
    await writeFile(log, 'ERROR before the check started\n');
    const checks = [{ type: 'log', id: 'applog', path: log, pattern: 'ERROR', intervalSec: 1 }];
    await h.apply({ checks });
    await sleep(300);
    await appendFile(log, 'all fine\nERROR disk full\n');
    const raised = await waitFor('a log alert', () => h.raised()[0]);
    expect(raised.data).toMatchObject({ key: 'monitoring/applog', check: 'applog', value: 1 });
    expect(raised.data.message).toContain('ERROR disk full');
    await appendFile(log, 'ERROR again\n');
    await sleep(1_300);
    expect(h.raised()).toHaveLength(1);

    expect(await h.ack('monitoring/applog')).toEqual({ status: 'done' });
    expect(h.cleared()).toEqual([{ kind: 'alert.cleared', data: { key: 'monitoring/applog', service: 'monitoring', message: 'acknowledged by alice' } }]);
    // acknowledging again is harmless; keys of other services are not ours
    expect(await h.ack('monitoring/applog')).toEqual({ status: 'done' });
    expect(await h.ack('backup/x')).toBeUndefined();

    // Lines written while the agent is down are read after the restart, old ones are not read again.
    await h.service.stop();
    const before = h.raised().length;
    await appendFile(log, 'ERROR while the agent was down\n');
    h.restart();
    await h.apply({ checks });
    const again = await waitFor('a log alert after the restart', () => h.raised()[before]);
    expect(again.data).toMatchObject({ key: 'monitoring/applog', value: 1 });
    expect(again.data.message).toContain('while the agent was down');
  });

  // issue 15: after alert.ack the check's in-memory state stayed active (threshold 0, hysteresis 0 never clears by
  // itself), so every later matching line was read and dropped until a restart.
  it('log check: a new matching line after an acknowledgment raises again, without a restart', async () => {
    const h = await setup();
    const log = path.join(h.dir, 'auth.log');
    await writeFile(log, '');
    await h.apply({ checks: [{ type: 'log', id: 'auth', path: log, pattern: 'authentication failure', intervalSec: 1 }] });
    await sleep(300);
    await appendFile(log, 'sshd: authentication failure for root\n');
    await waitFor('the first alert', () => h.raised('monitoring/auth')[0]);
    await h.ack('monitoring/auth');
    expect(h.cleared('monitoring/auth')).toHaveLength(1);
    await sleep(1_200); // a tick with nothing new: nothing raised
    expect(h.raised('monitoring/auth')).toHaveLength(1);
    await appendFile(log, 'sshd: authentication failure for admin\n');
    const second = await waitFor('a second alert after the acknowledgment', () => h.raised('monitoring/auth')[1], 5_000);
    expect(second.data.message).toContain('for admin');
  });

  it('service check asks systemctl through the runner (-- before the name); process check sees real processes', async () => {
    if (process.platform !== 'linux') return;
    const bin = await tempDir('rmagent-bin-');
    const flag = path.join(bin, 'active');
    const argsFile = path.join(bin, 'args');
    // Stand-in systemctl: `show` answers as systemd does, active while the flag file exists.
    await writeFile(path.join(bin, 'systemctl'), `#!/bin/sh\necho "$@" > "${argsFile}"\necho LoadState=loaded\nif [ -f "${flag}" ]; then echo ActiveState=active; echo SubState=running; else echo ActiveState=failed; echo SubState=failed; fi\n`);
    await chmod(path.join(bin, 'systemctl'), 0o755);
    const h = await setup({ binPath: bin });
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    onCleanup(async () => sleeper.kill());
    await h.apply({
      checks: [
        { type: 'service', id: 'sshd', name: 'ssh.service', intervalSec: 1, severity: 'critical' },
        { type: 'process', id: 'procs', names: ['sleep', 'no-such-daemon-rmagent', 'slee'], intervalSec: 5 },
      ],
    });
    const down = await waitFor('service alert', () => h.raised('monitoring/sshd')[0]);
    expect(down.data).toMatchObject({ severity: 'critical', message: 'System service ssh.service is not active (failed)' });
    expect((await readFile(argsFile, 'utf8')).trim()).toBe('show --property=LoadState,ActiveState,SubState -- ssh.service');
    await waitFor('process alerts', () => h.raised('monitoring/procs/slee')[0]);
    expect(h.raised('monitoring/procs/no-such-daemon-rmagent')).toHaveLength(1);
    expect(h.raised('monitoring/procs/sleep')).toHaveLength(0);
    await writeFile(flag, '');
    const cleared = await waitFor('service alert to clear', () => h.cleared('monitoring/sshd')[0]);
    expect(cleared.data.message).toBe('System service ssh.service is active again');
    expect(h.service.problems()).toEqual([]);
  });

  it('uninstall clears active alerts and removes its state', async () => {
    const h = await setup();
    await mkdir(h.runtime.stateDir, { recursive: true });
    await h.apply({ checks: [{ type: 'disk', id: 'd', threshold: 0.0001, mounts: [h.dir], intervalSec: 60 }] });
    await waitFor('disk alert', () => h.raised()[0]);
    await h.service.stop(); // lets the in-flight sample finish persisting
    expect(JSON.parse(await readFile(path.join(h.runtime.stateDir, 'alerts.json'), 'utf8')).active).toHaveProperty([h.raised()[0]!.data.key as string]);
    await h.service.uninstall();
    expect(h.cleared()).toHaveLength(1);
    await expect(readFile(path.join(h.runtime.stateDir, 'alerts.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
