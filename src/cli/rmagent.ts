#!/usr/bin/env node
// `rmagent` entry: picks the command, runs it, exits with its code (the contract: ./exit-codes.ts, README "Exit codes").
// Commands load lazily to keep start-up short; `--help` is answered here, so it never loads or starts anything.
import '../protocol/zod-locale.js';
import './zod-jitless.js';
import { processIO, printError, type CliIO } from './options.js';
import { versionInfo } from '../version.js';
import { EXIT } from './exit-codes.js';

type CommandModule = { default: (argv: string[], io: CliIO) => Promise<number> };

const COMMON = 'common options: --config FILE --state-dir DIR --log-dir DIR --log-level LEVEL --ipc-path PATH --teamviewer-root DIR --json';
const EXITS = 'exit: 0 ok/healthy, 1 degraded, 2 unhealthy/not running/not registered, 3 failed, 4 already running, 64 usage, 75 run stopped over budget';

const COMMANDS: Record<string, { summary: string; usage: string; load: () => Promise<CommandModule> }> = {
  run: {
    summary: 'run the agent daemon (foreground; the service manager starts this)',
    usage: 'usage: rmagent run [common options]\n  runs the agent daemon in the foreground until SIGTERM/SIGINT; exit 4 when another daemon already serves the state folder.',
    load: () => import('./run.js'),
  },
  enroll: {
    summary: 'register this device locally: --server URL --token-file FILE|- [--server-key KEY] [--assignment-id ID] [--alias NAME] [--force]',
    usage: '',
    load: () => import('./enroll.js'),
  },
  status: {
    summary: 'show what state the agent is in [--json]; exit 0 healthy, 1 degraded, 2 unhealthy, not running or not registered',
    usage: 'usage: rmagent status [--json] [common options]\n  asks the running daemon (or reads its state files); exit 0 healthy, 1 degraded, 2 unhealthy, not running or not registered.',
    load: () => import('./status.js'),
  },
  doctor: {
    summary: 'check each prerequisite and say what to do; exit 0 all good, 1 warnings, 2 failures',
    usage: 'usage: rmagent doctor [--json] [common options]\n  checks each prerequisite and what the running daemon reports; exit 0 all good, 1 warnings, 2 failures.',
    load: () => import('./doctor.js'),
  },
  'backup-job': {
    summary: '(started by the agent) run one prepared backup or restore job: --job FILE',
    usage: '',
    load: () => import('./backup-job.js'),
  },
  facts: {
    summary: 'print this device\'s hardware, OS and network facts as JSON (what a hardware inventory sends)',
    usage: '',
    load: () => import('./facts.js'),
  },
  unenroll: {
    summary: 'stop the services, tell the daemon and the server, forget the registration, keys and state [--yes]',
    usage: '',
    load: () => import('./unenroll.js'),
  },
};

const wantsHelp = (argv: readonly string[]) => argv.some((a) => a === '--help' || a === '-h');

export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'version' || command === '--version' || command === '-v') return version(rest, io);
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    io.out('usage: rmagent <command> [options]   (rmagent <command> --help for one command)\n');
    for (const [name, c] of Object.entries(COMMANDS)) io.out(`  ${name.padEnd(9)} ${c.summary}`);
    io.out(`  ${'version'.padEnd(9)} print version, commit and runtime [--json]`);
    io.out(`\n${COMMON}\n${EXITS}`);
    return command ? EXIT.OK : EXIT.USAGE;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    printError(new (await import('../protocol/errors.js')).RmError('CLI_USAGE', `unknown command "${command}"`), io);
    return EXIT.USAGE;
  }
  if (wantsHelp(rest)) {
    io.out(entry.usage || (await usageOf(command)));
    io.out(COMMON);
    return EXIT.OK;
  }
  try {
    return await (await entry.load()).default(rest, io);
  } catch (err) {
    printError(err, io, rest.includes('--json'));
    const { isRmError } = await import('../protocol/errors.js');
    if (isRmError(err) && err.code === 'CLI_USAGE') return EXIT.USAGE;
    // Another daemon answers on the endpoint, or something else holds it (local-socket.ts): either way, not started.
    if (isRmError(err) && (err.code === 'AGENT_ALREADY_RUNNING' || err.code === 'IPC_ENDPOINT_TAKEN')) return EXIT.ALREADY_RUNNING;
    return EXIT.FAILED;
  }
}

// enroll and unenroll keep their usage next to their flags; loading the module starts nothing.
async function usageOf(command: string): Promise<string> {
  const mod = (await COMMANDS[command]!.load()) as CommandModule & { USAGE?: string };
  return mod.USAGE ?? `usage: rmagent ${command}`;
}

function version(rest: string[], io: CliIO): number {
  const unknown = rest.filter((a) => a !== '--json');
  if (wantsHelp(rest)) {
    io.out('usage: rmagent version [--json]\n  prints the version (package version + build number), commit and runtime.');
    return EXIT.OK;
  }
  if (unknown.length) {
    io.err(`error CLI_USAGE: The command line is not valid: unknown option ${JSON.stringify(unknown[0])}\n  fix: rmagent version [--json]`);
    return EXIT.USAGE;
  }
  const v = versionInfo();
  io.out(rest.includes('--json') ? JSON.stringify(v) : `rmagent ${v.version} (commit ${v.commit}) node ${v.runtime} ${v.platform}-${v.arch}${v.singleExecutable ? ' single-executable' : ''}`);
  return EXIT.OK;
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
  exitWhenDone(EXIT.FAILED);
});
