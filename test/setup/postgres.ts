// Global setup: with RMAGENT_TEST_STORE=postgres (`npm run test:postgres`), one PostgreSQL cluster for the run, and
// every server the server tests start (helpers.serverIn) keeps its records there instead of SQLite. Otherwise nothing.
import { findPostgres, startPgCluster } from '../server/pg-cluster.js';

export default async function setup(): Promise<(() => Promise<void>) | void> {
  if (process.env.RMAGENT_TEST_STORE !== 'postgres') return;
  const bins = await findPostgres();
  if ('missing' in bins) throw new Error(`RMAGENT_TEST_STORE=postgres: ${bins.missing}`);
  const cluster = await startPgCluster(bins);
  // Inherited by the test processes (forks), which start after this.
  process.env.RMAGENT_TEST_PG_PORT = String(cluster.port);
  return () => cluster.stop();
}
