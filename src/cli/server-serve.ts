// `rmagent-server serve` (also when the first argument is a flag): the management server. Prints one JSON line when
// listening and writes DATA/server.json (its URLs, for the client commands on this machine); stops gracefully
// (bounded) when the entry says so (SIGINT/SIGTERM).
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as z from 'zod/mini';
import { RmError } from '../protocol/errors.js';
import { createLogger } from '../log.js';
import { DEFAULT_REPORT_LIMITS, startServer } from '../server/server.js';
import { DEFAULT_DEVICE_LIMITS } from '../server/gateway.js';
import { DEFAULT_CONNECTION_CAPS, defaultNonAgentSockets } from '../server/connection-caps.js';
import { defaultUpgradesPerMinute, MIN_DEFAULT_UPGRADES_PER_MINUTE } from '../server/upgrade-rate.js';
import { parseTrustedProxies } from '../server/client-address.js';
import { DEFAULT_API_RATE_LIMITS } from '../server/api/rate-limits.js';
import { DEFAULT_PRESENCE_TTL_MS } from '../server/presence.js';
import { DEFAULT_RETENTION } from '../server/retention.js';
import { readTextIfExists, writeJsonAtomic } from '../system/files.js';
import { createSmtpMailer } from '../server/smtp-mailer.js';
import type { CliIO } from './options.js';

const STOP_BUDGET_MS = 10_000;
const MIB = 1024 * 1024;

export const SERVE_USAGE = `usage: rmagent-server [serve] --listen HOST:PORT --data DIR [--database postgres://...] [--tls-cert FILE --tls-key FILE]
                      [--log-level error|warn|info|debug] [--heartbeat-sec N]
                      [--report-kind-mib N] [--report-device-mib N] [--report-retention-days N] [--device-kib-per-sec N]
                      [--public-url URL] [--smtp-url-file FILE] [--mail-from ADDRESS]
                      [--presence-ttl-sec N] [--api-rps-per-token N] [--api-rps-per-address N]
                      [--max-agent-connections N] [--max-agent-connections-per-address N] [--max-non-agent-sockets N]
                      [--max-upgrades-per-address-per-minute N] [--trusted-proxies LIST] [--key-secret-file FILE]

  --listen HOST:PORT        address to listen on (port 0 picks a free port; IPv6 as [::1]:8080)
  --data DIR                data folder: rmagent.db (SQLite), owner.token, key-encryption.secret, server-key.pub,
                            server.json
  --database URL            postgres://USER:PASSWORD@HOST:PORT/DB: keep the records in PostgreSQL instead of
                            DIR/rmagent.db (several nodes can share it); the password may come from PGPASSWORD
  --key-secret-file FILE    the secret the command keys are sealed with in the database (default
                            DIR/key-encryption.secret, made by the first node); give every node sharing a
                            --database a copy of the same file once: rotations do not change it
  --heartbeat-sec N         seconds between WebSocket pings to agents (default 30)
  --tls-cert FILE           PEM certificate (chain) for HTTPS and wss://; needs --tls-key
  --tls-key FILE            PEM private key of that certificate
  --report-kind-mib N       report history kept per device and report kind (default ${DEFAULT_REPORT_LIMITS.bytesPerKind / MIB})
  --report-device-mib N     report history kept per device over all kinds (default ${DEFAULT_REPORT_LIMITS.bytesPerDevice / MIB})
  --report-retention-days N reports older than this are removed (default ${DEFAULT_RETENTION.reportDays})
  --device-kib-per-sec N    what one device may send after its handshake, sustained (default ${DEFAULT_DEVICE_LIMITS.bytes.perSec / 1024})
  --public-url URL          where users reach this server (the start of e-mailed links; default the listening URL)
  --smtp-url-file FILE      send e-mail over SMTP: FILE holds smtp(s)://[user:password@]host[:port] (default: .eml
                            files in DIR/mail/); a file, so the password is not on a command line
  --mail-from ADDRESS       sender of licence and verification e-mails (default rmagent-server@localhost)
  --api-rps-per-token N     API requests per second one token may make, burst 10x (default ${DEFAULT_API_RATE_LIMITS.perToken.perSec})
  --api-rps-per-address N   API requests per second from one address, burst 10x; 0 = no limit, e.g. behind a load
                            balancer, where every client has its address (default ${DEFAULT_API_RATE_LIMITS.perAddress.perSec})
  --max-agent-connections N agent WebSocket connections this node holds at most; more are answered 503 with
                            Retry-After (default ${DEFAULT_CONNECTION_CAPS.total}; 0 = no cap)
  --max-agent-connections-per-address N
                            agent connections one client address holds at most; more are answered 429 with
                            Retry-After (default ${DEFAULT_CONNECTION_CAPS.perAddress}; 0 = no cap). Raise it for many
                            devices behind one NAT address; behind a load balancer see --trusted-proxies. An IPv6
                            client counts by its /64. The same number (at least 64) bounds an address's other sockets
  --max-non-agent-sockets N sockets that are not agent connections (API and console clients, upgrade requests and TLS
                            handshakes in progress) this node holds at most; more are closed at once (default a fifth
                            of --max-agent-connections, at least 1024: ${defaultNonAgentSockets(DEFAULT_CONNECTION_CAPS.total)}; 0 = no bound)
  --max-upgrades-per-address-per-minute N
                            agent connections one client address may open a minute, N at once after a quiet minute;
                            more are answered 429 with Retry-After (10-60 s). Default: the per-address cap, at least
                            ${MIN_DEFAULT_UPGRADES_PER_MINUTE} (${defaultUpgradesPerMinute(DEFAULT_CONNECTION_CAPS.perAddress)}), so every device an address may hold can reconnect at once after a
                            restart; 0 when that cap is 0. 0 = no limit
  --trusted-proxies LIST    addresses or CIDR ranges of your load balancers (e.g. 10.0.0.5,10.1.0.0/16): from these
                            peers the client address is taken from X-Forwarded-For (per-address caps and API limits);
                            from any other peer that header is ignored (default: none trusted)
  --presence-ttl-sec N      a node silent this long is dead: its devices show offline on the others (default ${DEFAULT_PRESENCE_TTL_MS / 1000})
Console: http(s)://HOST:PORT/console/ (docs/console.md).
Prints {"event":"listening",...} on stdout when ready. The owner API token is in DIR/owner.token.`;

const int = (min: number, max: number) => z.coerce.number().check(z.int(), z.gte(min), z.lte(max));
const FlagsSchema = z.object({
  listen: z.string().check(z.regex(/^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):\d{1,5}$/, 'HOST:PORT')),
  data: z.string().check(z.minLength(1)),
  database: z.optional(z.string().check(z.regex(/^postgres(ql)?:\/\/\S+$/i, 'a postgres:// or postgresql:// URL'))),
  'log-level': z._default(z.enum(['error', 'warn', 'info', 'debug']), 'info'),
  'heartbeat-sec': z._default(int(1, 600), 30),
  'tls-cert': z.optional(z.string().check(z.minLength(1))),
  'tls-key': z.optional(z.string().check(z.minLength(1))),
  'report-kind-mib': z._default(int(1, 1024), DEFAULT_REPORT_LIMITS.bytesPerKind / MIB),
  'report-device-mib': z._default(int(1, 16 * 1024), DEFAULT_REPORT_LIMITS.bytesPerDevice / MIB),
  'report-retention-days': z._default(int(1, 3650), DEFAULT_RETENTION.reportDays),
  'device-kib-per-sec': z._default(int(1, 1024 * 1024), DEFAULT_DEVICE_LIMITS.bytes.perSec / 1024),
  'public-url': z.optional(z.string().check(z.regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'an http:// or https:// URL'))),
  'smtp-url-file': z.optional(z.string().check(z.minLength(1))),
  'mail-from': z.optional(z.string().check(z.regex(/^[^\s@]+@[^\s@]+$/, 'an e-mail address'))),
  'presence-ttl-sec': z._default(int(3, 600), DEFAULT_PRESENCE_TTL_MS / 1000),
  'api-rps-per-token': z._default(int(1, 100_000), DEFAULT_API_RATE_LIMITS.perToken.perSec),
  'api-rps-per-address': z._default(int(0, 100_000), DEFAULT_API_RATE_LIMITS.perAddress.perSec),
  'max-agent-connections': z._default(int(0, 10_000_000), DEFAULT_CONNECTION_CAPS.total),
  'max-agent-connections-per-address': z._default(int(0, 10_000_000), DEFAULT_CONNECTION_CAPS.perAddress),
  'max-non-agent-sockets': z.optional(int(0, 10_000_000)),
  'max-upgrades-per-address-per-minute': z.optional(int(0, 10_000_000)),
  'trusted-proxies': z.optional(z.string().check(z.minLength(1), z.maxLength(4096))),
  'key-secret-file': z.optional(z.string().check(z.minLength(1))),
}).check(z.refine((f) => Boolean(f['tls-cert']) === Boolean(f['tls-key']), { message: 'give both --tls-cert and --tls-key, or neither', path: ['tls-cert'] }));
type Flags = z.infer<typeof FlagsSchema>;

const STRING_FLAGS = ['listen', 'data', 'database', 'log-level', 'heartbeat-sec', 'tls-cert', 'tls-key', 'report-kind-mib', 'report-device-mib', 'report-retention-days', 'device-kib-per-sec', 'public-url', 'smtp-url-file', 'mail-from', 'presence-ttl-sec', 'api-rps-per-token', 'api-rps-per-address', 'max-agent-connections', 'max-agent-connections-per-address', 'max-non-agent-sockets', 'max-upgrades-per-address-per-minute', 'trusted-proxies', 'key-secret-file'] as const;

function parseServeFlags(argv: string[]): Flags | 'help' {
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: argv, options: { ...Object.fromEntries(STRING_FLAGS.map((f) => [f, { type: 'string' as const }])), help: { type: 'boolean', short: 'h' } }, strict: true }).values;
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

/** Runs until `stopRequested` resolves (the entry turns SIGINT/SIGTERM into it), then stops within the budget. */
export default async function serve(argv: string[], io: CliIO, stopRequested: Promise<string>): Promise<number> {
  const flags = parseServeFlags(argv);
  if (flags === 'help') {
    io.out(SERVE_USAGE);
    return 0;
  }
  const cut = flags.listen.lastIndexOf(':');
  const host = flags.listen.slice(0, cut).replace(/^\[(.*)\]$/, '$1');
  const port = Number(flags.listen.slice(cut + 1));
  if (port > 65_535) throw new RmError('CLI_USAGE', '--listen: the port must be 0-65535');
  const dataDir = path.resolve(flags.data);
  const logger = createLogger({ level: flags['log-level'], console: true });
  const tls = flags['tls-cert'] && flags['tls-key'] ? { certFile: path.resolve(flags['tls-cert']), keyFile: path.resolve(flags['tls-key']) } : undefined;
  let trustedProxies;
  try {
    trustedProxies = flags['trusted-proxies'] ? parseTrustedProxies(flags['trusted-proxies']) : undefined;
  } catch (err) {
    throw new RmError('CLI_USAGE', `--trusted-proxies: ${(err as Error).message}`);
  }
  const mailFrom = flags['mail-from'] ?? 'rmagent-server@localhost';
  const smtpUrl = flags['smtp-url-file'] ? (await readTextIfExists(path.resolve(flags['smtp-url-file'])))?.trim() : undefined;
  if (flags['smtp-url-file'] && !smtpUrl) throw new RmError('CLI_USAGE', `--smtp-url-file: ${flags['smtp-url-file']} is missing or empty`);
  const server = await startServer({
    host,
    mailFrom,
    ...(smtpUrl ? { mailer: createSmtpMailer(smtpUrl, mailFrom) } : {}),
    ...(flags['public-url'] ? { publicUrl: flags['public-url'] } : {}),
    port,
    dataDir,
    ...(flags.database ? { database: flags.database } : {}),
    ...(flags['key-secret-file'] ? { keySecretFile: path.resolve(flags['key-secret-file']) } : {}),
    logger,
    heartbeatSec: flags['heartbeat-sec'],
    ...(tls ? { tls } : {}),
    reportLimits: { bytesPerKind: flags['report-kind-mib'] * MIB, bytesPerDevice: flags['report-device-mib'] * MIB },
    retention: { ...DEFAULT_RETENTION, reportDays: flags['report-retention-days'] },
    presenceTtlMs: flags['presence-ttl-sec'] * 1000,
    apiRateLimits: {
      perToken: { perSec: flags['api-rps-per-token'], burst: flags['api-rps-per-token'] * 10 },
      perAddress: { perSec: flags['api-rps-per-address'], burst: flags['api-rps-per-address'] * 10 },
    },
    connectionCaps: {
      total: flags['max-agent-connections'],
      perAddress: flags['max-agent-connections-per-address'],
      ...(flags['max-non-agent-sockets'] === undefined ? {} : { nonAgentSockets: flags['max-non-agent-sockets'] }),
      ...(flags['max-upgrades-per-address-per-minute'] === undefined ? {} : { upgradesPerMinute: flags['max-upgrades-per-address-per-minute'] }),
    },
    ...(trustedProxies ? { trustedProxies } : {}),
    deviceLimits: { ...DEFAULT_DEVICE_LIMITS, bytes: { perSec: flags['device-kib-per-sec'] * 1024, burst: Math.max(DEFAULT_DEVICE_LIMITS.bytes.burst, flags['device-kib-per-sec'] * 1024 * 4) } },
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.syscall === 'listen') throw new RmError('SERVER_LISTEN_FAILED', `${flags.listen}: ${err.code ?? err.message}`);
    throw err;
  });
  const ready = { event: 'listening', httpUrl: server.httpUrl, agentUrl: server.agentUrl, consoleUrl: `${server.httpUrl}/console/`, port: server.port, data: dataDir };
  // Not secret: where this server answers, so `rmagent-server devices list --data DIR` needs no --url.
  await writeJsonAtomic(path.join(dataDir, 'server.json'), { httpUrl: server.httpUrl, agentUrl: server.agentUrl, pid: process.pid }, 0o644);
  io.out(JSON.stringify(ready));

  const signal = await stopRequested;
  logger.info('stopping', { signal });
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    server.stop().then(() => 0, (err: unknown) => { logger.error('stop failed', { error: err }); return 1; }),
    new Promise<number>((resolve) => { timer = setTimeout(() => { logger.error('graceful stop took too long; exiting'); resolve(1); }, STOP_BUDGET_MS); }),
  ]);
  clearTimeout(timer);
  return outcome;
}
