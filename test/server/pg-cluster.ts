// A throw-away PostgreSQL cluster for tests and benchmarks: Debian's postgresql binaries, a data folder in a temp
// dir, listening on 127.0.0.1 on a free port (and a unix socket in that folder), trust authentication for the one
// local user. As root the server runs as the `postgres` account (PostgreSQL refuses to run as root). Where PostgreSQL
// is not installed, findPostgres() says why, so the suites that need it skip with that reason.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export interface PostgresBinaries {
  bin: string;
  /** Run as this account (root cannot run PostgreSQL), with its uid/gid. */
  as: { user: string; uid: number; gid: number } | null;
}

/** The newest installed PostgreSQL's binaries, or why there are none. */
export async function findPostgres(): Promise<PostgresBinaries | { missing: string }> {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a)) : [];
  if (!versions.length) return { missing: 'PostgreSQL is not installed (apt-get install postgresql; .ci/run does)' };
  const bin = path.join(root, versions[0]!, 'bin');
  if (process.getuid?.() !== 0) return { bin, as: null };
  try {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    return { bin, as: { user: 'postgres', uid: Number(stdout.trim()), gid: Number(gid.trim()) } };
  } catch {
    return { missing: 'running as root and there is no postgres account to run PostgreSQL as' };
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface PgCluster {
  port: number;
  /** URL of a new, empty database on this cluster. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server (immediate: a crash as far as PostgreSQL is concerned) and removes the folder. */
  stop(): Promise<void>;
}

let databases = 0;

/**
 * Starts a cluster. `durable: false` (tests) turns off fsync: the cluster is thrown away, and the tests check
 * behaviour, not durability; benchmarks keep it on.
 */
export async function startPgCluster(bins: PostgresBinaries, options: { durable?: boolean } = {}): Promise<PgCluster> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rmagent-pg-'));
  const data = path.join(dir, 'data');
  const exec = async (tool: string, args: string[]) => {
    const argv = bins.as ? ['runuser', ['-u', bins.as.user, '--', path.join(bins.bin, tool), ...args]] as const : [path.join(bins.bin, tool), args] as const;
    return run(argv[0], [...argv[1]], { timeout: 60_000, cwd: dir });
  };
  if (bins.as) await chown(dir, bins.as.uid, bins.as.gid);
  const port = await freePort();
  try {
    await exec('initdb', ['-D', data, '-U', 'rmagent', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    const settings = [
      `-p ${port}`,
      "-c listen_addresses=127.0.0.1",
      `-c unix_socket_directories=${dir}`,
      '-c max_connections=200',
      ...(options.durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
    ].join(' ');
    await exec('pg_ctl', ['-D', data, '-l', path.join(dir, 'server.log'), '-o', settings, '-w', '-t', '30', 'start']);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const adminUrl = `postgres://rmagent@127.0.0.1:${port}/postgres`;
  return {
    port,
    async createDatabase(name = `rmagent_test_${process.pid}_${++databases}`) {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://rmagent@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      await exec('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '30', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
