#!/usr/bin/env node
// `rmagent-server` entry: the reference management server. Prints one JSON line when listening, stops
// gracefully (bounded) on SIGINT/SIGTERM. Only this file handles signals and sets the exit code.
import '../protocol/zod-locale.js';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as z from 'zod/mini';
import { RmError } from '../protocol/errors.js';
import { createLogger } from '../log.js';
import { startServer } from '../server/server.js';
import { printError, processIO } from './options.js';

const STOP_BUDGET_MS = 10_000;

const USAGE = `usage: rmagent-server --listen HOST:PORT --data DIR [--tls-cert FILE --tls-key FILE]
                      [--log-level error|warn|info|debug] [--heartbeat-sec N]

  --listen HOST:PORT   address to listen on (port 0 picks a free port; IPv6 as [::1]:8080)
  --data DIR           data folder: store.json, owner.token, server-key, server-key.pub
  --heartbeat-sec N    seconds between WebSocket pings to agents (default 30)
  --tls-cert FILE      PEM certificate (chain) for HTTPS and wss://; needs --tls-key
  --tls-key FILE       PEM private key of that certificate
Prints {"event":"listening",...} on stdout when ready. The owner API token is in DIR/owner.token.`;

const FlagsSchema = z.object({
  listen: z.string().check(z.regex(/^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):\d{1,5}$/, 'HOST:PORT')),
  data: z.string().check(z.minLength(1)),
  'log-level': z._default(z.enum(['error', 'warn', 'info', 'debug']), 'info'),
  'heartbeat-sec': z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(600)), 30),
  'tls-cert': z.optional(z.string().check(z.minLength(1))),
  'tls-key': z.optional(z.string().check(z.minLength(1))),
}).check(z.refine((f) => Boolean(f['tls-cert']) === Boolean(f['tls-key']), { message: 'give both --tls-cert and --tls-key, or neither', path: ['tls-cert'] }));

function parseFlags(argv: string[]): z.infer<typeof FlagsSchema> | 'help' {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({
      args: argv,
      options: { listen: { type: 'string' }, data: { type: 'string' }, 'log-level': { type: 'string' }, 'heartbeat-sec': { type: 'string' }, 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }).values;
  } catch (err) {
    throw new RmError('CLI_USAGE', (err as Error).message);
  }
  if (values.help) return 'help';
  const parsed = FlagsSchema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RmError('CLI_USAGE', `--${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

async function main(argv: string[]): Promise<number> {
  const flags = parseFlags(argv);
  if (flags === 'help') {
    processIO.out(USAGE);
    return 0;
  }
  const cut = flags.listen.lastIndexOf(':');
  const host = flags.listen.slice(0, cut).replace(/^\[(.*)\]$/, '$1');
  const port = Number(flags.listen.slice(cut + 1));
  if (port > 65_535) throw new RmError('CLI_USAGE', '--listen: the port must be 0-65535');
  const dataDir = path.resolve(flags.data);
  const logger = createLogger({ level: flags['log-level'], console: true });
  const tls = flags['tls-cert'] && flags['tls-key'] ? { certFile: path.resolve(flags['tls-cert']), keyFile: path.resolve(flags['tls-key']) } : undefined;
  const server = await startServer({ host, port, dataDir, logger, heartbeatSec: flags['heartbeat-sec'], ...(tls ? { tls } : {}) }).catch((err: NodeJS.ErrnoException) => {
    if (err.syscall === 'listen') throw new RmError('SERVER_LISTEN_FAILED', `${flags.listen}: ${err.code ?? err.message}`);
    throw err;
  });
  processIO.out(JSON.stringify({ event: 'listening', httpUrl: server.httpUrl, agentUrl: server.agentUrl, port: server.port, data: dataDir }));

  return new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info('stopping', { signal });
      const timer = setTimeout(() => {
        logger.error('graceful stop took too long; exiting');
        resolve(1);
      }, STOP_BUDGET_MS);
      server.stop().then(
        () => { clearTimeout(timer); resolve(0); },
        (err: unknown) => { clearTimeout(timer); logger.error('stop failed', { error: err }); resolve(1); },
      );
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    printError(err, processIO);
    process.exit(err instanceof RmError && err.code === 'CLI_USAGE' ? 64 : 3);
  },
);
