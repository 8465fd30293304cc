// The management server's composition root: store, command keys, accounts, HTTP API and agent gateway on one port,
// plus the background work (webhook deliveries, retention). Work starts in startServer and ends in stop().
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { RmError } from '../protocol/errors.js';
import { spkiPin } from '../protocol/tls-pin.js';
import { systemClock, type Clock } from '../system/clock.js';
import { ensureDir, readTextIfExists, writeFileAtomic } from '../system/files.js';
import { DEFAULT_ROLES, OWNER_ROLE_ID } from './access.js';
import { OWNER_ACCOUNT_ID } from './api/accounts.js';
import { apiRequestListener, createApiApp } from './api/app.js';
import { buildOpenApi } from './api/openapi.js';
import type { ApiRateLimits } from './api/rate-limits.js';
import { allRoutes } from './api/routes.js';
import { createCommandQueue } from './commands.js';
import { createGateway, type DeviceLimits } from './gateway.js';
import type { ConnectionCaps } from './connection-caps.js';
import type { TrustedProxies } from './client-address.js';
import { createIntake } from './intake.js';
import { loadKeyring } from './keyring.js';
import { createMailDrop, type Mailer } from './mailer.js';
import { addConsolePages } from './console/pages.js';
import { createAttemptLimiter, SIGN_IN_LIMITS } from './sessions.js';
import { createPresence } from './presence.js';
import { createRetentionSweeper, DEFAULT_RETENTION, type RetentionOptions } from './retention.js';
import { hashSecret, newSecret } from './secrets.js';
import { createCommandSigner } from './signer.js';
import { createPostgresStore, redactUrl } from './store/postgres.js';
import { createSqliteStore } from './store/sqlite.js';
import type { ReportLimits, Store } from './store/store.js';
import { createWebhookDispatcher } from './webhooks.js';

export { OWNER_ACCOUNT_ID };

export const DEFAULT_REPORT_LIMITS: ReportLimits = { bytesPerKind: 1024 * 1024, bytesPerDevice: 4 * 1024 * 1024 };

export interface ServerOptions {
  host: string;
  port: number;
  dataDir: string;
  /** A postgres:// URL: records in that PostgreSQL database (several nodes may share it); default SQLite in dataDir. */
  database?: string;
  logger: Logger;
  heartbeatSec?: number;
  clock?: Clock;
  /** How long a new agent connection may take to send auth/enroll (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Frames and pings a socket may send before it authenticated (default PRE_AUTH_MAX_FRAMES; not a flag: tests raise it to reach the send-buffer bound alone). */
  preAuthMaxFrames?: number;
  /** PEM files: with both, the server speaks HTTPS and wss:// only. */
  tls?: { certFile: string; keyFile: string };
  /** Report history kept per device and per kind (bytes). */
  reportLimits?: ReportLimits;
  /** What one device may send after its handshake. */
  deviceLimits?: DeviceLimits;
  /** Agent connections held at most, in total and per client address (0 = no cap). */
  connectionCaps?: ConnectionCaps;
  /** Load balancers whose X-Forwarded-For names the client (connection caps, API rate limits, sign-in attempts). */
  trustedProxies?: TrustedProxies;
  retention?: RetentionOptions;
  /** HTTP API requests per second per client address and per token. */
  apiRateLimits?: ApiRateLimits;
  /** A node that has not beaten for this long is dead and its devices offline (default 15 s). */
  presenceTtlMs?: number;
  /** Check every API answer against its declared schema (tests). */
  validateResponses?: boolean;
  /** Where licence and verification e-mails go (default: .eml files in DATA/mail/). */
  mailer?: Mailer;
  /** Sender of those e-mails (default rmagent-server@localhost). */
  mailFrom?: string;
  /** The key-encryption secret of the command keys in the database (default DATA/key-encryption.secret). */
  keySecretFile?: string;
  /** The URL e-mailed links start with, as users reach the server (default: the URL it listens on). */
  publicUrl?: string;
}

export interface RunningServer {
  httpUrl: string;
  agentUrl: string;
  port: number;
  /** The owner's (company administrator's) API token, also in DATA/owner.token. */
  ownerToken: string;
  /** Base64 raw Ed25519 command key signing at start, also in DATA/server-key.pub (rotations: GET /server-keys). */
  serverPublicKey: string;
  /** The store, for tests and tools that run in the same process. */
  store: Store;
  stop(): Promise<void>;
}

/** First start: the default roles and the owner account. Any start: built-in roles as this version defines them, and an owner token on disk that works. */
async function ensureOwner(store: Store, dataDir: string, now: number): Promise<string> {
  const tokenFile = path.join(dataDir, 'owner.token');
  let token = (await readTextIfExists(tokenFile))?.trim();
  if (!token) {
    token = newSecret('rma');
    await writeFileAtomic(tokenFile, `${token}\n`);
  }
  const tokenHash = hashSecret(token);
  await store.transaction(async (tx) => {
    for (const role of DEFAULT_ROLES) {
      const known = await tx.roles.get(role.id);
      if (!known) await tx.roles.insert({ ...role, permissions: [...role.permissions], builtIn: true });
      else await tx.roles.update(role.id, { name: role.name, permissions: [...role.permissions] });
    }
    const owner = await tx.accounts.get(OWNER_ACCOUNT_ID);
    if (owner) await tx.accounts.update(OWNER_ACCOUNT_ID, { tokenHash, disabledAt: null });
    else await tx.accounts.insert({ id: OWNER_ACCOUNT_ID, name: 'owner', tokenHash, roleIds: [OWNER_ROLE_ID], createdAt: now, disabledAt: null });
  });
  return token;
}

async function readPem(file: string, what: string): Promise<string> {
  const text = await readTextIfExists(file);
  if (!text) throw new RmError('CONFIG_UNREADABLE', `TLS ${what} ${file} is missing or empty`);
  return text;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger;
  await ensureDir(opts.dataDir);
  if (await readTextIfExists(path.join(opts.dataDir, 'store.json')).catch(() => null)) {
    logger.warn('DATA/store.json (the JSON store of rmagent-server before 0.2) is not imported: this server starts from DATA/rmagent.db; devices enrolled before must enroll again. The file is left in place; delete it once you no longer need it.');
  }
  // Notifications sent while PostgreSQL's LISTEN connection was down are lost: look again at what waits.
  let resync = () => {};
  const store = opts.database
    ? createPostgresStore({ url: opts.database, logger, now: () => clock.now(), onResync: () => resync() })
    : createSqliteStore({ dataDir: opts.dataDir, logger, now: () => clock.now() });
  const { created, schemaVersion } = await store.open();
  let stopping: Promise<void> | null = null;
  try {
    const keyring = await loadKeyring({ store, dataDir: opts.dataDir, logger, now: clock.now(), ...(opts.keySecretFile ? { secretFile: opts.keySecretFile } : {}) });
    // A rotation or retirement through another node sharing the database: sign with what it left.
    const reloadKeys = async () => {
      try {
        await keyring.reload();
      } catch (err) {
        logger.error('server keys could not be read again', { error: err });
      }
    };
    const unsubscribeKeys = store.subscribe('server-keys', reloadKeys);
    const ownerToken = await ensureOwner(store, opts.dataDir, clock.now());
    // Asked at every signature, so a retired key stops signing at once.
    const signer = createCommandSigner(() => keyring.signing(), (pinned) => keyring.endorsements(pinned), () => keyring.active(), (k) => keyring.activePair(k));

    const certPem = opts.tls ? await readPem(opts.tls.certFile, 'certificate') : null;
    // A slow client cannot hold a connection open (API or an agent's upgrade request): headers within 10 s, the
    // whole request within 30 s, checked every second (Node's default check is every 30 s); over TLS the handshake
    // within 10 s (Node's default is 120 s).
    const serverOptions = { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1_000 };
    const httpServer = opts.tls && certPem
      ? https.createServer({ ...serverOptions, handshakeTimeout: 10_000, cert: certPem, key: await readPem(opts.tls.keyFile, 'key') })
      : http.createServer(serverOptions);

    const presence = createPresence({ store, clock, logger, ...(opts.presenceTtlMs ? { ttlMs: opts.presenceTtlMs } : {}) });
    const webhooks = createWebhookDispatcher({ store, clock, logger });
    const intake = createIntake({ store, clock, logger, limits: opts.reportLimits ?? DEFAULT_REPORT_LIMITS, onAlertChange: () => webhooks.kick() });
    // The gateway and the command queue need each other: the queue sends through the gateway, the gateway asks the
    // queue to deliver what waits once a device has connected.
    const gateway = createGateway({
      httpServer,
      store,
      signer,
      clock,
      logger,
      intake,
      heartbeatSec: opts.heartbeatSec ?? 30,
      ...(opts.handshakeTimeoutMs ? { handshakeTimeoutMs: opts.handshakeTimeoutMs } : {}),
      ...(opts.preAuthMaxFrames ? { preAuthMaxFrames: opts.preAuthMaxFrames } : {}),
      ...(opts.deviceLimits ? { deviceLimits: opts.deviceLimits } : {}),
      ...(opts.connectionCaps ? { connectionCaps: opts.connectionCaps } : {}),
      ...(opts.trustedProxies ? { trustedProxies: opts.trustedProxies } : {}),
      onOnline: (deviceId) => {
        presence.connected(deviceId);
        return commands.deliver(deviceId, { reconnected: true });
      },
      onOffline: (deviceId) => presence.disconnected(deviceId),
      // `rmagent unenroll` on the device: it leaves the fleet as a console delete would (key revoked, data removed).
      onUnenroll: async (deviceId, reason) => {
        await store.transaction(async (tx) => {
          await tx.devices.revoke(deviceId, clock.now(), deviceId);
          tx.publish('device.revoked', { deviceId });
        });
        logger.info('device unenrolled itself', { deviceId, reason });
      },
    });
    const commands = createCommandQueue({ store, signer, clock, logger, transport: gateway });
    // Online = held by any node sharing the database (one node on SQLite): the API's `online`, and whom
    // activations send commands to at once.
    const fleet = { isOnline: (deviceId: string) => presence.isOnline(deviceId) };
    resync = () => {
      void presence.refresh().catch(() => undefined);
      void reloadKeys();
      for (const deviceId of presence.local()) void commands.deliver(deviceId, { reconnected: false });
    };
    const retention = createRetentionSweeper({ store, clock, logger, options: opts.retention ?? DEFAULT_RETENTION });
    let listeningUrl = '';
    const mailer = opts.mailer ?? createMailDrop(path.join(opts.dataDir, 'mail'), opts.mailFrom ?? 'rmagent-server@localhost', () => clock.now());
    const routes = allRoutes({
      store, clock, logger, commands, fleet, keyring, servingTlsPin: certPem ? spkiPin(certPem) : null,
      mailer, publicUrl: () => (opts.publicUrl ?? listeningUrl).replace(/\/+$/, ''), signInLimiter: createAttemptLimiter(SIGN_IN_LIMITS.perAddress),
    });
    const app = createApiApp({
      now: () => clock.now(),
      secure: Boolean(opts.tls),
      extend: addConsolePages,
      store,
      logger,
      routes,
      openapi: buildOpenApi(routes),
      validateResponses: opts.validateResponses ?? false,
      ...(opts.apiRateLimits ? { rateLimits: opts.apiRateLimits } : {}),
      ...(opts.trustedProxies ? { trustedProxies: opts.trustedProxies } : {}),
      notReady: async () => {
        if (stopping) return 'the server is stopping';
        await store.ping();
        return null;
      },
    });
    httpServer.on('request', apiRequestListener(app));
    const stopCommands = commands.start();
    gateway.start();

    try {
      await new Promise<void>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(opts.port, opts.host, () => {
          httpServer.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      stopCommands();
      await gateway.stop({ budgetMs: 0 });
      throw err;
    }
    webhooks.start();
    retention.start();
    const port = (httpServer.address() as AddressInfo).port;
    const hostInUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    listeningUrl = `${opts.tls ? 'https' : 'http'}://${hostInUrl}:${port}`;
    await presence.start(`${hostInUrl}:${port}`);
    logger.info('server listening', { node: presence.nodeId, host: opts.host, port, tls: Boolean(opts.tls), dataDir: opts.dataDir, store: store.engine, ...(opts.database ? { database: redactUrl(opts.database) } : {}), schemaVersion, firstStart: created, devices: await store.devices.count() });

    return {
      httpUrl: `${opts.tls ? 'https' : 'http'}://${hostInUrl}:${port}`,
      agentUrl: `${opts.tls ? 'wss' : 'ws'}://${hostInUrl}:${port}/agent`,
      port,
      ownerToken,
      serverPublicKey: signer.publicKey,
      store,
      stop() {
        stopping ??= (async () => {
          stopCommands();
          unsubscribeKeys();
          await gateway.stop();
          await presence.stop();
          httpServer.closeAllConnections();
          await new Promise<void>((resolve) => httpServer.close(() => resolve()));
          await webhooks.stop();
          await retention.stop();
          await store.close();
          logger.info('server stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
