// The agent configuration: every key with its default and what it is for (docs/configuration.md is generated from this).
import * as z from 'zod';

const seconds = (def: number, min: number, max: number, what: string) =>
  z.number().int().min(min).max(max).default(def).describe(`${what} (seconds, ${min}-${max})`);

/**
 * The config schema, built at each use rather than when this module loads: the agent reads its config at start
 * and on a reload only, and this tree is ~170 zod objects that would otherwise stay in memory (~0.4 MB idle RSS).
 */
export function configSchema() {
  const teamviewer = z
    .object({
      root: z.string().min(1).default('/').describe('Folder under which TeamViewer paths are resolved (a mounted host root, or a fixture tree in tests)'),
      detectIntervalSec: seconds(300, 5, 86_400, 'How often TeamViewer is detected again'),
      required: z.boolean().default(true).describe('Refuse service installs while neither TeamViewer Host nor the full client is installed'),
      platform: z.enum(['linux', 'win32', 'darwin']).optional().describe('Which OS layout to detect (default: this OS); lets each OS be tested anywhere'),
      path: z.string().optional().describe('PATH used to find TeamViewer commands (teamviewer, reg, plutil, systemctl, ...)'),
    })
    .strict();

  const connection = z
    .object({
      heartbeatSec: seconds(30, 1, 600, 'Ping interval; a peer silent for two intervals is dropped'),
      backoffBaseMs: z.number().int().min(10).max(60_000).default(1_000).describe('First reconnect delay ceiling (ms)'),
      backoffMaxMs: z.number().int().min(100).max(3_600_000).default(300_000).describe('Largest reconnect delay ceiling (ms)'),
      maxFrameBytes: z.number().int().min(1_024).max(64 * 1024 * 1024).default(1024 * 1024).describe('Largest frame accepted (bytes)'),
      allowInsecure: z.boolean().default(false).describe('Allow ws:// to a non-loopback server (lab use only; reported as a problem)'),
      caFile: z.string().optional().describe('PEM file with extra CA certificates for wss://'),
      pinSha256: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'base64 SHA-256').optional().describe("Base64 SHA-256 of the server certificate's public key (SPKI). Opts in to pinning; pins the server announces later replace it until this value changes (docs/security.md)"),
      commandWindowSec: seconds(300, 10, 86_400, 'How far a command timestamp may be from the device clock'),
    })
    .strict();

  const watchdog = z
    .object({
      maxRssMb: z.number().int().min(32).max(16_384).default(256).describe('Resident memory above which the agent restarts itself (MiB)'),
      maxCpuPercent: z.number().min(1).max(100).default(50).describe('Average CPU of one core over the window above which the agent restarts itself (%)'),
      windowSec: seconds(300, 10, 86_400, 'Window the CPU average is taken over'),
      intervalSec: seconds(30, 1, 3_600, 'How often memory and CPU are sampled'),
    })
    .strict();

  return z
    .object({
      stateDir: z.string().min(1).describe('State folder (registration, keys, desired state, outbox)'),
      logDir: z.string().min(1).describe('Log folder (rotated JSON logs)'),
      logLevel: z.enum(['error', 'warn', 'info', 'debug']).default('info').describe('Log level'),
      ipcPath: z.string().min(1).optional().describe('Local status endpoint (default: rmagent.sock in the state folder, or \\\\.\\pipe\\rmagent)'),
      machineId: z.string().min(1).max(256).optional().describe('Override of the machine id (containers and tests)'),
      teamviewer: teamviewer.default(teamviewer.parse({})),
      connection: connection.default(connection.parse({})),
      statusIntervalSec: seconds(300, 5, 86_400, 'How often a status report is sent'),
      quarantineAfter: z.number().int().min(1).max(100).default(5).describe('Failed attempts of one service step before it is quarantined'),
      watchdog: watchdog.default(watchdog.parse({})),
      outboxMaxBytes: z.number().int().min(64 * 1024).max(1024 * 1024 * 1024).default(50 * 1024 * 1024).describe('Disk budget of the report outbox (bytes)'),
    })
    .strict();
}

export type Config = z.infer<ReturnType<typeof configSchema>>;
export type ConfigInput = z.input<ReturnType<typeof configSchema>>;
