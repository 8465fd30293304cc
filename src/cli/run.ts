// `rmagent run`: the daemon in the foreground (systemd, launchd and the Windows SCM start this).
import { createAgent } from '../agent/agent.js';
import { createLogger } from '../log.js';
import { createCommandRunner } from '../system/exec.js';
import { systemClock } from '../system/clock.js';
import { commonFlagsSchema, configFromFlags, parseFlags, type CliIO } from './options.js';

const SHUTDOWN_BUDGET_MS = 10_000;

export default async function runCommand(argv: string[], io: CliIO): Promise<number> {
  const flags = parseFlags(argv, {}, commonFlagsSchema());
  const { config, ipcPath } = configFromFlags(flags, io);
  const logger = createLogger({ level: config.logLevel, logDir: config.logDir });
  const runner = createCommandRunner(config.teamviewer.path ? { path: config.teamviewer.path } : {});
  const agent = createAgent({ config, logger, runner, clock: systemClock, ipcPath });
  // One JSON line per milestone on stdout (the service manager's journal; benchmarks wait for them).
  void agent.connected.then(() => io.out(JSON.stringify({ event: 'connected', pid: process.pid })));
  // Handlers first: a stop asked for while starting (e.g. waiting for the first contact) is a clean stop too.
  const signalled = new Promise<{ signal: NodeJS.Signals }>((resolve) => {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, () => resolve({ signal: s }));
  });
  const early = await Promise.race([agent.start().then(() => null), signalled]);
  if (!early) io.out(JSON.stringify({ event: 'started', pid: process.pid, stateDir: config.stateDir, ipcPath }));
  const why = early ?? (await Promise.race([signalled, agent.exitRequested]));
  logger.info('stopping', why);
  // A hung part must not keep the service manager waiting forever.
  const budget = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), SHUTDOWN_BUDGET_MS).unref());
  const outcome = await Promise.race([agent.stop().then(() => 'stopped' as const), budget]);
  if (outcome === 'timeout') logger.warn('graceful stop exceeded its budget', { budgetMs: SHUTDOWN_BUDGET_MS });
  await new Promise<void>((resolve) => logger.on('finish', resolve).end());
  if ('code' in why) return why.code;
  return outcome === 'stopped' ? 0 : 1;
}
