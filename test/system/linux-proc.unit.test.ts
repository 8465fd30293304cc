// The /proc readers behind the Linux samples: memory without the page cache, one disk per filesystem
// (what df and systeminformation showed), and the mount holding a path.
import { describe, expect, it } from 'vitest';
import { diskMounts, memoryFromMeminfo, mountHolding, parseMeminfo, parseMounts } from '../../src/system/linux-proc.js';

const KB = 1024;

// A 24 GB VM (kernel 6.x), cut after the fields that matter plus a few that must not confuse the parser.
const MEMINFO = `MemTotal:       24683620 kB
MemFree:        19896392 kB
MemAvailable:   20800816 kB
Buffers:            9680 kB
Cached:          1044656 kB
SwapCached:            0 kB
Active:           732344 kB
Inactive:        3610884 kB
Active(anon):       1580 kB
SReclaimable:     155408 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
DirectMap4k:      169856 kB
`;

// A kernel older than 3.14: no MemAvailable line.
const MEMINFO_OLD = `MemTotal:        2048000 kB
MemFree:          512000 kB
Buffers:           64000 kB
Cached:           256000 kB
SwapCached:            0 kB
SReclaimable:      32000 kB
`;

// A Ubuntu desktop: btrfs root with a /home subvolume, EFI partition, snaps, an NFS share, a USB stick whose
// label has a space, tmpfs scratch, Docker's overlays and a stuck-prone sshfs mount.
const DESKTOP_MOUNTS = `sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
udev /dev devtmpfs rw,nosuid,relatime,size=8123456k,nr_inodes=2030864,mode=755,inode64 0 0
devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000 0 0
tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=1634568k,mode=755,inode64 0 0
/dev/nvme0n1p2 / btrfs rw,noatime,compress=zstd:1,ssd,space_cache=v2,subvolid=256,subvol=/@ 0 0
securityfs /sys/kernel/security securityfs rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /dev/shm tmpfs rw,nosuid,nodev,inode64 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0
systemd-1 /proc/sys/fs/binfmt_misc autofs rw,relatime,fd=29,pgrp=1,timeout=0,minproto=5,maxproto=5,direct 0 0
/dev/loop0 /snap/core22/1380 squashfs ro,nodev,relatime,errors=continue,threads=single 0 0
/dev/nvme0n1p2 /home btrfs rw,noatime,compress=zstd:1,ssd,space_cache=v2,subvolid=257,subvol=/@home 0 0
/dev/nvme0n1p1 /boot/efi vfat rw,relatime,fmask=0077,dmask=0077,codepage=437,iocharset=iso8859-1 0 0
nas.local:/volume1/backup /mnt/backup nfs4 rw,relatime,vers=4.1,rsize=131072,wsize=131072,hard,proto=tcp 0 0
//fileserver/share /mnt/share cifs rw,relatime,vers=3.1.1,cache=strict,username=anna 0 0
anna@build:/srv /home/anna/build fuse.sshfs rw,nosuid,nodev,relatime,user_id=1000,group_id=1000 0 0
/dev/sda1 /media/anna/USB\\040STICK vfat rw,nosuid,nodev,relatime,uid=1000,gid=1000,fmask=0022 0 0
overlay /var/lib/docker/overlay2/9f2c1e/merged overlay rw,relatime,lowerdir=/var/lib/docker/overlay2/l/ABC,upperdir=/var/lib/docker/overlay2/9f2c1e/diff 0 0
nsfs /run/docker/netns/1f3a nsfs rw 0 0
tmpfs /run/user/1000 tmpfs rw,nosuid,nodev,relatime,size=1634564k,nr_inodes=408641,mode=700,uid=1000,gid=1000,inode64 0 0
gvfsd-fuse /run/user/1000/gvfs fuse.gvfsd-fuse rw,nosuid,nodev,relatime,user_id=1000,group_id=1000 0 0
rpool/data /data zfs rw,xattr,noacl 0 0
`;

// Inside a Docker container: overlay root, the image's /etc files bind-mounted from the host disk.
const CONTAINER_MOUNTS = `overlay / overlay rw,relatime,lowerdir=/var/lib/docker/overlay2/l/X:/var/lib/docker/overlay2/l/Y,upperdir=/var/lib/docker/overlay2/1/diff,workdir=/var/lib/docker/overlay2/1/work 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755,inode64 0 0
devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=666 0 0
sysfs /sys sysfs ro,nosuid,nodev,noexec,relatime 0 0
cgroup /sys/fs/cgroup cgroup2 ro,nosuid,nodev,noexec,relatime 0 0
mqueue /dev/mqueue mqueue rw,nosuid,nodev,noexec,relatime 0 0
shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k,inode64 0 0
/dev/sda1 /etc/resolv.conf ext4 rw,relatime,discard,errors=remount-ro 0 0
/dev/sda1 /etc/hostname ext4 rw,relatime,discard,errors=remount-ro 0 0
/dev/sda1 /etc/hosts ext4 rw,relatime,discard,errors=remount-ro 0 0
/dev/sdb /var/lib/app ext4 rw,relatime 0 0
proc /proc/bus proc ro,nosuid,nodev,noexec,relatime 0 0
tmpfs /proc/acpi tmpfs ro,relatime,inode64 0 0
`;

describe('memory from /proc/meminfo', () => {
  it('counts what is not available as used: page cache and reclaimable slab are free to take', () => {
    expect(memoryFromMeminfo(MEMINFO)).toEqual({ totalBytes: 24683620 * KB, usedBytes: (24683620 - 20800816) * KB });
  });

  it('estimates the available memory on kernels without MemAvailable', () => {
    expect(memoryFromMeminfo(MEMINFO_OLD)).toEqual({ totalBytes: 2048000 * KB, usedBytes: (2048000 - 512000 - 64000 - 256000 - 32000) * KB });
  });

  it('reads fields with and without a unit, and gives nothing without MemTotal', () => {
    const fields = parseMeminfo(MEMINFO);
    expect(fields.get('Active(anon)')).toBe(1580 * KB);
    expect(fields.get('HugePages_Total')).toBe(0);
    expect(fields.get('Hugepagesize')).toBe(2048 * KB);
    expect(memoryFromMeminfo('')).toBeNull();
    expect(memoryFromMeminfo('MemFree: 10 kB\n')).toBeNull();
  });
});

describe('disk mounts from /proc/self/mounts', () => {
  it('keeps one mount per local filesystem on a desktop, without virtual, remote, scratch or snap mounts', () => {
    const mounts = diskMounts(parseMounts(DESKTOP_MOUNTS));
    expect(mounts.map((m) => m.mount)).toEqual(['/', '/boot/efi', '/media/anna/USB STICK', '/data']);
    expect(mounts[0]).toEqual({ source: '/dev/nvme0n1p2', mount: '/', type: 'btrfs' });
    expect(mounts[3]).toEqual({ source: 'rpool/data', mount: '/data', type: 'zfs' });
  });

  it('keeps the overlay root of a container and one of the bind mounts of the host disk', () => {
    const mounts = diskMounts(parseMounts(CONTAINER_MOUNTS));
    expect(mounts.map((m) => [m.source, m.mount])).toEqual([
      ['overlay', '/'],
      ['/dev/sda1', '/etc/hosts'],
      ['/dev/sdb', '/var/lib/app'],
    ]);
  });

  it('counts a mount point mounted over with its top mount only', () => {
    const text = '/dev/sda2 /srv ext4 rw 0 0\n/dev/sdc1 /srv xfs rw 0 0\n';
    expect(diskMounts(parseMounts(text))).toEqual([{ source: '/dev/sdc1', mount: '/srv', type: 'xfs' }]);
  });

  it('decodes octal escapes in sources and mount points, and skips malformed lines', () => {
    const parsed = parseMounts('/dev/sdb1 /mnt/a\\040b\\011c\\134d ext4 rw 0 0\n\ngarbage\n');
    expect(parsed).toEqual([{ source: '/dev/sdb1', mount: '/mnt/a b\tc\\d', type: 'ext4' }]);
  });

  it('keeps tmpfs when it is the root (a live system)', () => {
    expect(diskMounts(parseMounts('tmpfs / tmpfs rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n')).map((m) => m.mount)).toEqual(['/']);
  });
});

describe('the mount holding a path', () => {
  const mounts = parseMounts('/dev/vda1 / ext4 rw 0 0\n/dev/vdb1 /srv ext4 rw 0 0\ntmpfs /srv/scratch tmpfs rw 0 0\nproc /proc proc rw 0 0\n/dev/vdc1 /srv/scratch xfs rw 0 0\n');
  it('is the longest mount point above it, of any type, the top mount where mounted over', () => {
    expect(mountHolding(mounts, '/srv/data/x')?.mount).toBe('/srv');
    expect(mountHolding(mounts, '/srvx')?.mount).toBe('/');
    expect(mountHolding(mounts, '/proc/1')?.type).toBe('proc');
    expect(mountHolding(mounts, '/srv/scratch')?.type).toBe('xfs');
    expect(mountHolding(parseMounts('tmpfs /run tmpfs rw 0 0\n/dev/vda1 / ext4 rw 0 0\n'), '/run/app')?.type).toBe('tmpfs');
    expect(mountHolding([], '/x')).toBe(null);
  });
});
