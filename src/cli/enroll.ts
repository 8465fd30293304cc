// `rmagent enroll --server URL --token-file FILE|- [--server-key KEY] [--assignment-id ID] [--alias NAME] [--force] [--json]`:
// registers this device locally (offline, idempotent). The token comes from a file, standard input or RMAGENT_TOKEN,
// never from the command line (token-source.ts). Exit 0 registered or unchanged, 64 usage, 3 other errors.
import * as z from 'zod/mini';
import { RmError } from '../protocol/errors.js';
import { keyFingerprint } from '../protocol/sign.js';
import { systemClock } from '../system/clock.js';
import { ensureDir } from '../system/files.js';
import { requestLocal } from '../system/local-socket.js';
import { readSecretSource } from '../system/secret-input.js';
import { normaliseServerUrl, readMachineId, registerDevice } from '../agent/identity.js';
import { checkTransport } from '../agent/transport.js';
import { EXIT } from './exit-codes.js';
import { chooseTokenSource, tokenFromText, TOKEN_ENV } from './token-source.js';
import { commonFlagsSchema, configFromFlags, parseFlags, printError, type CliIO } from './options.js';

const ENROLL_FLAGS = {
  server: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  'server-key': { type: 'string' },
  'assignment-id': { type: 'string' },
  alias: { type: 'string' },
  force: { type: 'boolean' },
} as const;

const EnrollFlagsSchema = z.extend(commonFlagsSchema(), {
  server: z.string({ error: 'is required' }).check(z.minLength(1)),
  token: z.optional(z.string().check(z.minLength(1))),
  'token-file': z.optional(z.string().check(z.minLength(1))),
  'server-key': z.optional(z.string().check(z.minLength(1))),
  'assignment-id': z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
  alias: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
  force: z.optional(z.boolean()),
});

export const USAGE = [
  'usage: rmagent enroll --server URL --token-file FILE [--server-key KEY] [--assignment-id ID] [--alias NAME] [--force] [--json]',
  '  registers this device locally (offline); the agent enrolls with the server on its next connection.',
  `  The enrollment token: --token-file FILE (one line), --token-file - (standard input) or the ${TOKEN_ENV}`,
  '  environment variable. (--token TEXT works too, but any local user can read a command line.)',
  '  ws:// is refused unless the host is loopback or the configuration sets connection.allowInsecure.',
  '  Same arguments again change nothing; another server needs --force. Exit 0 ok, 64 usage, 3 other errors.',
].join('\n');

export default async function enrollCommand(argv: string[], io: CliIO): Promise<number> {
  const json = argv.includes('--json');
  try {
    const flags = parseFlags(argv, ENROLL_FLAGS, EnrollFlagsSchema);
    const { config, ipcPath } = configFromFlags(flags, io);
    // A ws:// URL to another host would only loop on INSECURE_TRANSPORT in the daemon: refuse it now.
    const serverUrl = normaliseServerUrl(flags.server);
    const transport = checkTransport(serverUrl, { allowInsecure: config.connection.allowInsecure });
    if (!transport.ok) throw new RmError('CLI_USAGE', `--server ${serverUrl}: ${transport.message}; use wss:// (or set connection.allowInsecure for a lab)`);
    const token = await readToken(flags, io);
    try {
      await ensureDir(config.stateDir);
    } catch (err) {
      throw new RmError('STATE_UNWRITABLE', `${config.stateDir}: ${(err as Error).message}`);
    }
    const result = await registerDevice({
      stateDir: config.stateDir,
      machineId: await readMachineId(config.machineId),
      serverUrl: flags.server,
      token,
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
    return err instanceof RmError && err.code === 'CLI_USAGE' ? EXIT.USAGE : EXIT.FAILED;
  }
}

async function readToken(flags: { token?: string | undefined; 'token-file'?: string | undefined }, io: CliIO): Promise<string> {
  const source = chooseTokenSource(flags, io.env);
  switch (source.kind) {
    case 'none':
      throw new RmError('CLI_USAGE', `the enrollment token is required: --token-file FILE, --token-file - (standard input) or ${TOKEN_ENV}`);
    case 'flag':
      io.err('warning: --token puts the enrollment token on the command line, where every local user can read it; use --token-file');
      return tokenFromText(source.text, '--token');
    case 'env':
      return tokenFromText(source.text, TOKEN_ENV);
    case 'file': {
      const read = await readSecretSource(source.file, io.stdin);
      if (!read.ok) throw new RmError('ENROLLMENT_TOKEN_INVALID', read.reason);
      if (read.exposed) io.err(`warning: ${source.file} can be read by other accounts, so its token may have been read: keep token files 0600, delete them after use, and revoke this token in the console if in doubt`);
      return tokenFromText(read.text, source.file === '-' ? 'standard input' : source.file);
    }
  }
}
