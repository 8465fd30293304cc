#!/usr/bin/env node
// `rmagent` entry: picks the command, runs it, exits with its code. Commands load lazily to keep start-up short.
import '../protocol/zod-locale.js';
import './zod-jitless.js';
import { processIO, printError, type CliIO } from './options.js';
import { versionInfo } from '../version.js';

type CommandModule = { default: (argv: string[], io: CliIO) => Promise<number> };

const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  run: { summary: 'run the agent daemon (foreground; the service manager starts this)', load: () => import('./run.js') },
  enroll: { summary: 'register this device locally: --server URL --token TOKEN [--server-key KEY] [--assignment-id ID] [--alias NAME] [--force]', load: () => import('./enroll.js') },
  status: { summary: 'show what state the agent is in [--json]; exit 0 healthy, 1 degraded, 2 not running/registered', load: () => import('./status.js') },
  doctor: { summary: 'check each prerequisite and say what to do', load: () => import('./doctor.js') },
  unenroll: { summary: 'forget the registration, keys and state of this device [--yes]', load: () => import('./unenroll.js') },
};

export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'version' || command === '--version' || command === '-v') {
    const v = versionInfo();
    io.out(rest.includes('--json') ? JSON.stringify(v) : `rmagent ${v.version} (commit ${v.commit}) node ${v.runtime} ${v.platform}-${v.arch}${v.singleExecutable ? ' single-executable' : ''}`);
    return 0;
  }
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    io.out('usage: rmagent <command> [options]\n');
    for (const [name, c] of Object.entries(COMMANDS)) io.out(`  ${name.padEnd(9)} ${c.summary}`);
    io.out(`  ${'version'.padEnd(9)} print version, commit and runtime [--json]`);
    io.out('\ncommon options: --config FILE --state-dir DIR --log-dir DIR --log-level LEVEL --ipc-path PATH --teamviewer-root DIR --json');
    return command ? 0 : 64;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    printError(new (await import('../protocol/errors.js')).RmError('CLI_USAGE', `unknown command "${command}"`), io);
    return 64;
  }
  try {
    return await (await entry.load()).default(rest, io);
  } catch (err) {
    printError(err, io, rest.includes('--json'));
    return 3;
  }
}

// `rmagent status | head` closes the pipe early: that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
});

// Once a command has returned, everything it started is stopped and its logs flushed; a handle some part
// forgot (a timer, a socket) must not keep a stopped daemon alive for ever: say what it was, then exit.
const LINGER_MS = 5_000;
function exitWhenDone(code: number): void {
  process.exitCode = code;
  setTimeout(() => {
    process.stderr.write(`rmagent: still alive ${LINGER_MS} ms after finishing, held by ${process.getActiveResourcesInfo().join(', ') || 'nothing'}; exiting\n`);
    process.exit(code);
  }, LINGER_MS).unref();
}

// Only the entry file decides the exit code.
main(process.argv.slice(2)).then(exitWhenDone, (err: unknown) => {
  printError(err, processIO);
  exitWhenDone(3);
});
