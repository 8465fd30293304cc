import { afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAssetsService } from '../../../src/services/assets/service.js';
import { createHeavyJobScheduler } from '../../../src/services/budget.js';
import { makeFrame, type Frame, type CommandType } from '../../../src/protocol/frames.js';
import type { Policy } from '../../../src/protocol/model.js';
import type { RmService } from '../../../src/agent/contracts.js';
import type { SystemFacts } from '../../../src/system/packages.js';
import { serviceRuntime, standIn, tempDir } from '../budget/service-runtime.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/packages/', import.meta.url));
const policy = (settings: Record<string, unknown> = {}): Policy => ({ id: 'assets-default', name: 'Assets', service: 'assets', version: 1, settings });
const request = (full: boolean) => makeFrame('inventory.request', { deviceId: 'dev-1', full }) as Frame & { type: CommandType };
const facts: SystemFacts = { system: { model: 'Test' }, bios: {}, os: { distro: 'Debian' }, cpu: {}, memory: {}, disks: [], network: [] };

const cleanups: Array<() => Promise<void>> = [];
const services: RmService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  for (const c of cleanups.splice(0)) await c();
});

async function setup(opts: { platform?: 'linux' | 'win32' | 'darwin'; root?: string; withBin?: boolean; realFacts?: boolean } = {}) {
  const { dir, cleanup } = await tempDir('assets');
  cleanups.push(cleanup);
  const bin = path.join(dir, 'bin');
  const { runtime, reports, clock } = serviceRuntime(path.join(dir, 'state', 'services', 'assets'), { path: opts.withBin ? bin : undefined });
  const scheduler = createHeavyJobScheduler({ clock, random: () => 0 });
  const factory = createAssetsService({ scheduler, platform: opts.platform ?? 'linux', root: opts.root, tickMs: 3_600_000, ...(opts.realFacts ? {} : { readFacts: async () => facts }) });
  const service = factory(runtime);
  services.push(service);
  await service.install();
  return { service, reports, bin, dir, clock };
}

describe('Asset Management on this machine (real data)', () => {
  it('the full inventory lists packages installed here (dpkg-query: bash) and real hardware; an unchanged rerun sends only an empty diff', async () => {
    const { service, reports } = await setup({ realFacts: true });
    await service.apply(policy(), { schedule: { everyHours: 24 } });
    expect(await service.handleCommand!(request(false))).toEqual({ status: 'done' });
    expect(reports).toHaveLength(1);
    const first = reports[0]!;
    expect(first.kind).toBe('inventory');
    expect(first.data.full).toBe(true);
    const inventory = first.data.inventory as { software: { name: string; source: string }[]; os: { platform?: string }; hardware: { cpu: { cores?: number } } };
    expect(inventory.software.some((s) => s.name === 'bash' && s.source === 'dpkg')).toBe(true);
    expect(inventory.os.platform).toBe('linux');
    expect(inventory.hardware.cpu.cores).toBeGreaterThan(0);

    expect(await service.handleCommand!(request(false))).toEqual({ status: 'done' });
    const second = reports.slice(1);
    const firstBytes = JSON.stringify(first.data).length;
    const secondBytes = second.reduce((n, r) => n + JSON.stringify(r.data).length, 0);
    console.log(`inventory report sizes on this machine: first (full, ${inventory.software.length} packages) ${firstBytes} bytes, second (unchanged) ${secondBytes} bytes in ${second.length} report(s)`);
    expect(secondBytes).toBeLessThan(firstBytes / 10);
    expect(second).toHaveLength(1);
    expect(second[0]!.data.full).toBe(false);
  });
});

describe('Asset Management with stand-in package tools', () => {
  it('sends the full inventory once, then only added/removed/changed packages; a full request resends everything', async () => {
    const { service, reports, bin } = await setup({ withBin: true });
    const listing = path.join(bin, 'listing.txt');
    await standIn(bin, 'dpkg-query', `cat "${listing}"`);
    const { copyFile, writeFile } = await import('node:fs/promises');
    await copyFile(path.join(FIXTURES, 'dpkg-query.txt'), listing);
    await service.apply(policy(), {});

    await service.handleCommand!(request(false));
    expect(reports[0]!.data).toMatchObject({ full: true, counts: { software: 4 } });

    // coreutils removed, bash upgraded, jq installed
    await writeFile(listing, 'bash\t5.2.15-3\tamd64\tinstalled\tMatthias Klose <doko@debian.org>\njq\t1.6-2.1\tamd64\tinstalled\tX <x@y>\nlibssl3\t3.0.15-1~deb12u1\tamd64\tinstalled\tDebian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>\ntzdata\t2024a-0+deb12u1\tall\tinstalled\tGNU Libc Maintainers <debian-glibc@lists.debian.org>\n');
    await service.handleCommand!(request(false));
    expect(reports).toHaveLength(2);
    const diff = reports[1]!.data as { full: boolean; changes: { added: { key: string }[]; removed: { key: string }[]; changed: { key: string; from: { version: string }; to: { version: string } }[] } };
    expect(diff.full).toBe(false);
    expect(diff.changes.added.map((c) => c.key)).toEqual(['software:dpkg:jq:amd64']);
    expect(diff.changes.removed.map((c) => c.key)).toEqual(['software:dpkg:coreutils:amd64']);
    expect(diff.changes.changed).toHaveLength(1);
    expect(diff.changes.changed[0]).toMatchObject({ key: 'software:dpkg:bash:amd64', from: { version: '5.2.15-2+b7' }, to: { version: '5.2.15-3' } });

    await service.handleCommand!(request(true));
    expect(reports[2]!.data).toMatchObject({ full: true, counts: { software: 4 } });
  });

  it('the baseline survives a restart: a new instance sends a diff, not a second full inventory', async () => {
    const { service, reports, bin } = await setup({ withBin: true });
    await standIn(bin, 'dpkg-query', `cat "${path.join(FIXTURES, 'dpkg-query.txt')}"`);
    await service.apply(policy(), {});
    await service.handleCommand!(request(false));
    await service.stop();
    await service.apply(policy(), {});
    await service.handleCommand!(request(false));
    expect(reports.map((r) => r.data.full)).toEqual([true, false]);
    expect(reports[1]!.data.counts).toEqual({ added: 0, removed: 0, changed: 0, total: 0 });
  });

  it('Linux under a root: the real dpkg-query reads <root>/var/lib/dpkg (installed packages only)', async () => {
    const { service, reports } = await setup({ root: path.join(FIXTURES, 'linux-root') });
    await service.apply(policy(), {});
    await service.handleCommand!(request(true));
    const software = (reports[0]!.data.inventory as { software: { name: string; version: string; source: string }[] }).software;
    expect(software.map((s) => `${s.source}:${s.name} ${s.version}`)).toEqual(['dpkg:bash 5.2.15-2+b7', 'dpkg:teamviewer-host 15.51.5']);
  });

  it('rpm is asked only where an rpm database exists, under the root', async () => {
    const { service, reports, bin } = await setup({ withBin: true, root: path.join(FIXTURES, 'rpm-root') });
    const root = path.join(FIXTURES, 'rpm-root');
    await standIn(bin, 'rpm', `[ "$1 $2 $3 $4 $5" = "--root ${root} --dbpath /var/lib/rpm -qa" ] || { echo "unexpected: $*" >&2; exit 9; }; cat "${path.join(FIXTURES, 'rpm-qa.txt')}"`);
    await standIn(bin, 'dpkg-query', 'exit 2'); // no dpkg database there: a warning, not a failure
    await service.apply(policy(), {});
    expect(await service.handleCommand!(request(true))).toEqual({ status: 'done' });
    const software = (reports[0]!.data.inventory as { software: { name: string; source: string }[] }).software;
    expect(software.map((s) => `${s.source}:${s.name}`)).toEqual(['rpm:bash', 'rpm:kernel', 'rpm:openssl-libs']);
  });

  it('Windows: programs from the registry Uninstall keys through `reg query`', async () => {
    const { service, reports, bin } = await setup({ withBin: true, platform: 'win32' });
    await standIn(bin, 'reg', `case "$2" in *WOW6432Node*) exit 1;; esac; cat "${path.join(FIXTURES, 'reg-uninstall.txt')}"`);
    await service.apply(policy(), {});
    await service.handleCommand!(request(true));
    const software = (reports[0]!.data.inventory as { software: { name: string }[] }).software.map((s) => s.name);
    expect(software.sort()).toEqual(['7-Zip 23.01 (x64)', 'Notepad++ (64-bit x64)', 'TeamViewer Host']);
  });

  it('macOS: app bundles under /Applications of the root (a binary plist that cannot be converted is skipped)', async () => {
    const { service, reports } = await setup({ platform: 'darwin', root: path.join(FIXTURES, 'macos-root') });
    await service.apply(policy(), {});
    await service.handleCommand!(request(true));
    const software = (reports[0]!.data.inventory as { software: { name: string; version: string }[] }).software;
    expect(software.map((s) => `${s.name} ${s.version}`).sort()).toEqual(['Firefox 128.0.3', 'Terminal 2.14']);
  });

  it('runs on its schedule through the scheduler', async () => {
    const { dir, cleanup } = await tempDir('assets-tick');
    cleanups.push(cleanup);
    const { runtime, reports, clock } = serviceRuntime(path.join(dir, 'state'));
    const scheduler = createHeavyJobScheduler({ clock, random: () => 0 });
    const service = createAssetsService({ scheduler, platform: 'darwin', root: dir, tickMs: 20, readFacts: async () => facts })(runtime);
    services.push(service);
    await service.install();
    await service.apply(policy(), { schedule: { everyHours: 1 }, maxJitterSec: 0 });
    for (let i = 0; i < 500 && reports.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(reports).toHaveLength(1);
    expect(reports[0]!.data.full).toBe(true);
  });
});
