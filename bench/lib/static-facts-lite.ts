// A proposal measured against the current code: the static part of a status report (OS, hardware, network)
// read from node:os, /etc/os-release and /sys/class/dmi/id, with no child process. systeminformation's
// osInfo/system/cpu/networkInterfaces run ~10 commands, several with execSync, which blocks the event loop.
import { promises as fs } from 'node:fs';
import os from 'node:os';

async function readText(file: string): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch {
    return '';
  }
}

export async function staticFactsLite(): Promise<Record<string, unknown>> {
  const [release, vendor, product, serial] = await Promise.all([
    readText('/etc/os-release'),
    readText('/sys/class/dmi/id/sys_vendor'),
    readText('/sys/class/dmi/id/product_name'),
    readText('/sys/class/dmi/id/product_serial'), // root only; empty otherwise
  ]);
  const field = (name: string) => new RegExp(`^${name}="?([^"\\n]*)"?`, 'm').exec(release)?.[1] ?? '';
  const cpus = os.cpus();
  const network = Object.entries(os.networkInterfaces()).flatMap(([iface, list]) => {
    const l = list ?? [];
    if (l.every((a) => a.internal)) return [];
    return [{ iface, ip4: l.find((a) => a.family === 'IPv4')?.address ?? '', ip6: l.find((a) => a.family === 'IPv6')?.address ?? '', mac: l[0]?.mac ?? '' }];
  });
  return {
    os: { platform: os.platform(), distro: field('NAME'), release: field('VERSION_ID'), arch: os.arch(), hostname: os.hostname() },
    hardware: { manufacturer: vendor, model: product, ...(serial ? { serial } : {}), cpu: cpus[0]?.model ?? '', cores: os.availableParallelism() },
    network,
  };
}
