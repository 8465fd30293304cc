// `rmagent backup-job --job FILE`: runs one Backup job the agent prepared (services/backup/job.ts) and exits.
// The agent starts it (under systemd as a transient unit with its own memory bound); it is not meant for hand use.
import { parseArgs } from 'node:util';
import { RmError } from '../protocol/errors.js';
import { runJobFile } from '../services/backup/job.js';
import { EXIT } from './exit-codes.js';
import type { CliIO } from './options.js';

export const USAGE = 'usage: rmagent backup-job --job FILE\n  runs one backup or restore job the agent prepared in its state folder, writes result.json next to FILE; started by the agent.';

export default async function backupJob(argv: string[], io: CliIO): Promise<number> {
  let job: string | undefined;
  try {
    job = parseArgs({ args: argv, options: { job: { type: 'string' } }, strict: true }).values.job;
  } catch (err) {
    throw new RmError('CLI_USAGE', (err as Error).message);
  }
  if (!job) throw new RmError('CLI_USAGE', '--job FILE is required');
  const result = await runJobFile(job);
  io.out(JSON.stringify({ kind: result.kind, ...(result.kind === 'error' ? { code: result.code } : {}), peakRssBytes: result.peakRssBytes }));
  return result.kind === 'error' ? EXIT.FAILED : EXIT.OK;
}
