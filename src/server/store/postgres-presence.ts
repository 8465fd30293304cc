// PostgreSQL repository of presence: which node holds which device's connection, shared by every node.
import { pgJson as json, type PgDb } from './postgres-db.js';
import type { Row } from './sqlite-db.js';
import { toServerNode } from './sqlite-presence.js';
import type { Repos } from './store.js';

export function postgresPresence(db: PgDb): Repos['presence'] {
  return {
    async beat(node, at) {
      if (await db.run('UPDATE server_nodes SET beat_at = ? WHERE id = ?', at, node.id)) return true;
      await db.run('INSERT INTO server_nodes (id, started_at, beat_at, info) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET beat_at = excluded.beat_at', node.id, node.startedAt, at, json(node.info));
      return false;
    },
    update: (nodeId, { connected, disconnected }, at) =>
      db.atomic(async () => {
        if (disconnected.length) await db.run('DELETE FROM presence WHERE node_id = ? AND device_id = ANY(?)', nodeId, disconnected);
        if (connected.length) {
          await db.run(
            'INSERT INTO presence (device_id, node_id, since) SELECT unnest(?::text[]), ?, ? ON CONFLICT (device_id) DO UPDATE SET node_id = excluded.node_id, since = excluded.since',
            [...new Set(connected)], nodeId, at,
          );
        }
      }),
    online: async (aliveSince, exceptNode) =>
      (await db.all<{ device_id: string; node_id: string }>('SELECT p.device_id, p.node_id FROM presence p JOIN server_nodes n ON n.id = p.node_id WHERE n.beat_at >= ? AND n.id IS DISTINCT FROM ?', aliveSince, exceptNode)).map((r) => ({ deviceId: r.device_id, nodeId: r.node_id })),
    expire: (aliveSince) =>
      db.atomic(async () => {
        const gone = await db.run('DELETE FROM presence WHERE node_id IN (SELECT id FROM server_nodes WHERE beat_at < ?)', aliveSince);
        await db.run('DELETE FROM server_nodes WHERE beat_at < ?', aliveSince);
        return gone;
      }),
    leave: (nodeId) =>
      db.atomic(async () => {
        await db.run('DELETE FROM presence WHERE node_id = ?', nodeId);
        await db.run('DELETE FROM server_nodes WHERE id = ?', nodeId);
      }),
    nodes: async () => (await db.all<Row>('SELECT * FROM server_nodes ORDER BY started_at, id')).map(toServerNode),
  };
}
