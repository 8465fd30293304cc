// How to start this very rmagent again as a child (`rmagent backup-job ...`): the single executable is its own
// command; otherwise the runtime with the entry script it was started with.
import path from 'node:path';
import { versionInfo } from '../version.js';

export interface SelfInvocation {
  command: string;
  /** Arguments before the rmagent command name (the entry script, when not a single executable). */
  args: string[];
}

export function selfInvocation(): SelfInvocation {
  const script = process.argv[1];
  return versionInfo().singleExecutable || !script ? { command: process.execPath, args: [] } : { command: process.execPath, args: [path.resolve(script)] };
}
