// `rmagent unenroll --yes [--pending-only]`: tells the running daemon to uninstall every service and close its
// connection, then forgets this device's registration, key and state files (logs are kept).
// --pending-only (the MSI's rollback): only when the device never completed enrollment, i.e. when the
// registration still holds the enrollment token in clear; an enrolled device is left alone.
// Exit 0 done (or nothing to remove), 64 usage (without --yes), 3 other errors.
import { fsAsync as fs } from '../system/fs-async.js';
import path from 'node:path';
import * as z from 'zod/mini';
import { RmError } from '../protocol/errors.js';
import { requestLocal } from '../system/local-socket.js';
import { DEVICE_KEY_FILE, REGISTRATION_FILE, readRegistration } from '../agent/identity.js';
import { commonFlagsSchema, configFromFlags, parseFlags, printError, type CliIO } from './options.js';
import { EXIT } from './exit-codes.js';

const UnenrollFlagsSchema = z.extend(commonFlagsSchema(), { yes: z.optional(z.boolean()), 'pending-only': z.optional(z.boolean()) });

export const USAGE = [
  'usage: rmagent unenroll --yes [--pending-only] [--state-dir DIR] [--json]',
  '  the running daemon uninstalls every service and disconnects; then the registration, key and state files',
  '  of this device are removed (logs are kept). --pending-only: only if the device never completed enrollment.',
  '  Exit 0 done or nothing to remove, 64 without --yes, 3 other errors.',
].join('\n');

// Only a folder that holds our own files is emptied, so a mistyped --state-dir cannot wipe something else.
const MARKERS = [REGISTRATION_FILE, DEVICE_KEY_FILE, 'outbox', 'replay.json', 'replay.jsonl', 'status.json'];

export default async function unenrollCommand(argv: string[], io: CliIO): Promise<number> {
  const json = argv.includes('--json');
  try {
    const flags = parseFlags(argv, { yes: { type: 'boolean' }, 'pending-only': { type: 'boolean' } } as const, UnenrollFlagsSchema);
    if (!flags.yes) throw new RmError('CLI_USAGE', 'unenroll removes the registration, key and state of this device: add --yes to confirm');
    const { config, ipcPath } = configFromFlags(flags, io);
    const stateDir = config.stateDir;
    if (flags['pending-only']) {
      const reg = await readRegistration(stateDir);
      if (reg.status === 'ok' && reg.value.deviceId) {
        io.out(json ? JSON.stringify({ removed: [], stateDir, kept: 'enrolled' }) : `kept: device ${reg.value.deviceId} is enrolled (--pending-only)`);
        return EXIT.OK;
      }
    }
    const logDir = path.resolve(config.logDir);
    const entries = await fs.readdir(stateDir).catch(() => [] as string[]);
    const ours = entries.some((e) => MARKERS.includes(e));
    const removed: string[] = [];
    let daemon: { services: string[]; serverTold: boolean } | null = null;
    if (ours) {
      // First the daemon: its services stop and it lets go of the server before its files disappear under it.
      const answer = await requestLocal(ipcPath, { method: 'unenroll' }, 30_000);
      if (answer.ok) daemon = (answer.value as { unenrolled?: { services: string[]; serverTold: boolean } }).unenrolled ?? null;
      for (const name of entries) {
        const full = path.join(stateDir, name);
        // The daemon's socket stays (it is still listening); the logs stay even if they live inside the state folder.
        if (full === ipcPath || path.resolve(full) === logDir) continue;
        await fs.rm(full, { recursive: true, force: true });
        removed.push(name);
      }
      await requestLocal(ipcPath, { method: 'reload' }, 2_000).catch(() => undefined);
    }
    if (json) io.out(JSON.stringify({ removed, stateDir, daemon }));
    else {
      if (daemon) io.out(`the running agent uninstalled ${daemon.services.length ? daemon.services.join(', ') : 'no services'} and disconnected${daemon.serverTold ? '; the server forgot this device' : ' (the server was not reachable: remove the device in the console)'}`);
      io.out(removed.length ? `removed ${removed.length} item(s) from ${stateDir}: ${removed.join(', ')}; logs kept` : `nothing to remove in ${stateDir}: this device is not registered`);
    }
    return EXIT.OK;
  } catch (err) {
    printError(err, io, json);
    return err instanceof RmError && err.code === 'CLI_USAGE' ? EXIT.USAGE : EXIT.FAILED;
  }
}
