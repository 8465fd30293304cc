// The Linux samples from /proc and statfs, no child process. /proc files are read synchronously: they live
// in kernel memory (never wait for a disk), and a synchronous read costs ~20 µs where fs.promises.readFile
// costs ~250 µs of thread-pool round trips. statfs stays asynchronous: a stuck FUSE mount can hang it.
import { closeSync, openSync, readFileSync, readlinkSync, readSync, type StatsFs } from 'node:fs';
import { fsAsync as fs } from './fs-async.js';
import os from 'node:os';
import { diskMounts, memoryFromMeminfo, mountHolding, parseMounts } from './linux-proc.js';
import { processMatches, type ProcessIdentity, type ProcessMatchBy } from './process-match.js';

export interface LinuxDisk {
  mount: string;
  source: string;
  sizeBytes: number;
  usedBytes: number;
  availableBytes: number;
}

export function readLinuxMemory(): { totalBytes: number; usedBytes: number } {
  let text = '';
  try {
    text = readFileSync('/proc/meminfo', 'latin1');
  } catch {
    // no /proc (a restricted sandbox): node:os reads the same counters another way
  }
  return memoryFromMeminfo(text) ?? { totalBytes: os.totalmem(), usedBytes: os.totalmem() - os.freemem() };
}

const MAX_MOUNTS = 256; // a status report carries at most 256 disks
const STATFS_TIMEOUT_MS = 5_000;

/**
 * Disk usage of the mounted filesystems (see diskMounts). A mount whose statfs has not answered yet (a
 * stuck FUSE daemon) is left out, and not asked again until it answers, so that it holds at most one
 * thread of the pool instead of one more per check.
 */
export function createLinuxDiskReader(): { all(): Promise<LinuxDisk[]>; holding(target: string): Promise<LinuxDisk> } {
  const pending = new Set<string>();

  const statMount = (mount: string): Promise<StatsFs | null> => {
    if (pending.has(mount)) return Promise.resolve(null);
    pending.add(mount);
    const call = fs.statfs(mount).finally(() => pending.delete(mount));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(resolve, STATFS_TIMEOUT_MS, null);
      timer.unref();
    });
    return Promise.race([call, timeout]).catch(() => null).finally(() => clearTimeout(timer));
  };

  const all = async () => {
    const mounts = diskMounts(parseMounts(readFileSync('/proc/self/mounts', 'latin1'))).slice(0, MAX_MOUNTS);
    const stats = await Promise.all(mounts.map((m) => statMount(m.mount)));
    const out: LinuxDisk[] = [];
    mounts.forEach((m, i) => {
      const s = stats[i];
      // No blocks: nothing to measure (df leaves such filesystems out as well).
      if (!s || !(s.blocks > 0)) return;
      out.push({ mount: m.mount, source: m.source, sizeBytes: s.blocks * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize, availableBytes: s.bavail * s.bsize });
    });
    return out;
  };

  // A path named by a policy: the mount holding it, whatever its type (tmpfs, overlay, a network share).
  const holding = async (target: string): Promise<LinuxDisk> => {
    const resolved = await fs.realpath(target);
    const mount = mountHolding(parseMounts(readFileSync('/proc/self/mounts', 'latin1')), resolved);
    if (!mount) throw Object.assign(new Error(`no mount holds ${resolved}`), { code: 'ENOENT' });
    const s = await statMount(mount.mount);
    if (!s) throw Object.assign(new Error(`the filesystem at ${mount.mount} (${mount.type}) did not answer statfs within ${STATFS_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' });
    if (!(s.blocks > 0)) throw Object.assign(new Error(`${mount.mount} is a ${mount.type} filesystem without a size (nothing to measure)`), { code: 'ENOSIZE' });
    return { mount: mount.mount, source: mount.source, sizeBytes: s.blocks * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize, availableBytes: s.bavail * s.bsize };
  };

  return { all, holding };
}

const MAX_PIDS = 100_000;
const PIDS_PER_TURN = 256; // then let the event loop run (~5 ms of reads at most)
const CMDLINE_MAX_BYTES = 4096;
const procBuffer = Buffer.alloc(256);

/** A small /proc file read synchronously (kernel memory, no disk), or null when the process has gone. */
function readSmall(file: string): string | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const n = readSync(fd, procBuffer, 0, procBuffer.length, 0);
    return procBuffer.toString('utf8', 0, n);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** Executable of a process; null for kernel threads, zombies and (not as root) other users' processes. */
function readExe(pid: string): string | null {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

/** argv of a process (asynchronously: reading cmdline takes the process's memory lock, which can wait); first 4096 bytes. */
async function readArgv(pid: string): Promise<string[]> {
  const handle = await fs.open(`/proc/${pid}/cmdline`, 'r').catch(() => null);
  if (!handle) return [];
  try {
    const buffer = Buffer.alloc(CMDLINE_MAX_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const text = buffer.toString('utf8', 0, bytesRead);
    return text ? text.replace(/\0$/, '').split('\0') : [];
  } catch {
    return [];
  } finally {
    await handle.close();
  }
}

/** What names a process; null for a zombie (it has ended) or a process that has gone. */
async function readIdentity(pid: string, by: ProcessMatchBy): Promise<ProcessIdentity | null> {
  const exe = by === 'name' ? readExe(pid) : null;
  const argv = await readArgv(pid);
  if (exe || argv.length) return { exe, argv, comm: null };
  // Neither: a kernel thread (named by its command name) or a zombie.
  const stat = readSmall(`/proc/${pid}/stat`);
  if (!stat || / Z /.test(stat.slice(stat.lastIndexOf(')') + 1, stat.lastIndexOf(')') + 4))) return null;
  return { exe: null, argv: [], comm: readSmall(`/proc/${pid}/comm`)?.replace(/\n$/, '') ?? null };
}

/**
 * Which wanted entries run, matched exactly (process-match.ts) against each process's executable names or command
 * line; stops as soon as every entry is found. Throws ENOPROC when /proc cannot be listed.
 */
export async function readLinuxProcesses(wanted: readonly string[], by: ProcessMatchBy): Promise<Record<string, boolean>> {
  const missing = new Set(wanted);
  const entries = await fs.readdir('/proc').catch((err: Error) => {
    throw Object.assign(new Error(`/proc cannot be listed: ${err.message}`), { code: 'ENOPROC' });
  });
  const pids = entries.filter((e) => e.charCodeAt(0) >= 48 && e.charCodeAt(0) <= 57).slice(0, MAX_PIDS);
  if (!pids.length) throw Object.assign(new Error('/proc lists no process (not mounted?)'), { code: 'ENOPROC' });
  for (let i = 0; i < pids.length && missing.size; i++) {
    if (i > 0 && i % PIDS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
    const identity = await readIdentity(pids[i]!, by);
    if (!identity) continue;
    for (const name of missing) if (processMatches(name, by, identity)) missing.delete(name);
  }
  return Object.fromEntries(wanted.map((n) => [n, !missing.has(n)]));
}
