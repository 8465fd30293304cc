// Command-line flags: parsed with node:util parseArgs, validated with zod, mapped onto config keys.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import * as z from 'zod/mini';
import { RmError, type ErrorCode } from '../protocol/errors.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';

/** Flags every agent command accepts: where the config, state, logs and TeamViewer root are. */
export const COMMON_FLAGS = {
  config: { type: 'string' },
  'state-dir': { type: 'string' },
  'log-dir': { type: 'string' },
  'log-level': { type: 'string' },
  'ipc-path': { type: 'string' },
  'teamviewer-root': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export interface CliIO {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
  /** Where `--token-file -` reads from. */
  stdin?: NodeJS.ReadableStream;
}

export const processIO: CliIO = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  get stdin() {
    return process.stdin;
  },
};

export function parseFlags<O extends ParseArgsConfig['options'], S extends z.ZodMiniType>(argv: string[], options: O, schema: S): z.infer<S> {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: argv, options: { ...COMMON_FLAGS, ...options }, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new RmError('CLI_USAGE', (err as Error).message);
  }
  const parsed = schema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RmError('CLI_USAGE', `--${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

// Built when a command parses its flags, not kept: the daemon parses them once at start.
export const commonFlagsSchema = () =>
  z.object({
    config: z.optional(z.string().check(z.minLength(1))),
    'state-dir': z.optional(z.string().check(z.minLength(1))),
    'log-dir': z.optional(z.string().check(z.minLength(1))),
    'log-level': z.optional(z.enum(['error', 'warn', 'info', 'debug'])),
    'ipc-path': z.optional(z.string().check(z.minLength(1))),
    'teamviewer-root': z.optional(z.string().check(z.minLength(1))),
    json: z.optional(z.boolean()),
    help: z.optional(z.boolean()),
  });
export type CommonFlags = z.infer<ReturnType<typeof commonFlagsSchema>>;

export function configFromFlags(flags: CommonFlags, io: CliIO): LoadedConfig {
  return loadConfig({
    configFile: flags.config,
    env: io.env,
    flags: {
      stateDir: flags['state-dir'],
      logDir: flags['log-dir'],
      logLevel: flags['log-level'],
      ipcPath: flags['ipc-path'],
      'teamviewer.root': flags['teamviewer-root'],
    },
  });
}

/** Prints an error the way every command does: code, message, fix; JSON when asked. */
/** `hints` replaces the table's fix for some codes (rmagent-server's usage errors point to its own help). */
export function printError(err: unknown, io: CliIO, json = false, hints: Partial<Record<ErrorCode, string>> = {}): void {
  const e = err instanceof RmError ? err : new RmError('INTERNAL', err instanceof Error ? err.message : String(err));
  const shown = { ...e.toJSON(), hint: hints[e.code] ?? e.hint };
  if (json) io.out(JSON.stringify({ error: shown }));
  else io.err(`error ${shown.code}: ${shown.message}\n  fix: ${shown.hint}`);
}
