// The agent configuration: every key with its default and what it is for (docs/configuration.md is generated from this).
import * as z from 'zod/mini';

const seconds = (def: number, min: number, max: number, what: string) =>
  z._default(z.int().check(z.gte(min), z.lte(max)), def).check(z.describe(`${what} (seconds, ${min}-${max})`));

/**
 * The config schema, built at each use rather than when this module loads: the agent reads its config at start
 * and on a reload only, and this tree is ~170 zod objects that would otherwise stay in memory (~0.4 MB idle RSS).
 */
export function configSchema() {
  const teamviewer = z.strictObject({
    root: z._default(z.string().check(z.minLength(1)), '/').check(z.describe('Folder under which TeamViewer paths are resolved (a mounted host root, or a fixture tree in tests)')),
    detectIntervalSec: seconds(300, 5, 86_400, 'How often TeamViewer is detected again'),
    required: z._default(z.boolean(), true).check(z.describe('Refuse service installs while neither TeamViewer Host nor the full client is installed')),
    platform: z.optional(z.enum(['linux', 'win32', 'darwin'])).check(z.describe('Which OS layout to detect (default: this OS); lets each OS be tested anywhere')),
    path: z.optional(z.string()).check(z.describe('PATH used to find TeamViewer commands (teamviewer, reg, plutil, systemctl, ...)')),
  });

  const connection = z.strictObject({
    heartbeatSec: seconds(30, 1, 600, 'Ping interval; a peer silent for more than 1.5 intervals when the next ping is due (in practice two) is dropped'),
    backoffBaseMs: z._default(z.int().check(z.gte(10), z.lte(60_000)), 1_000).check(z.describe('First reconnect delay ceiling (ms)')),
    backoffMaxMs: z._default(z.int().check(z.gte(100), z.lte(3_600_000)), 300_000).check(z.describe('Largest reconnect delay ceiling (ms)')),
    maxFrameBytes: z._default(z.int().check(z.gte(1_024), z.lte(64 * 1024 * 1024)), 1024 * 1024).check(z.describe('Largest frame accepted (bytes)')),
    allowInsecure: z._default(z.boolean(), false).check(z.describe('Allow ws:// to a non-loopback server (lab use only; reported as a problem)')),
    caFile: z.optional(z.string()).check(z.describe('PEM file with extra CA certificates for wss://')),
    pinSha256: z.optional(z.string().check(z.regex(/^[A-Za-z0-9+/]{43}=$/, 'base64 SHA-256'))).check(z.describe("Base64 SHA-256 of the server certificate's public key (SPKI). Opts in to pinning; pins the server announces later replace it until this value changes (docs/security.md)")),
    commandWindowSec: seconds(300, 10, 86_400, 'How far a command timestamp may be from the server\'s time (its signed `serverTime` at the handshake plus monotonic time since: the device clock does not count)'),
    requireChannelBinding: z._default(z.boolean(), false).check(z.describe("Over wss://, refuse a server whose handshake proof is not bound to this TLS connection (set it when TLS ends at the rmagent server itself: a relay then cannot pass the server's proof on; see docs/protocol.md)")),
  });

  const watchdog = z.strictObject({
    maxRssMb: z._default(z.int().check(z.gte(32), z.lte(16_384)), 256).check(z.describe('Resident memory above which the agent restarts itself (MiB)')),
    maxCpuPercent: z._default(z.number().check(z.gte(1), z.lte(100)), 50).check(z.describe('Average CPU of one core over the window above which the agent restarts itself (%)')),
    windowSec: seconds(300, 10, 86_400, 'Window the CPU average is taken over'),
    intervalSec: seconds(30, 1, 3_600, 'How often memory and CPU are sampled'),
  });

  return z.strictObject({
    stateDir: z.string().check(z.minLength(1), z.describe('State folder (registration, keys, desired state, outbox)')),
    logDir: z.string().check(z.minLength(1), z.describe('Log folder (rotated JSON logs)')),
    logLevel: z._default(z.enum(['error', 'warn', 'info', 'debug']), 'info').check(z.describe('Log level')),
    ipcPath: z.optional(z.string().check(z.minLength(1))).check(z.describe('Local status endpoint (default: rmagent.sock in the state folder; on Windows ipc-endpoint.json in the state folder, where the running agent records its random pipe name; or an explicit \\\\.\\pipe\\NAME)')),
    machineId: z.optional(z.string().check(z.minLength(1), z.maxLength(256))).check(z.describe('Override of the machine id (containers and tests)')),
    teamviewer: z._default(teamviewer, teamviewer.parse({})),
    connection: z._default(connection, connection.parse({})),
    statusIntervalSec: seconds(300, 5, 86_400, 'How often a status report is sent'),
    quarantineAfter: z._default(z.int().check(z.gte(1), z.lte(100)), 5).check(z.describe('Failed attempts of one service step before it is quarantined')),
    watchdog: z._default(watchdog, watchdog.parse({})),
    outboxMaxBytes: z._default(z.int().check(z.gte(64 * 1024), z.lte(1024 * 1024 * 1024)), 50 * 1024 * 1024).check(z.describe('Disk budget of the report outbox (bytes)')),
  });
}

export type Config = z.infer<ReturnType<typeof configSchema>>;
export type ConfigInput = z.input<ReturnType<typeof configSchema>>;
