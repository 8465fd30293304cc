// The machine the figures were measured on, so a reader can compare like with like.
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export interface Machine {
  date: string;
  cpuModel: string;
  nproc: number;
  memoryMb: number;
  kernel: string;
  distro: string;
  nodeBuild: string;
  nodeSea: string;
  commit: string;
  /** 1-minute load averages when the run started and ended: wall times mean little on a busy machine. */
  load: string;
}

function osRelease(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function gitCommit(root: string): string {
  try {
    return execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export function describeMachine(root: string, runtimes: { node: string; sea: string }, loadAtStart: number): Machine {
  return {
    date: new Date().toISOString(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    nproc: os.availableParallelism(),
    memoryMb: Math.round(os.totalmem() / 1024 / 1024),
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    distro: osRelease(),
    nodeBuild: runtimes.node,
    nodeSea: runtimes.sea,
    commit: gitCommit(root),
    load: `${loadAtStart.toFixed(1)} at start, ${os.loadavg()[0]!.toFixed(1)} at end (1-minute load average, ${os.availableParallelism()} CPUs)`,
  };
}
