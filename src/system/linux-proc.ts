// Pure readers of Linux /proc text (meminfo, mounts, process names); the file reads live in sysinfo-linux.ts.

/** /proc/meminfo as bytes per field ("MemTotal: 24683620 kB" -> MemTotal = 24683620 * 1024). */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([\w()]+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]) * (line.trimEnd().endsWith('kB') ? 1024 : 1));
  }
  return out;
}

/**
 * Total and used memory, where used leaves out what the kernel can hand back at once (page cache,
 * reclaimable slab): a full cache is not memory pressure. Same figure as systeminformation's `active`.
 */
export function memoryFromMeminfo(text: string): { totalBytes: number; usedBytes: number } | null {
  const f = parseMeminfo(text);
  const total = f.get('MemTotal');
  if (!total) return null;
  const available = f.get('MemAvailable');
  // Kernels before 3.14 have no MemAvailable: estimate it as systeminformation does.
  const free = available ?? (f.get('MemFree') ?? 0) + (f.get('Buffers') ?? 0) + (f.get('Cached') ?? 0) + (f.get('SReclaimable') ?? 0);
  return { totalBytes: total, usedBytes: Math.min(total, Math.max(0, total - free)) };
}

export interface MountEntry {
  source: string;
  mount: string;
  type: string;
}

/** /proc/self/mounts lines; spaces, tabs, newlines and backslashes in fields are octal escapes (\040). */
export function parseMounts(text: string): MountEntry[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const [source, mount, type] = line.split(' ');
    if (source && mount && type) out.push({ source: unescape(source), mount: unescape(mount), type });
  }
  return out;
}

// Kernel and virtual filesystems: no disk space behind them (df leaves them out: no blocks).
const VIRTUAL = new Set(['proc', 'sysfs', 'devpts', 'devtmpfs', 'cgroup', 'cgroup2', 'securityfs', 'debugfs', 'tracefs', 'pstore', 'bpf', 'mqueue', 'hugetlbfs', 'configfs', 'fusectl', 'binfmt_misc', 'autofs', 'rpc_pipefs', 'nsfs', 'efivarfs', 'selinuxfs', 'ramfs', 'rootfs', 'squashfs', 'fuse.gvfsd-fuse', 'fuse.portal', 'fuse.lxcfs']);
// Network filesystems are not this device's disks, and statfs on a dead server can hang.
const REMOTE = new Set(['nfs', 'nfs4', 'cifs', 'smb3', 'smbfs', 'ncpfs', 'afs', 'ceph', 'glusterfs', 'fuse.glusterfs', 'fuse.sshfs', 'sshfs', '9p', 'davfs', 'fuse.rclone', 'fuse.s3fs']);
// Memory and layered filesystems count only where they are the root (a container, a live system): elsewhere
// tmpfs is scratch space and an overlay mirrors a disk listed on its own. systeminformation left out the
// first kind too (except on a device path or at /); the overlays of a Docker host it listed one by one.
const ROOT_ONLY = /tmpfs|ramfs|overlay|aufs|unionfs|cramfs|initr|udev|devfs|specfs|appimaged/;

/**
 * The mounts worth a disk reading, as `df -x squashfs` filtered by systeminformation showed them: one
 * per filesystem (bind mounts of a device collapse to the shortest mount point, as df does), no virtual,
 * remote or scratch filesystem; a mount point mounted over counts with its top mount only.
 */
export function diskMounts(entries: readonly MountEntry[]): MountEntry[] {
  const top = new Map<string, MountEntry>();
  for (const e of entries) {
    top.delete(e.mount); // keeps the latest mount last, in mount order
    top.set(e.mount, e);
  }
  const kept = [...top.values()].filter((e) => !VIRTUAL.has(e.type) && !REMOTE.has(e.type) && !isRemoteSource(e.source) && (e.mount === '/' || !ROOT_ONLY.test(e.type)));
  const shortest = new Map<string, MountEntry>();
  for (const e of kept) {
    const seen = e.source.startsWith('/') ? shortest.get(e.source) : undefined;
    if (e.source.startsWith('/') && (!seen || e.mount.length < seen.mount.length)) shortest.set(e.source, e);
  }
  return kept.filter((e) => !e.source.startsWith('/') || shortest.get(e.source) === e);
}

/** host:/export, user@host:path, remote: (rclone) or //server/share; not a drive letter (C:). */
const isRemoteSource = (source: string) => /^[^/:]{2,}:/.test(source) || source.startsWith('//');

/**
 * The mount holding an absolute, resolved path: the longest mount point that is the path or a folder above it, the
 * latest mount winning where several share a mount point (mounted over). Every filesystem type counts here: a path
 * named on a tmpfs is watched on that tmpfs, not on the disk under it.
 */
export function mountHolding(entries: readonly MountEntry[], resolved: string): MountEntry | null {
  let best: MountEntry | null = null;
  for (const e of entries) {
    const holds = e.mount === '/' || resolved === e.mount || resolved.startsWith(`${e.mount}/`);
    if (holds && (!best || e.mount.length >= best.mount.length)) best = e;
  }
  return best;
}
