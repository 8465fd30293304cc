// `rmagent enroll --server URL --token TOKEN [--server-key KEY] [--assignment-id ID] [--alias NAME] [--force] [--json]`:
// registers this device locally (offline, idempotent). Exit 0 registered or unchanged, 64 usage, 3 other errors.
import * as z from 'zod/mini';
import { RmError } from '../protocol/errors.js';
import { keyFingerprint } from '../protocol/sign.js';
import { systemClock } from '../system/clock.js';
import { ensureDir } from '../system/files.js';
import { requestLocal } from '../system/local-socket.js';
import { readMachineId, registerDevice } from '../agent/identity.js';
import { commonFlagsSchema, configFromFlags, parseFlags, printError, type CliIO } from './options.js';

const ENROLL_FLAGS = {
  server: { type: 'string' },
  token: { type: 'string' },
  'server-key': { type: 'string' },
  'assignment-id': { type: 'string' },
  alias: { type: 'string' },
  force: { type: 'boolean' },
} as const;

const EnrollFlagsSchema = z.extend(commonFlagsSchema(), {
  server: z.string({ error: 'is required' }).check(z.minLength(1)),
  token: z.string({ error: 'is required' }).check(z.minLength(1)),
  'server-key': z.optional(z.string().check(z.minLength(1))),
  'assignment-id': z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
  alias: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
  force: z.optional(z.boolean()),
});

const USAGE = [
  'usage: rmagent enroll --server URL --token TOKEN [--server-key KEY] [--assignment-id ID] [--alias NAME] [--force] [--json]',
  '  registers this device locally (offline); the agent enrolls with the server on its next connection.',
  '  Same arguments again change nothing; another server needs --force. Exit 0 ok, 64 usage, 3 other errors.',
].join('\n');

export default async function enrollCommand(argv: string[], io: CliIO): Promise<number> {
  const json = argv.includes('--json');
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(USAGE);
    return 0;
  }
  try {
    const flags = parseFlags(argv, ENROLL_FLAGS, EnrollFlagsSchema);
    const { config, ipcPath } = configFromFlags(flags, io);
    try {
      await ensureDir(config.stateDir);
    } catch (err) {
      throw new RmError('STATE_UNWRITABLE', `${config.stateDir}: ${(err as Error).message}`);
    }
    const result = await registerDevice({
      stateDir: config.stateDir,
      machineId: await readMachineId(config.machineId),
      serverUrl: flags.server,
      token: flags.token,
      ...(flags['server-key'] ? { serverKey: flags['server-key'] } : {}),
      ...(flags['assignment-id'] ? { assignmentId: flags['assignment-id'] } : {}),
      ...(flags.alias ? { alias: flags.alias } : {}),
      force: flags.force ?? false,
      clock: systemClock,
    });
    // A running daemon picks the registration up at once instead of at its next poll; no daemon is fine.
    if (result.changed) await requestLocal(ipcPath, { method: 'reload' }, 2_000).catch(() => undefined);
    const r = result.registration;
    const summary = {
      changed: result.changed,
      server: r.serverUrl,
      deviceId: r.deviceId,
      alias: r.alias,
      deviceKey: keyFingerprint(r.publicKey),
      serverKeys: r.serverKeys.map(keyFingerprint),
      enrollmentTokenRecorded: r.enrollmentToken !== null,
      stateDir: config.stateDir,
      notes: result.notes,
    };
    if (json) io.out(JSON.stringify(summary));
    else {
      for (const note of result.notes) io.out(note);
      io.out(r.deviceId ? `device ${r.deviceId} (enrolled)` : 'the agent enrolls with the server on its first connection');
    }
    return 0;
  } catch (err) {
    printError(err, io, json);
    return err instanceof RmError && err.code === 'CLI_USAGE' ? 64 : 3;
  }
}
