#!/usr/bin/env node
// `rmagent-server` entry: `serve` (the management server; also when the first argument is a flag) or a client
// command against its API. Only this file handles signals and sets the exit code: 0 done, 64 usage, 3 the server
// could not start or a call failed (the error's code says why), 1 a stop that took too long.
import '../protocol/zod-locale.js';
import { RmError } from '../protocol/errors.js';
import { versionInfo } from '../version.js';
import { ApiCallError } from './api-client.js';
import { printError, processIO, type CliIO } from './options.js';
import { CLIENT_COMMANDS, CONNECTION_USAGE, findClientCommand, runClientCommand } from './server-client.js';
import serve, { SERVE_USAGE } from './server-serve.js';

function help(io: CliIO): void {
  io.out(`${SERVE_USAGE}\n\nclient commands (the console API from a shell):`);
  for (const c of Object.values(CLIENT_COMMANDS)) io.out(`  rmagent-server ${c.usage}\n      ${c.summary}`);
  io.out(`  ${CONNECTION_USAGE}\n  rmagent-server version [--json]`);
}

async function main(argv: string[], io: CliIO): Promise<number> {
  const [first] = argv;
  if (first === 'version' || first === '--version') {
    const v = versionInfo();
    io.out(argv.includes('--json') ? JSON.stringify(v) : `rmagent-server ${v.version} (commit ${v.commit}) node ${v.runtime} ${v.platform}-${v.arch}`);
    return 0;
  }
  if (!first || first === 'help' || first === '--help' || first === '-h') {
    help(io);
    return first ? 0 : 64;
  }
  if (first === 'serve' || first.startsWith('-')) {
    const stopRequested = new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    return serve(first === 'serve' ? argv.slice(1) : argv, io, stopRequested);
  }
  const found = findClientCommand(argv);
  if (!found) throw new RmError('CLI_USAGE', `unknown command "${argv.slice(0, 2).join(' ')}" (rmagent-server help lists them)`);
  return runClientCommand(found.name, found.rest, io);
}

// `rmagent-server devices list | head` closes the pipe early: that is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
});

const json = process.argv.includes('--json');
main(process.argv.slice(2), processIO).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ApiCallError) {
      if (json) processIO.out(JSON.stringify({ error: { code: err.code, message: err.message, hint: err.hint, status: err.status } }));
      else processIO.err(`error ${err.code}: ${err.message}${err.hint ? `\n  fix: ${err.hint}` : ''}`);
      process.exit(3);
    }
    printError(err, processIO, json, { CLI_USAGE: 'Run `rmagent-server help` for the commands and their options' });
    process.exit(err instanceof RmError && err.code === 'CLI_USAGE' ? 64 : 3);
  },
);
