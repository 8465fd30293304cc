// The Linux samples from /proc and statfs, no child process. /proc files are read synchronously: they live
// in kernel memory (never wait for a disk), and a synchronous read costs ~20 µs where fs.promises.readFile
// costs ~250 µs of thread-pool round trips. statfs stays asynchronous: a stuck FUSE mount can hang it.
import { closeSync, openSync, promises as fs, readFileSync, readSync, type StatsFs } from 'node:fs';
import os from 'node:os';
import { commTruncated, diskMounts, memoryFromMeminfo, parseMounts, processNameMatches } from './linux-proc.js';

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
export function createLinuxDiskReader(): () => Promise<LinuxDisk[]> {
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

  return async () => {
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
}

const MAX_PIDS = 100_000;
const PIDS_PER_TURN = 256; // then let the event loop run (~5 ms of reads at most)
const commBuffer = Buffer.alloc(64);

/** Command name of a process, or null when it has gone. */
function readComm(pid: string): string | null {
  let fd: number;
  try {
    fd = openSync(`/proc/${pid}/comm`, 'r');
  } catch {
    return null;
  }
  try {
    const n = readSync(fd, commBuffer, 0, commBuffer.length, 0);
    return commBuffer.toString('utf8', 0, n).replace(/\n$/, '');
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** argv[0] of a process (asynchronously: reading cmdline takes the process's memory lock, which can wait). */
async function readArgv0(pid: string): Promise<string | undefined> {
  const handle = await fs.open(`/proc/${pid}/cmdline`, 'r').catch(() => null);
  if (!handle) return undefined;
  try {
    const buffer = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.toString('utf8', 0, bytesRead).split('\0')[0];
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

/** Which wanted names run, from /proc/<pid>/comm; stops as soon as every name is found. */
export async function readLinuxProcesses(names: readonly string[]): Promise<Record<string, boolean>> {
  const missing = new Set(names);
  const pids = (await fs.readdir('/proc')).filter((e) => e.charCodeAt(0) >= 48 && e.charCodeAt(0) <= 57).slice(0, MAX_PIDS);
  for (let i = 0; i < pids.length && missing.size; i++) {
    if (i > 0 && i % PIDS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
    const comm = readComm(pids[i]!);
    if (comm === null) continue;
    for (const name of missing) if (processNameMatches(name, comm)) missing.delete(name);
    // A name longer than the kernel keeps of a command name can only be found in argv[0].
    if (commTruncated(comm) && [...missing].some((n) => Buffer.byteLength(n) > 15)) {
      const argv0 = await readArgv0(pids[i]!);
      for (const name of missing) if (processNameMatches(name, comm, argv0)) missing.delete(name);
    }
  }
  return Object.fromEntries(names.map((n) => [n, !missing.has(n)]));
}
