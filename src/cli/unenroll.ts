// `rmagent unenroll --yes`: forgets this device's registration, key and state files (logs are kept).
// Exit 0 done (or nothing to remove), 64 without --yes, 3 other errors.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as z from 'zod/mini';
import { RmError } from '../protocol/errors.js';
import { requestLocal } from '../system/local-socket.js';
import { DEVICE_KEY_FILE, REGISTRATION_FILE } from '../agent/identity.js';
import { commonFlagsSchema, configFromFlags, parseFlags, printError, type CliIO } from './options.js';

const UnenrollFlagsSchema = z.extend(commonFlagsSchema(), { yes: z.optional(z.boolean()) });

// Only a folder that holds our own files is emptied, so a mistyped --state-dir cannot wipe something else.
const MARKERS = [REGISTRATION_FILE, DEVICE_KEY_FILE, 'outbox', 'replay.json', 'replay.jsonl', 'status.json'];

export default async function unenrollCommand(argv: string[], io: CliIO): Promise<number> {
  const json = argv.includes('--json');
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out('usage: rmagent unenroll --yes [--state-dir DIR]\n  removes the registration, key and state files of this device; logs are kept.');
    return 0;
  }
  try {
    const flags = parseFlags(argv, { yes: { type: 'boolean' } } as const, UnenrollFlagsSchema);
    if (!flags.yes) throw new RmError('CLI_USAGE', 'unenroll removes the registration, key and state of this device: add --yes to confirm');
    const { config, ipcPath } = configFromFlags(flags, io);
    const stateDir = config.stateDir;
    const logDir = path.resolve(config.logDir);
    const entries = await fs.readdir(stateDir).catch(() => [] as string[]);
    const ours = entries.some((e) => MARKERS.includes(e));
    const removed: string[] = [];
    if (ours) {
      for (const name of entries) {
        const full = path.join(stateDir, name);
        // The daemon's socket stays (it is still listening); the logs stay even if they live inside the state folder.
        if (full === ipcPath || path.resolve(full) === logDir) continue;
        await fs.rm(full, { recursive: true, force: true });
        removed.push(name);
      }
      await requestLocal(ipcPath, { method: 'reload' }, 2_000).catch(() => undefined);
    }
    if (json) io.out(JSON.stringify({ removed, stateDir }));
    else io.out(removed.length ? `removed ${removed.length} item(s) from ${stateDir}: ${removed.join(', ')}; logs kept` : `nothing to remove in ${stateDir}: this device is not registered`);
    return 0;
  } catch (err) {
    printError(err, io, json);
    return err instanceof RmError && err.code === 'CLI_USAGE' ? 64 : 3;
  }
}
