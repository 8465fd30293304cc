// The local opt-in for changes to the machine beyond the agent's own files (patch installs, backup
// restores): a file `allow-changes` in the agent's state folder, created by the installer when the
// administrator asks for it. The state folder is writable only by root/SYSTEM, so a signed command alone
// never changes the machine: someone with local administrator rights must have agreed first.
import path from 'node:path';
import { fileMode } from '../system/files.js';

export const ALLOW_CHANGES_FILE = 'allow-changes';

/** The opt-in file of the agent whose state folder is `stateDir`. */
export function allowChangesFile(stateDir: string): string {
  return path.join(stateDir, ALLOW_CHANGES_FILE);
}

/** The same file seen from a service, whose own folder is `<state folder>/services/<name>` (converger.ts). */
export function allowChangesFileOfService(serviceStateDir: string): string {
  return allowChangesFile(path.join(serviceStateDir, '..', '..'));
}

/** Read at every use, so creating or deleting the file takes effect without a restart. */
export async function changesAllowed(file: string): Promise<boolean> {
  return (await fileMode(file)) !== undefined;
}
