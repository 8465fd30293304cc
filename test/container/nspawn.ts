// A booted Debian container for the system test: debootstrap (Debian's packages) builds the root once into
// build/system-test/ (inside the repository; a fresh CI clone builds it again), systemd-nspawn boots it with
// the host's network (so the container reaches the reference server on 127.0.0.1), and commands run inside
// with nsenter in the container's namespaces (--register=no: no machined needed). Every wait is bounded.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const WORK = path.join(ROOT, 'build/system-test');
export const ROOTFS = path.join(WORK, 'rootfs');
const SUITE = 'bookworm';
const INCLUDE = 'systemd,systemd-sysv,dbus,libstdc++6';

export interface Ran { code: number | null; stdout: string; stderr: string }

export function host(cmd: string, args: string[], timeoutMs = 120_000, input?: string): Ran {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, ...(input !== undefined ? { input } : {}) });
  return { code: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

const which = (tool: string) => host('sh', ['-c', `command -v ${tool}`]).code === 0;

/** Why this machine cannot boot a container, or null when it can (checked before anything is built). */
export function cannotBoot(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (systemd-nspawn and debootstrap need root)';
  for (const tool of ['systemd-nspawn', 'debootstrap', 'nsenter', 'dpkg-deb', 'dpkg-scanpackages']) if (!which(tool)) return `${tool} is not installed (.ci/run installs it)`;
  if (!fs.existsSync('/sys/fs/cgroup')) return 'no cgroup file system';
  return null;
}

/** The Debian mirror this machine's apt uses (the only network the project may reach). */
function mirror(): string {
  for (const file of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const m = /^URIs:\s*(\S+)/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+\s+main/m.exec(text);
    if (m) return m[1]!;
  }
  return 'http://deb.debian.org/debian';
}

/** Builds the root file system once; returns how long debootstrap took (ms), 0 when it was already there. */
export function ensureRootfs(): number {
  if (fs.existsSync(path.join(ROOTFS, '.complete'))) return 0;
  fs.rmSync(ROOTFS, { recursive: true, force: true });
  fs.mkdirSync(WORK, { recursive: true });
  const started = Date.now();
  const r = host('debootstrap', ['--variant=minbase', `--include=${INCLUDE}`, SUITE, ROOTFS, mirror()], 900_000);
  if (r.code !== 0) throw new Error(`debootstrap failed (${r.code}): ${r.stderr.slice(-2000)}${r.stdout.slice(-2000)}`);
  // No network package sources inside: the test's own repository only (apt works offline and fast).
  fs.writeFileSync(path.join(ROOTFS, 'etc/apt/sources.list'), 'deb [trusted=yes] file:/srv/repo ./\n');
  fs.writeFileSync(path.join(ROOTFS, 'etc/hostname'), 'rmagent-system-test\n');
  // A root without a password prompt on the console; nothing logs in anyway.
  fs.writeFileSync(path.join(ROOTFS, '.complete'), `${new Date().toISOString()}\n`);
  return Date.now() - started;
}

export interface Container {
  /** Runs a command inside (as root, a clean environment plus `env`). */
  exec(args: string[], options?: { env?: Record<string, string>; input?: string; timeoutMs?: number }): Ran;
  /** Writes a file inside the container's root. */
  write(file: string, data: string | Buffer, mode?: number): void;
  read(file: string): string | null;
  exists(file: string): boolean;
  /** Waits until `systemctl is-system-running` says running/degraded. */
  booted(timeoutMs?: number): Promise<void>;
  /** `systemctl reboot` inside, then boots it again (nspawn exits on a reboot request). */
  reboot(): Promise<void>;
  stop(): Promise<void>;
  log(): string;
}

export async function boot(name = 'rmagent-system-test'): Promise<Container> {
  let child: ChildProcess;
  let output = '';
  const start = () => {
    child = spawn('systemd-nspawn', ['--boot', '--register=no', '--keep-unit', `--machine=${name}`, '-D', ROOTFS, '--console=pipe', '--resolv-conf=off', '--timezone=off'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { output = (output + d).slice(-100_000); });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { output = (output + d).slice(-100_000); });
  };
  // The container's PID 1 (systemd), a descendant of the nspawn process.
  const leader = (): number | null => {
    const ps = host('ps', ['-eo', 'pid=,ppid=,comm=']).stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
    const below = new Set([String(child.pid)]);
    for (let round = 0; round < 4; round++) for (const [pid, ppid] of ps) if (below.has(ppid!)) below.add(pid!);
    const init = ps.find(([pid, , comm]) => below.has(pid!) && pid !== String(child.pid) && comm === 'systemd');
    return init ? Number(init[0]) : null;
  };
  const exec: Container['exec'] = (args, options = {}) => {
    const pid = leader();
    if (!pid) return { code: null, stdout: '', stderr: 'container not running' };
    const env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8', ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`)];
    return host('nsenter', ['--target', String(pid), '--mount', '--uts', '--ipc', '--net', '--pid', '--cgroup', '--', '/usr/bin/env', '-i', ...env, ...args], options.timeoutMs ?? 300_000, options.input);
  };
  const container: Container = {
    exec,
    write(file, data, mode = 0o644) {
      const full = path.join(ROOTFS, file);
      fs.mkdirSync(path.dirname(full), { recursive: true });
      fs.writeFileSync(full, data, { mode });
      fs.chmodSync(full, mode);
    },
    read(file) {
      const full = path.join(ROOTFS, file);
      return fs.existsSync(full) ? fs.readFileSync(full, 'utf8') : null;
    },
    exists: (file) => fs.existsSync(path.join(ROOTFS, file)),
    async booted(timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const state = exec(['systemctl', 'is-system-running'], { timeoutMs: 10_000 }).stdout.trim();
        if (state === 'running' || state === 'degraded') return;
        if (child.exitCode !== null) throw new Error(`the container stopped while booting:\n${output.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      throw new Error(`the container did not finish booting within ${timeoutMs} ms:\n${output.slice(-4000)}`);
    },
    async reboot() {
      const exited = new Promise((r) => child.once('exit', r));
      exec(['systemctl', 'reboot'], { timeoutMs: 30_000 });
      await Promise.race([exited, new Promise((r) => setTimeout(r, 120_000))]);
      if (child.exitCode === null) throw new Error('the container did not stop on reboot');
      start();
      await container.booted();
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      exec(['systemctl', 'poweroff'], { timeoutMs: 30_000 });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
    },
    log: () => output,
  };
  start();
  await container.booted();
  return container;
}

/** A tiny Architecture: all package, for the patch install (built with dpkg-deb on this machine). */
export function buildTestPackage(dir: string, name: string, version: string): string {
  const root = path.join(dir, `${name}-${version}`);
  fs.mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
  fs.mkdirSync(path.join(root, 'usr/share', name), { recursive: true });
  fs.writeFileSync(path.join(root, 'usr/share', name, 'version'), `${version}\n`);
  fs.writeFileSync(path.join(root, 'DEBIAN/control'), `Package: ${name}\nVersion: ${version}\nArchitecture: all\nMaintainer: rmagent system test <test@localhost>\nSection: misc\nPriority: optional\nDescription: rmagent system test package\n a package the patch test upgrades\n`);
  const out = path.join(dir, `${name}_${version}_all.deb`);
  const r = host('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, out]);
  if (r.code !== 0) throw new Error(r.stderr);
  return out;
}
