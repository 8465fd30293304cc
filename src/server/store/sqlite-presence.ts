// SQLite repository of presence: which node holds which device (one node on SQLite, but the same records as on
// PostgreSQL, so the server has one code path).
import { json, list, num, parseJson, type Db, type Row } from './sqlite-db.js';
import type { ServerNodeRecord } from './records.js';
import type { SyncOf } from './sqlite-sync.js';
import type { Repos } from './store.js';

export const toServerNode = (r: Row): ServerNodeRecord => ({ id: String(r.id), startedAt: num(r.started_at), beatAt: num(r.beat_at), info: parseJson(r.info) });

export function sqlitePresence(db: Db): SyncOf<Repos['presence']> {
  return {
    beat(node, at) {
      if (db.run('UPDATE server_nodes SET beat_at = ? WHERE id = ?', at, node.id)) return true;
      db.run('INSERT INTO server_nodes (id, started_at, beat_at, info) VALUES (?, ?, ?, ?)', node.id, node.startedAt, at, json(node.info));
      return false;
    },
    update(nodeId, { connected, disconnected }, at) {
      if (disconnected.length) db.run('DELETE FROM presence WHERE node_id = ? AND device_id IN (SELECT value FROM json_each(?))', nodeId, list(disconnected));
      for (const id of connected) db.run('INSERT INTO presence (device_id, node_id, since) VALUES (?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET node_id = excluded.node_id, since = excluded.since', id, nodeId, at);
    },
    online: (aliveSince, exceptNode) =>
      db
        .all<{ device_id: string; node_id: string }>('SELECT p.device_id, p.node_id FROM presence p JOIN server_nodes n ON n.id = p.node_id WHERE n.beat_at >= ? AND n.id IS NOT ?', aliveSince, exceptNode)
        .map((r) => ({ deviceId: r.device_id, nodeId: r.node_id })),
    expire(aliveSince) {
      const gone = db.run('DELETE FROM presence WHERE node_id IN (SELECT id FROM server_nodes WHERE beat_at < ?)', aliveSince);
      db.run('DELETE FROM server_nodes WHERE beat_at < ?', aliveSince);
      return gone;
    },
    leave(nodeId) {
      db.run('DELETE FROM presence WHERE node_id = ?', nodeId);
      db.run('DELETE FROM server_nodes WHERE id = ?', nodeId);
    },
    nodes: () => db.all('SELECT * FROM server_nodes ORDER BY started_at, id').map(toServerNode),
  };
}
