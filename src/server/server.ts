// The reference management server's composition root: store, command key, accounts, HTTP API and agent
// gateway on one port. Work starts in startServer and ends in stop().
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { RmError } from '../protocol/errors.js';
import { systemClock, type Clock } from '../system/clock.js';
import { ensureDir, readTextIfExists, writeFileAtomic } from '../system/files.js';
import { DEFAULT_ROLES, OWNER_ROLE_ID } from './access.js';
import { createCommandQueue } from './commands.js';
import { createGateway } from './gateway.js';
import { createApiHandler } from './http.js';
import { allRoutes } from './routes.js';
import { hashSecret, newSecret } from './secrets.js';
import { loadKeyring } from './keyring.js';
import { createCommandSigner } from './signer.js';
import { createStore, type Store } from './store.js';
import { spkiPin } from '../protocol/tls-pin.js';

export interface ServerOptions {
  host: string;
  port: number;
  dataDir: string;
  logger: Logger;
  heartbeatSec?: number;
  clock?: Clock;
  /** How long a new agent connection may take to send auth/enroll (default 10 s). */
  handshakeTimeoutMs?: number;
  /** PEM files: with both, the server speaks HTTPS and wss:// only. */
  tls?: { certFile: string; keyFile: string };
}

export interface RunningServer {
  httpUrl: string;
  agentUrl: string;
  port: number;
  /** The owner's (company administrator's) API token, also in DATA/owner.token. */
  ownerToken: string;
  /** Base64 raw Ed25519 command key signing at start, also in DATA/server-key.pub (rotations: GET /server-keys). */
  serverPublicKey: string;
  stop(): Promise<void>;
}

export const OWNER_ACCOUNT_ID = 'acct-owner';

/** First start: default roles and the owner account. Any start: an owner token on disk that works. */
async function ensureOwner(store: Store, dataDir: string, now: number): Promise<string> {
  for (const role of DEFAULT_ROLES) if (!store.data.roles.some((r) => r.id === role.id)) store.data.roles.push({ ...role, permissions: [...role.permissions] });
  const tokenFile = path.join(dataDir, 'owner.token');
  let token = (await readTextIfExists(tokenFile))?.trim();
  if (!token) {
    token = newSecret('rma');
    await writeFileAtomic(tokenFile, `${token}\n`);
  }
  const owner = store.data.accounts.find((a) => a.id === OWNER_ACCOUNT_ID);
  if (owner) owner.tokenHash = hashSecret(token);
  else store.data.accounts.push({ id: OWNER_ACCOUNT_ID, name: 'owner', tokenHash: hashSecret(token), roleIds: [OWNER_ROLE_ID], createdAt: now });
  await store.commit();
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
  const store = createStore(opts.dataDir);
  const { created } = await store.load();
  const keyring = await loadKeyring(opts.dataDir, clock.now());
  const ownerToken = await ensureOwner(store, opts.dataDir, clock.now());
  // Asked at every signature, so a retired key stops signing at once.
  const signer = createCommandSigner(() => keyring.signing(), () => keyring.endorsements());

  const certPem = opts.tls ? await readPem(opts.tls.certFile, 'certificate') : null;
  const httpServer = opts.tls && certPem ? https.createServer({ cert: certPem, key: await readPem(opts.tls.keyFile, 'key') }) : http.createServer();
  // The gateway and the command queue need each other: the queue sends through the gateway, the gateway
  // hands the queue each new connection and each ack.
  const gateway = createGateway({
    httpServer,
    store,
    signer,
    clock,
    logger,
    heartbeatSec: opts.heartbeatSec ?? 30,
    ...(opts.handshakeTimeoutMs ? { handshakeTimeoutMs: opts.handshakeTimeoutMs } : {}),
    onOnline: (deviceId) => commands.deliverQueued(deviceId),
    onAck: (deviceId, ack) => commands.recordAck(deviceId, ack),
  });
  const commands = createCommandQueue({ store, signer, clock, logger, transport: gateway });
  httpServer.on('request', createApiHandler({ store, logger, routes: allRoutes({ store, clock, logger, commands, fleet: gateway, keyring, servingTlsPin: certPem ? spkiPin(certPem) : null }) }));
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
    await gateway.stop({ budgetMs: 0 });
    throw err;
  }
  const port = (httpServer.address() as AddressInfo).port;
  const hostInUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  logger.info('server listening', { host: opts.host, port, tls: Boolean(opts.tls), dataDir: opts.dataDir, firstStart: created, devices: store.data.devices.length });

  let stopping: Promise<void> | null = null;
  return {
    httpUrl: `${opts.tls ? 'https' : 'http'}://${hostInUrl}:${port}`,
    agentUrl: `${opts.tls ? 'wss' : 'ws'}://${hostInUrl}:${port}/agent`,
    port,
    ownerToken,
    serverPublicKey: signer.publicKey,
    stop() {
      stopping ??= (async () => {
        await gateway.stop();
        httpServer.closeAllConnections();
        await new Promise<void>((resolve) => httpServer.close(() => resolve()));
        await store.commit(); // keeps lastSeen from heartbeats
        await store.flush();
        logger.info('server stopped');
      })();
      return stopping;
    },
  };
}
