// Issue 3 end to end, real processes: the console's permission model, alerts raised on the device and
// acknowledged in the console, and Backup restored byte for byte, refused to anyone but its owner and
// refused on a device without the local opt-in for machine changes.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil, type Spawned } from '../../src/cli/processes.js';
import { agentHome, assertBuilt, startServer, tempDir, type AgentHome, type ServerProcess } from './harness.js';

type Alert = { id: string; deviceId: string; key: string; severity: string; clearedAt: number | null; ackedBy: string | null };
type Account = { id: string; token: string };

describe('services and permissions over real sockets', () => {
  let server: ServerProcess;
  const homes: AgentHome[] = [];
  const agents: Spawned[] = [];
  const devices: string[] = [];
  let operator: Account;
  let other: Account;
  let policyId: string;

  beforeAll(async () => {
    assertBuilt();
    server = await startServer(tempDir('svc-server'));
    const { body } = await server.api<{ token: string }>('POST', '/enrollment-tokens', { expiresInSec: 600, maxUses: 5 });
    for (const name of ['svc-a', 'svc-b']) {
      const home = await agentHome(name);
      const r = await home.cli('enroll', '--server', server.agentUrl, '--token', body.token, '--server-key', server.serverKey);
      expect(r.code, r.stderr).toBe(0);
      agents.push(await home.start());
      const s = await home.waitFor('enrolled', (x) => x.connection.state === 'connected' && x.registration.enrolled);
      devices.push(s.registration.deviceId!);
      homes.push(home);
    }
  });

  afterAll(async () => {
    for (const a of agents) await a.stop();
    await server?.stop();
  });

  it('the owner creates a role with only "assign policies" (and own alerts); its user activates Monitoring on two devices but cannot edit policies', async () => {
    const role = await server.api<{ id: string }>('POST', '/roles', { name: 'Assigners', permissions: ['assign_policies', 'view_own_alerts'] });
    expect(role.status).toBe(201);
    operator = (await server.api<Account>('POST', '/accounts', { name: 'operator', roleIds: [role.body.id] })).body;
    other = (await server.api<Account>('POST', '/accounts', { name: 'other', roleIds: [role.body.id] })).body;
    // The owner's existing policy: a disk check on the agents' own temp mount that fires for real.
    const policy = await server.api<{ id: string }>('POST', '/policies', {
      name: 'Disk watch', service: 'monitoring',
      settings: { checks: [{ id: 'disk', type: 'disk', threshold: 0.0001, mounts: [homes[0]!.dir], intervalSec: 1, severity: 'critical', hysteresis: 0 }] },
    });
    policyId = policy.body.id;
    const edit = await server.api<{ error: { code: string; message: string } }>('PUT', `/policies/${policyId}`, { settings: { checks: [] } }, operator.token);
    expect(edit.status).toBe(403);
    expect(edit.body.error.message).toContain('manage_policies');
    const activated = await server.api('POST', '/services/monitoring/activate', { deviceIds: devices, policyId }, operator.token);
    expect(activated.status).toBe(200);
    for (const home of homes) await home.waitFor('monitoring running', (x) => x.services.some((s) => s.name === 'monitoring' && s.phase === 'running'));
  });

  it('a disk alert raised on the devices is shown to its activator only, acknowledged, then cleared', async () => {
    const alerts = await waitUntil(async () => {
      const { body } = await server.api<{ alerts: Alert[] }>('GET', '/alerts?open=true', undefined, operator.token);
      return body.alerts.length >= 2 ? body.alerts : undefined;
    }, 30_000, 'disk alerts from both devices');
    expect(new Set(alerts.map((a) => a.deviceId))).toEqual(new Set(devices));
    const foreign = await server.api<{ alerts: Alert[] }>('GET', '/alerts', undefined, other.token);
    expect(foreign.body.alerts).toEqual([]);
    const ack = await server.api<{ alert: Alert }>('POST', `/alerts/${alerts[0]!.id}/ack`, undefined, operator.token);
    expect(ack.status).toBe(200);
    expect(ack.body.alert.ackedBy).toBe(operator.id);
    expect((await server.api('POST', `/alerts/${alerts[0]!.id}/ack`, undefined, other.token)).status).toBe(403);
    // The owner raises the threshold: the condition ends and the alerts clear, once each.
    await server.api('PUT', `/policies/${policyId}`, { settings: { checks: [{ id: 'disk', type: 'disk', threshold: 100, intervalSec: 1, severity: 'critical' }] } });
    await waitUntil(async () => {
      const { body } = await server.api<{ alerts: Alert[] }>('GET', '/alerts?open=true', undefined, operator.token);
      return body.alerts.length === 0;
    }, 30_000, 'the alerts to clear');
    const all = (await server.api<{ alerts: Alert[] }>('GET', '/alerts')).body.alerts;
    expect(all.filter((a) => a.clearedAt !== null)).toHaveLength(alerts.length);
  });

  it('Backup: restores a changed folder byte for byte once the device opts in; another account is refused by the server', async () => {
    const home = homes[0]!;
    const data = path.join(home.dir, 'documents');
    const restored = path.join(home.dir, 'restored');
    mkdirSync(path.join(data, 'sub'), { recursive: true });
    for (let i = 0; i < 20; i++) writeFileSync(path.join(data, i % 2 ? 'sub' : '', `file-${i}.txt`), `contents ${i} `.repeat(1000 * (i + 1)));
    const before = digest(data);
    const role = await server.api<{ id: string }>('POST', '/roles', { name: 'Backup admins', permissions: ['assign_policies', 'manage_policies'] });
    const alice = (await server.api<Account>('POST', '/accounts', { name: 'alice', roleIds: [role.body.id] })).body;
    const bob = (await server.api<Account>('POST', '/accounts', { name: 'bob', roleIds: [role.body.id] })).body;
    const policy = await server.api<{ id: string }>('POST', '/policies', { name: 'Docs', service: 'backup', settings: { folders: [data], destination: path.join(home.dir, 'vault'), schedule: { everyHours: 24 }, maxJitterSec: 0 } }, alice.token);
    expect(policy.status).toBe(201);
    expect((await server.api('POST', '/services/backup/activate', { deviceIds: [devices[0]], policyId: policy.body.id }, alice.token)).status).toBe(200);
    await homes[0]!.waitFor('backup running', (x) => x.services.some((s) => s.name === 'backup' && s.phase === 'running'));
    const run = await server.api<{ id: string }>('POST', `/devices/${devices[0]}/commands`, { type: 'backup.run', body: {} }, alice.token);
    expect(run.status).toBe(202);
    const snapshot = await waitUntil(async () => {
      const { body } = await server.api<{ reports: Array<{ kind: string; data: { event?: string; snapshot?: string } }> }>('GET', `/devices/${devices[0]}/reports?kind=backup&limit=500`);
      return body.reports.find((r) => r.data.event === 'snapshot')?.data.snapshot;
    }, 30_000, 'a backup snapshot');
    writeFileSync(path.join(data, 'file-0.txt'), 'changed');
    rmSync(path.join(data, 'sub', 'file-1.txt'));
    const refused = await server.api<{ error: { code: string } }>('POST', `/devices/${devices[0]}/commands`, { type: 'backup.restore', body: { snapshot, target: restored } }, bob.token);
    expect(refused.status).toBe(403);
    // Without the installer's opt-in the device refuses, writes nothing, and doctor says why.
    const early = await server.api<{ id: string }>('POST', `/devices/${devices[0]}/commands`, { type: 'backup.restore', body: { snapshot, target: restored } }, alice.token);
    expect(early.status).toBe(202);
    const rejected = await waitUntil(async () => {
      const { body } = await server.api<{ commands: Array<{ id: string; status: string; reason: { code: string } | null }> }>('GET', `/devices/${devices[0]}/commands`);
      return body.commands.find((c) => c.id === early.body.id && c.status !== 'queued' && c.status !== 'sent' && c.status !== 'accepted');
    }, 30_000, 'the restore without opt-in to be answered');
    expect(rejected).toMatchObject({ status: 'rejected', reason: { code: 'CHANGES_NOT_ALLOWED' } });
    expect(existsSync(restored)).toBe(false);
    const doctorCheck = async () => {
      const r = await home.cli('doctor', '--json');
      return (JSON.parse(r.stdout) as { checks: Array<{ name: string; verdict: string; code?: string }> }).checks.find((c) => c.name.startsWith('Machine changes allowed'));
    };
    expect(await doctorCheck()).toMatchObject({ verdict: 'skip', code: 'CHANGES_NOT_ALLOWED' });
    writeFileSync(path.join(home.stateDir, 'allow-changes'), '', { mode: 0o600 }); // what the installer does
    expect(await doctorCheck()).toMatchObject({ verdict: 'pass' });

    const restore = await server.api<{ id: string }>('POST', `/devices/${devices[0]}/commands`, { type: 'backup.restore', body: { snapshot, target: restored } }, alice.token);
    expect(restore.status).toBe(202);
    await waitUntil(async () => {
      const { body } = await server.api<{ commands: Array<{ id: string; status: string }> }>('GET', `/devices/${devices[0]}/commands`);
      return body.commands.find((c) => c.id === restore.body.id && c.status === 'done');
    }, 30_000, 'the restore to finish');
    const restoredRoot = findRoot(restored, 'file-0.txt');
    expect(digest(restoredRoot)).toEqual(before);
  });

  it("Asset Management and Patch Management on this machine: the full inventory, a change list and a scan match the server's schemas; no report either device sent was flagged invalid", async () => {
    type Report = { seq: number; kind: string; invalid: string | null; data: Record<string, unknown> };
    const reportsOf = async (deviceId: string, kind?: string) =>
      (await server.api<{ reports: Report[] }>('GET', `/devices/${deviceId}/reports?limit=500${kind ? `&kind=${kind}` : ''}`)).body.reports;
    const assets = await server.api<{ id: string }>('POST', '/policies', { name: 'Inventory', service: 'assets', settings: { maxJitterSec: 0 } });
    const patches = await server.api<{ id: string }>('POST', '/policies', { name: 'Scan', service: 'patches', settings: { refresh: false, maxJitterSec: 0 } });
    for (const [service, policy] of [['assets', assets], ['patches', patches]] as const) {
      expect((await server.api('POST', `/services/${service}/activate`, { deviceIds: [devices[1]], policyId: policy.body.id })).status).toBe(200);
    }
    // Both run once when they start (nothing collected yet): a full inventory (facts from `rmagent facts`, software
    // from dpkg) and a scan of what apt has pending here.
    const full = await waitUntil(async () => (await reportsOf(devices[1]!, 'inventory')).find((r) => r.data.full === true), 120_000, 'a full inventory');
    expect((full.data.inventory as { software: unknown[] }).software.length).toBeGreaterThan(0);
    await waitUntil(async () => (await reportsOf(devices[1]!, 'patches')).find((r) => r.data.event === 'scan'), 120_000, 'a patch scan');
    expect((await server.api('POST', `/devices/${devices[1]}/commands`, { type: 'inventory.request', body: { full: false } })).status).toBe(202);
    await waitUntil(async () => (await reportsOf(devices[1]!, 'inventory')).find((r) => r.data.full === false), 120_000, 'an inventory change list');

    const flagged = [];
    for (const id of devices) flagged.push(...(await reportsOf(id)).filter((r) => r.invalid !== null).map((r) => `${r.kind} #${r.seq}: ${r.invalid}`));
    expect(flagged).toEqual([]);
    const kinds = new Set([...(await reportsOf(devices[0]!)), ...(await reportsOf(devices[1]!))].map((r) => r.kind));
    for (const kind of ['status', 'service', 'teamviewer', 'alert.raised', 'inventory', 'patches', 'backup']) expect(kinds).toContain(kind);
  }, 240_000);
});

/** path -> sha256 of every file under dir. */
function digest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[path.relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

/** The restore may recreate the original absolute path under the target: find the folder holding `marker`. */
function findRoot(dir: string, marker: string): string {
  const stack = [dir];
  for (let i = 0; i < 10_000 && stack.length; i++) {
    const d = stack.pop()!;
    const names = readdirSync(d);
    if (names.includes(marker)) return d;
    for (const n of names) if (statSync(path.join(d, n)).isDirectory()) stack.push(path.join(d, n));
  }
  throw new Error(`${marker} not restored under ${dir}`);
}
