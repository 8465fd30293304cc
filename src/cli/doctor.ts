// `rmagent doctor [--json]`: checks each prerequisite and prints what to do. Exit 0 all good, 1 warnings, 2 failures.
import { createCommandRunner } from '../system/exec.js';
import { doctorExitCode, gatherDoctorFacts, judgeDoctor } from '../agent/doctor.js';
import { commonFlagsSchema, configFromFlags, parseFlags, type CliIO } from './options.js';
import { printable } from './printable.js';

const MARK = { pass: '[ ok ]', warn: '[warn]', fail: '[FAIL]', skip: '[ -- ]' } as const;

export default async function doctorCommand(argv: string[], io: CliIO): Promise<number> {
  const flags = parseFlags(argv, {}, commonFlagsSchema());
  const { config, ipcPath } = configFromFlags(flags, io);
  const runner = createCommandRunner(config.teamviewer.path ? { path: config.teamviewer.path } : {});
  const checks = judgeDoctor(await gatherDoctorFacts(config, ipcPath, runner));
  const code = doctorExitCode(checks);
  if (flags.json) {
    io.out(JSON.stringify({ ok: code === 0, checks }, null, 2));
    return code;
  }
  for (const c of checks) {
    // A detail can quote the server or a file: shown, never interpreted by the terminal.
    io.out(`${MARK[c.verdict]} ${c.name}: ${printable(c.detail)}`);
    if (c.fix && c.verdict !== 'pass') io.out(`       fix (${c.code}): ${printable(c.fix)}`);
  }
  io.out(code === 0 ? '\nAll prerequisites are met.' : code === 1 ? '\nWorking, with warnings above.' : '\nSome prerequisites are not met: see the fixes above.');
  return code;
}
