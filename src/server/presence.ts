// Presence across nodes: which devices have a live connection on any server node sharing the database.
//
// - This node's own connections are known at once (connected/disconnected from the gateway) and written to the store
//   in batches, one transaction per turn of the event loop, with a `presence` notification for the other nodes.
// - Other nodes' devices come from the store (refreshed at every beat) and from their notifications in between.
// - Every node beats every ttl/3; a node that has not beaten for `ttl` is dead: its devices are offline everywhere at
//   the next refresh, and the first node to notice removes its rows (a node killed without a clean stop included).
// - A clean stop removes this node and its rows at once.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Clock } from '../system/clock.js';
import type { Logger } from '../log.js';
import type { Store } from './store/store.js';

export const DEFAULT_PRESENCE_TTL_MS = 15_000;
/** Device ids per notification (PostgreSQL's payload limit is 8000 bytes). */
const IDS_PER_MESSAGE = 100;

export interface Presence {
  readonly nodeId: string;
  /** The device has a live, authenticated connection on some node. */
  isOnline(deviceId: string): boolean;
  /** Devices this node holds. */
  local(): ReadonlySet<string>;
  connected(deviceId: string): void;
  disconnected(deviceId: string): void;
  /** Beats from now on; `listen` (HOST:PORT) is recorded for operators. */
  start(listen: string): Promise<void>;
  /** Writes what is pending, then removes this node from the store. */
  stop(): Promise<void>;
  /** Reads the other nodes' devices again (after a lost LISTEN connection, and at every beat). */
  refresh(): Promise<void>;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function createPresence(ctx: { store: Store; clock: Clock; logger: Logger; ttlMs?: number }): Presence {
  const { store, clock, logger } = ctx;
  const ttlMs = ctx.ttlMs ?? DEFAULT_PRESENCE_TTL_MS;
  const node = { id: `node-${randomUUID()}`, startedAt: clock.now(), beatAt: clock.now(), info: { host: hostname(), pid: process.pid, listen: '' } };
  const mine = new Set<string>();
  /** Other nodes' devices: device id -> node id. */
  let remote = new Map<string, string>();
  /** Changes not yet written: device id -> connected (true) or disconnected (false); the last one wins. */
  let pending = new Map<string, boolean>();
  let flushing: Promise<void> | null = null;
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let stopped = false;
  /** A presence write failed, or this node was expired by another: write the whole set at the next beat. */
  let rewrite = false;

  async function flush(): Promise<void> {
    while (pending.size) {
      const batch = pending;
      pending = new Map();
      const connected = [...batch].filter(([, on]) => on).map(([id]) => id);
      const disconnected = [...batch].filter(([, on]) => !on).map(([id]) => id);
      try {
        await store.transaction(async (tx) => {
          await tx.presence.update(node.id, { connected, disconnected }, clock.now());
          for (const part of chunks(connected, IDS_PER_MESSAGE)) tx.publish('presence', { nodeId: node.id, connected: part, disconnected: [] });
          for (const part of chunks(disconnected, IDS_PER_MESSAGE)) tx.publish('presence', { nodeId: node.id, connected: [], disconnected: part });
        });
      } catch (err) {
        rewrite = true;
        logger.warn('could not record presence', { error: err, connected: connected.length, disconnected: disconnected.length });
      }
    }
  }

  function schedule(): void {
    if (flushing || stopped) return;
    flushing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(flush)
      .finally(() => {
        flushing = null;
        if (pending.size) schedule();
      });
  }

  async function refresh(): Promise<void> {
    const rows = await store.presence.online(clock.now() - ttlMs, node.id);
    remote = new Map(rows.filter((r) => !mine.has(r.deviceId)).map((r) => [r.deviceId, r.nodeId]));
  }

  async function beat(): Promise<void> {
    const now = clock.now();
    try {
      const known = await store.presence.beat(node, now);
      const expired = await store.presence.expire(now - ttlMs);
      if (expired) logger.warn('devices of a node that stopped beating are offline', { devices: expired });
      if ((rewrite || !known) && mine.size) {
        // This node's beat was late enough for another node to expire it, or a write failed: write its whole set.
        rewrite = false;
        await store.presence.update(node.id, { connected: [...mine], disconnected: [] }, now);
      }
      await refresh();
    } catch (err) {
      logger.warn('presence beat failed', { error: err });
    }
  }

  return {
    nodeId: node.id,
    isOnline: (deviceId) => mine.has(deviceId) || remote.has(deviceId),
    local: () => mine,
    connected(deviceId) {
      mine.add(deviceId);
      remote.delete(deviceId);
      pending.set(deviceId, true);
      schedule();
    },
    disconnected(deviceId) {
      mine.delete(deviceId);
      pending.set(deviceId, false);
      schedule();
    },
    async start(listen) {
      node.info.listen = listen;
      unsubscribe = store.subscribe('presence', ({ nodeId, connected, disconnected }) => {
        if (nodeId === node.id) return;
        for (const id of disconnected) if (remote.get(id) === nodeId) remote.delete(id);
        for (const id of connected) if (!mine.has(id)) remote.set(id, nodeId);
      });
      await beat();
      timer = setInterval(() => void beat(), Math.max(1_000, Math.floor(ttlMs / 3)));
      timer.unref();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      unsubscribe?.();
      while (flushing) await flushing;
      await store.presence.leave(node.id).catch((err: unknown) => logger.warn('could not remove this node from presence', { error: err }));
    },
    refresh,
  };
}
