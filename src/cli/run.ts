// `rmagent run`: the daemon in the foreground (systemd, launchd and the Windows SCM start this).
import { createAgent } from '../agent/agent.js';
import { chooseLogTarget, createLogger } from '../log.js';
import { createEventLogTransport } from '../system/event-log.js';
import { createCommandRunner } from '../system/exec.js';
import { systemClock } from '../system/clock.js';
import { requestLocal } from '../system/local-socket.js';
import { RmError } from '../protocol/errors.js';
import { commonFlagsSchema, configFromFlags, parseFlags, type CliIO } from './options.js';

const SHUTDOWN_BUDGET_MS = 10_000;

export default async function runCommand(argv: string[], io: CliIO): Promise<number> {
  const flags = parseFlags(argv, {}, commonFlagsSchema());
  const { config, ipcPath } = configFromFlags(flags, io);
  // A second daemon on the same state would fight the first over the outbox and the state files: refuse before
  // opening anything (exit 4, README "Exit codes"). serveLocal() refuses too, for two starting at the same moment.
  if ((await requestLocal(ipcPath, { method: 'status' }, 2_000)).ok) throw new RmError('AGENT_ALREADY_RUNNING', `its local endpoint ${ipcPath} answers`);
  const runner = createCommandRunner(config.teamviewer.path ? { path: config.teamviewer.path } : {});
  const target = chooseLogTarget(io.env);
  // The Windows service (RMAGENT_LOG_TARGET=file in its XML) also sends warnings and errors to the Event Log.
  const extra = process.platform === 'win32' && target === 'file' ? [createEventLogTransport(createCommandRunner())] : [];
  const logger = createLogger({ level: config.logLevel, logDir: config.logDir, target, extra });
  const agent = createAgent({ config, logger, runner, clock: systemClock, ipcPath });
  // One JSON line per milestone on stdout (the service manager's journal; benchmarks wait for them).
  void agent.connected.then(() => io.out(JSON.stringify({ event: 'connected', pid: process.pid })));
  // Handlers first: a stop asked for while starting (e.g. waiting for the first contact) is a clean stop too.
  const signalled = new Promise<{ signal: NodeJS.Signals }>((resolve) => {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, () => resolve({ signal: s }));
  });
  // Two starting at the same moment: the loser's serveLocal() refuses with IPC_ENDPOINT_TAKEN (also exit 4).
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
