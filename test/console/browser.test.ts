// The web console in a real browser (Debian's Chromium driven by playwright-core), from an empty server: the
// seed's whole flow. Licence e-mail -> activation page -> account created and verified -> Activate -> pop-up;
// a role with the Remote Management permissions and a plain member invited; simulated agents enrolled; Remote
// Management -> Monitoring -> Overview -> + Activate service -> select devices (one refused, saying why) ->
// Continue -> select policy -> Activate -> the overview refreshes pending -> running; an alert raised and
// acknowledged; a device's page (inventory, pending patches, backups, its alerts); a policy created and edited
// with the form generated from its JSON Schema (which device runs which version); the member without the
// permission refused. Skips, saying why, where Chromium is missing.
// With RMAGENT_SCREENSHOTS=DIR it saves the screenshots docs/console.md shows (npm run docs:console).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import type { ReportKind } from '../../src/protocol/frames.js';
import type { DeviceFacts } from '../../src/protocol/model.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { droppedMail } from '../server/console-client.js';
import { apiOf, connectAgent, newEnrollmentToken, sampleFacts, tempDir, type TestAgent } from '../server/helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SHOTS = process.env.RMAGENT_SCREENSHOTS ? path.resolve(process.env.RMAGENT_SCREENSHOTS) : null;
const PASSWORD = 'correct horse battery';
const missing = existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)`;
if (missing) console.warn(`console browser test skipped: ${missing}`);

describe.skipIf(missing !== null)('the web console in Chromium: the seed\'s flow from an empty server', () => {
  let server: RunningServer;
  let dir: string;
  let profile: string;
  let browser: BrowserContext;
  const agents: TestAgent[] = [];
  const started = performance.now();

  beforeAll(async () => {
    dir = await tempDir();
    server = await startServer({ host: '127.0.0.1', port: 0, dataDir: dir, logger: silentLogger(), validateResponses: true });
    profile = await mkdtemp(path.join(os.tmpdir(), 'rmagent-chromium-'));
    // A fresh profile (--user-data-dir, which playwright sets from this argument) for every run.
    browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 60_000, viewport: { width: 1100, height: 720 }, locale: 'en-GB', timezoneId: 'UTC' });
    if (SHOTS) await mkdir(SHOTS, { recursive: true });
  }, 90_000);

  afterAll(async () => {
    for (const a of agents) await a.close().catch(() => undefined);
    await browser?.close();
    await server?.stop();
    if (profile) await rm(profile, { recursive: true, force: true });
    console.log(`console browser suite: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  });

  async function newPage(): Promise<Page> {
    const page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(30_000); // generous: the full suite shares the machine with it
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('request', (r) => { if (!r.url().startsWith(server.httpUrl)) problems.push(`request outside the server: ${r.url()}`); });
    (page as Page & { problems: string[] }).problems = problems;
    return page;
  }
  const problemsOf = (page: Page) => (page as Page & { problems: string[] }).problems.filter((p) => !/status of 40[1349]/.test(p));
  const shot = async (page: Page, name: string, fullPage = false) => {
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
  };
  const lastLink = async () => (await droppedMail(dir)).at(-1)!.links[0]!;

  /** A simulated agent (protocol v1 over a real WebSocket) enrolled with these facts. */
  async function device(hostname: string, facts: Partial<DeviceFacts> = {}): Promise<TestAgent & { deviceId: string }> {
    const token = await newEnrollmentToken(server, { maxUses: 1, tags: ['office'] });
    const agent = await connectAgent(server.agentUrl);
    await agent.sendEnroll(token, { ...sampleFacts(hostname), alias: hostname, ...facts });
    const welcome = await agent.next('welcome');
    agents.push(agent);
    return Object.assign(agent, { deviceId: welcome.body.deviceId });
  }

  it('licence activation, roles, + Activate service with a policy, live overview, alerts, and a member refused', async () => {
    const owner = apiOf(server);
    // The operator issues the licence (rmagent-server licence issue); the e-mail lands in DATA/mail/.
    expect((await owner('POST', '/licences', { product: 'monitoring', seats: 25, email: 'it-admin@example.com' })).status).toBe(201);
    const admin = await newPage();
    const activation = await lastLink();
    expect(activation).toMatch(/\/console\/activate#key=rml_/);

    // Step 2 of the seed: the activation page with options A and B and the generic-account tip.
    await admin.goto(activation);
    await admin.getByRole('heading', { name: 'Activate your Monitoring licence' }).waitFor();
    await expect.poll(() => admin.getByText('generic account').count()).toBe(1);
    await shot(admin, '01-activation-page');
    // B: create an account (e-mail, name, password, terms), Continue.
    const b = admin.getByRole('form', { name: 'Create an account' });
    await b.getByLabel('E-mail').fill('it-admin@example.com');
    await b.getByLabel('Name').fill('IT administration');
    await b.getByLabel('Password').fill(PASSWORD);
    await b.getByRole('button', { name: 'Continue' }).click();
    // The terms box is required: the browser refuses to submit until it is ticked (no e-mail goes out).
    const terms = b.getByLabel('I have read and accept the licence terms (EULA)');
    expect(await terms.evaluate((el) => (el as HTMLInputElement).validity.valueMissing)).toBe(true);
    expect(await droppedMail(dir)).toHaveLength(1);
    await b.getByLabel('I have read and accept the licence terms (EULA)').check();
    await b.getByRole('button', { name: 'Continue' }).click();
    await admin.getByText('We sent an e-mail to it-admin@example.com').waitFor();
    await shot(admin, '02-verification-sent');

    // The verification e-mail's link verifies the account; step 3: Activate; the web app opens with the pop-up.
    await admin.goto(await lastLink());
    await admin.getByText('Your account is verified.').waitFor();
    await shot(admin, '03-verified-activate');
    await admin.getByRole('button', { name: 'Activate' }).click();
    const dialog = admin.getByRole('dialog', { name: 'Licence activated' });
    await dialog.getByText('Your Monitoring licence with 25 device seats was activated successfully.').waitFor();
    await shot(admin, '04-licence-activated');
    await dialog.getByRole('button', { name: 'OK' }).click();
    // Endpoint Protection is listed and plainly not available.
    await admin.getByText('No rmagent agent runs Endpoint Protection').waitFor();

    // Members and roles: a role with the Remote Management permissions to the right of the service's name; a
    // plain member (user role) invited.
    await admin.getByRole('link', { name: 'Members and roles' }).click();
    const role = admin.getByRole('form', { name: 'Create a role' });
    await role.getByLabel('Role name').fill('Remote Management operator');
    const rmRow = role.getByRole('row', { name: /Remote Management/ });
    for (const label of ['Manage policies', 'Assign policies', 'View and acknowledge all alerts/threats']) await rmRow.getByLabel(label).check();
    await role.getByLabel('View devices').check();
    await shot(admin, '05-create-role');
    await role.getByRole('button', { name: 'Create role' }).click();
    await admin.getByRole('row', { name: /Remote Management operator/ }).waitFor();
    const invite = admin.getByRole('form', { name: 'Invite a member' });
    await invite.getByLabel('Name').fill('Helpdesk member');
    await invite.getByLabel('E-mail').fill('helpdesk@example.com');
    await invite.getByLabel('Role').selectOption({ label: 'user' });
    await invite.getByRole('button', { name: 'Invite' }).click();
    await admin.getByText('Invitation sent to helpdesk@example.com.').waitFor();
    const invitation = await lastLink();

    // Devices: two meet the prerequisites, one has no TeamViewer.
    const a1 = await device('reception-pc');
    const a2 = await device('warehouse-pc');
    await device('lab-pc', { teamviewer: { ...sampleFacts().teamviewer!, installed: false, edition: null, version: null, teamviewerId: null } });
    await admin.getByRole('link', { name: 'Devices' }).click();
    await admin.getByRole('row', { name: /lab-pc/ }).getByText('TeamViewer is not installed').waitFor();

    // The seed's steps 2-5: Remote Management -> Monitoring -> Overview -> + Activate service.
    await admin.getByRole('link', { name: 'Remote Management' }).click();
    await admin.getByRole('link', { name: 'Monitoring' }).click();
    await admin.getByText('Monitoring is not active on any device yet.').waitFor();
    await shot(admin, '06-overview-empty');
    await admin.getByRole('link', { name: '+ Activate service' }).click();
    await admin.getByRole('heading', { name: 'Activate Monitoring: select devices' }).waitFor();
    await expect.poll(() => admin.getByRole('checkbox', { name: 'Select lab-pc' }).isDisabled()).toBe(true);
    await admin.getByRole('checkbox', { name: 'Select reception-pc' }).check();
    await admin.getByRole('checkbox', { name: 'Select warehouse-pc' }).check();
    await admin.getByText('2 device(s) selected: 2 new seat(s) used, 23 of 25 left after activation.').waitFor();
    // The filter by name narrows the list (server-side search).
    await admin.getByRole('searchbox', { name: 'Name' }).fill('wareh');
    await admin.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => admin.getByRole('row', { name: /reception-pc/ }).count()).toBe(0);
    await admin.getByRole('searchbox', { name: 'Name' }).fill('');
    await admin.getByRole('button', { name: 'Filter' }).click();
    await admin.getByRole('row', { name: /lab-pc/ }).waitFor();
    await shot(admin, '07-select-devices');
    await admin.getByRole('button', { name: 'Continue' }).click();
    await admin.getByRole('heading', { name: 'Activate Monitoring: select policy' }).waitFor();
    await admin.getByRole('button', { name: 'Create the default policy' }).click();
    await admin.getByLabel('Monitoring default (version 1)').check();
    await shot(admin, '08-select-policy');
    await admin.getByRole('button', { name: 'Activate' }).click();

    // The overview shows the new endpoints, pending; the agents get service.install and report running.
    await admin.getByRole('table', { name: 'Monitoring endpoints' }).waitFor();
    await expect.poll(() => admin.getByRole('row', { name: /reception-pc.*pending/ }).count()).toBe(1);
    for (const agent of [a1, a2]) {
      const install = await agent.next('service.install');
      const policy = install.body.policy as { id: string; version: number };
      agent.send('report', { seq: 1, kind: 'service', at: Date.now(), data: { name: 'monitoring', phase: 'running', policy: { id: policy.id, version: policy.version, applied: true }, reason: null, attempts: 0, since: Date.now() } });
      await agent.next('report.ack');
    }
    await expect.poll(() => admin.getByRole('row', { name: /running/ }).count(), { timeout: 10_000 }).toBe(2);
    await shot(admin, '09-overview-running');

    // An alert raised by a device, acknowledged in the console; the device is told.
    a1.send('report', { seq: 2, kind: 'alert.raised', at: Date.now(), data: { key: 'cpu', service: 'monitoring', check: 'cpu', severity: 'warning', message: 'CPU above 90% for 5 minutes', value: 97, threshold: 90 } });
    await a1.next('report.ack');
    await admin.getByRole('link', { name: 'Alerts' }).click();
    const alertRow = admin.getByRole('row', { name: /CPU above 90%/ });
    await shot(admin, '10-alert');
    await alertRow.getByRole('button', { name: 'Acknowledge' }).click();
    await expect.poll(() => admin.getByRole('row', { name: /CPU above 90%.*by acct-/ }).count()).toBe(1);
    expect((await a1.next('alert.ack')).body.key).toBe('cpu');

    // The device's page, from the device list: prerequisites, inventory, pending patches, backups and its alerts
    // (a second alert acknowledged there).
    const now = Date.now();
    const reports: Array<[ReportKind, Record<string, unknown>]> = [
      ['inventory', { full: true, collectedAt: now, counts: { software: 2, omitted: 0 }, inventory: { hardware: { system: { manufacturer: 'Dell Inc.', model: 'OptiPlex 7090', serial: 'CN0X42' }, bios: {}, cpu: { manufacturer: 'Intel', brand: 'Core i5-10500', cores: 12 }, memory: { totalBytes: 16 * 2 ** 30 }, disks: [{ device: '/dev/nvme0n1', name: 'PC SN730', sizeBytes: 512 * 2 ** 30 }] }, os: { distro: 'Debian GNU/Linux', release: '12', arch: 'x64' }, network: [], software: [{ name: 'openssl', version: '3.0.15-1~deb12u1', source: 'dpkg' }, { name: 'teamviewer-host', version: '15.60.3', source: 'dpkg', publisher: 'TeamViewer' }] } }],
      ['patches', { event: 'scan', manager: 'apt', scannedAt: now, count: 1, bySeverity: { security: 1 }, pending: [{ name: 'openssl', version: '3.0.15-1~deb12u2', severity: 'security', origin: 'Debian-Security' }] }],
      ['backup', { event: 'snapshot', snapshot: 'snap-20261202-0100', createdAt: now, files: 1204, bytesRead: 734_003_200, bytesStored: 91_226_112, durationMs: 8000, skipped: 0, dirs: 97, skippedPaths: [], verified: null, pruned: { snapshots: [], packs: 0, bytes: 0, unusedBytes: 0 }, peakRssBytes: 41_000_000 }],
      ['alert.raised', { key: 'disk', service: 'monitoring', check: 'disk', severity: 'critical', message: 'Disk / above 90%', value: 93, threshold: 90 }],
      // Then malformed ones, as a hostile device sends them: stored flagged, never shown as the device's data.
      ['inventory', { full: true, collectedAt: now, counts: { software: 1, omitted: 0 }, inventory: { hardware: { system: { model: '<b>EVIL-MODEL</b>' } }, software: 'EVIL-SOFTWARE' } }],
      ['patches', { event: 'scan', manager: 'apt', scannedAt: now, count: 1, bySeverity: {}, pending: [{ name: 'EVIL-PATCH<script>', version: 1, severity: 'urgent' }] }],
      ['backup', { event: 'snapshot', snapshot: 'EVIL-SNAPSHOT<img src=x>', createdAt: now, files: 'many' }],
      ['backup', { event: 'snapshot', result: 'failed', code: 'EVIL_FAILURE', message: 42 }],
    ];
    for (const [i, [kind, data]] of reports.entries()) {
      a1.send('report', { seq: 3 + i, kind, at: now, data });
      await a1.next('report.ack');
    }
    await admin.getByRole('link', { name: 'Devices' }).click();
    await admin.getByRole('link', { name: 'reception-pc' }).click();
    await admin.getByRole('heading', { name: 'reception-pc' }).waitFor();
    await admin.getByText('Prerequisites met').waitFor();
    await admin.getByRole('definition').filter({ hasText: 'OptiPlex 7090' }).waitFor();
    await admin.getByRole('table', { name: 'Software' }).getByRole('row', { name: /teamviewer-host 15\.60\.3/ }).waitFor();
    await admin.getByRole('table', { name: 'Pending patches' }).getByRole('row', { name: /openssl 3\.0\.15-1~deb12u2 security/ }).waitFor();
    await admin.getByRole('table', { name: 'Backups' }).getByRole('row', { name: /snap-20261202-0100/ }).waitFor();
    await admin.getByText('2 backup report(s) from this device were not in the Backup report format').waitFor();
    expect(await admin.getByText(/EVIL/).count()).toBe(0);
    expect((await owner('GET', `/devices/${a1.deviceId}/reports?after=6`)).body.reports.map((r: { invalid: string | null }) => r.invalid !== null)).toEqual([true, true, true, true]);
    const diskAlert = admin.getByRole('table', { name: 'Device alerts' }).getByRole('row', { name: /Disk \/ above 90%/ });
    await shot(admin, '10b-device-page', true);
    await diskAlert.getByRole('button', { name: 'Acknowledge' }).click();
    await expect.poll(() => admin.getByRole('row', { name: /Disk \/ above 90%.*acknowledged by acct-/ }).count()).toBe(1);
    expect((await a1.next('alert.ack')).body.key).toBe('disk');

    // Policies: create one with the form generated from the policy's JSON Schema, then edit the policy the devices
    // run: version 2 goes to them, and the policy's page says which device runs which version.
    await admin.locator('#nav').getByRole('link', { name: 'Policies' }).click();
    await admin.getByRole('link', { name: 'Create a policy' }).click();
    const create = admin.getByRole('form', { name: 'Create a policy' });
    await create.getByLabel('Service').selectOption({ label: 'Monitoring' });
    await create.getByLabel('Policy name').fill('Servers monitoring');
    await create.getByRole('group', { name: 'Check 1' }).getByLabel('Threshold', { exact: true }).fill('85');
    await create.getByLabel('Kind of check to add').selectOption('process');
    await create.getByRole('button', { name: 'Add check' }).click();
    await create.getByRole('group', { name: 'Check 4' }).getByLabel(/^Names/).fill('sshd');
    await shot(admin, '13-create-policy', true);
    await create.getByRole('button', { name: 'Create policy' }).click();
    await admin.getByText('Version 1 saved.').waitFor();
    await admin.getByText('No device runs this policy.').waitFor();
    const created = (await owner('GET', '/policies?service=monitoring')).body.policies.find((p: { name: string }) => p.name === 'Servers monitoring');
    expect(created.settings.checks[0].threshold).toBe(85);
    expect(created.settings.checks[3]).toMatchObject({ type: 'process', id: 'process', names: ['sshd'] });

    await admin.locator('#nav').getByRole('link', { name: 'Policies' }).click();
    await admin.getByRole('link', { name: 'Monitoring default' }).click();
    const edit = admin.getByRole('form', { name: 'Edit the policy' });
    await edit.getByRole('group', { name: 'Check 1' }).getByLabel('Threshold', { exact: true }).fill('80');
    await edit.getByRole('button', { name: 'Save as version 2' }).click();
    await admin.getByText('Version 2 saved.').waitFor();
    const assigned = await a1.next('policy.assign');
    expect((assigned.body.policy as { version: number }).version).toBe(2);
    a1.send('report', { seq: 11, kind: 'service', at: Date.now(), data: { name: 'monitoring', phase: 'running', policy: { id: (assigned.body.policy as { id: string }).id, version: 2, applied: true }, reason: null, attempts: 0, since: Date.now() } });
    await a1.next('report.ack');
    await admin.reload();
    const running = admin.getByRole('table', { name: 'Devices running this policy' });
    await running.getByRole('row', { name: /reception-pc version 2 running/ }).waitFor();
    await running.getByRole('row', { name: /warehouse-pc version 1, version 2 on its way/ }).waitFor();
    await shot(admin, '14-edit-policy', true);

    // Backup assigned to another account (the owner, through the API): the console shows Restore disabled with the
    // seed's reason (the server refuses the command too: test/e2e/services.test.ts).
    expect((await owner('POST', '/licences', { product: 'backup', seats: 5, email: 'it-admin@example.com' })).status).toBe(201);
    expect((await owner('POST', '/licences/activate', { key: new URLSearchParams(new URL(await lastLink()).hash.slice(1)).get('key') })).status).toBe(200);
    const backupPolicy = await owner('POST', '/policies', { name: 'Nightly /srv', service: 'backup', settings: { folders: ['/srv'], destination: '/mnt/backup' } });
    expect((await owner('POST', '/services/backup/activate', { deviceIds: [a2.deviceId], policyId: backupPolicy.body.id })).status).toBe(200);
    await admin.getByRole('link', { name: 'Remote Management' }).click();
    await admin.getByRole('link', { name: 'Backup' }).click();
    const backupRow = admin.getByRole('row', { name: /warehouse-pc/ });
    await expect.poll(() => backupRow.getByRole('button', { name: 'Restore' }).isDisabled()).toBe(true);
    await backupRow.getByText('only the assigned account can install the service or restore data').waitFor();
    await shot(admin, '11-backup-restore-refused');

    // The member with the plain user role (same browser: the invitation's sign-in replaces the admin's session),
    // may not assign devices or services.
    const member = admin;
    await member.goto(invitation);
    await member.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await member.getByRole('button', { name: 'Save and sign in' }).click();
    await member.getByText('Your role does not allow assigning devices or services.').waitFor();
    await member.goto(`${server.httpUrl}/console/rm/monitoring`);
    await member.getByText('Your role does not allow activating services.').waitFor();
    expect(await member.getByRole('link', { name: '+ Activate service' }).count()).toBe(0);
    await shot(member, '12-member-refused');

    // Sign out ends the session: the console asks to sign in again.
    await member.getByRole('button', { name: 'Sign out' }).click();
    await member.getByRole('heading', { name: 'Sign in to the rmagent console' }).waitFor();
    await member.goto(`${server.httpUrl}/console/rm`);
    await member.waitForURL(/\/console\/signin\?next=/);

    expect(problemsOf(admin)).toEqual([]);
  }, 240_000);
});
