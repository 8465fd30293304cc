// How to start this very rmagent again as a child (`rmagent backup-job ...`): the single executable is its own
// command; otherwise the runtime with the entry script it was started with.
import path from 'node:path';
import { versionInfo } from '../version.js';

export interface SelfInvocation {
  command: string;
  /** Arguments before the rmagent command name (the entry script, when not a single executable). */
  args: string[];
  /**
   * The single executable: its runtime flags are baked in, and more can only be given as one `--node-options=`
   * argument (installer/sea/build.sh: execArgvExtension "cli"; NODE_OPTIONS is ignored). Otherwise they go before
   * the entry script.
   */
  singleExecutable?: boolean;
}

export function selfInvocation(): SelfInvocation {
  const script = process.argv[1];
  if (versionInfo().singleExecutable) return { command: process.execPath, args: [], singleExecutable: true };
  return { command: process.execPath, args: script ? [path.resolve(script)] : [] };
}

/** The command line that runs `rmagent <rest...>` again with extra runtime (V8) flags. */
export function selfWithRuntimeFlags(self: SelfInvocation, flags: readonly string[], rest: readonly string[]): { command: string; args: string[] } {
  if (flags.length === 0) return { command: self.command, args: [...self.args, ...rest] };
  return self.singleExecutable
    ? { command: self.command, args: [`--node-options=${flags.join(' ')}`, ...self.args, ...rest] }
    : { command: self.command, args: [...flags, ...self.args, ...rest] };
}
