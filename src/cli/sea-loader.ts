// Main script of the Linux single executables (installer/sea/build.sh): reads the agent's code from the end of the
// executable file (src/system/code-payload.ts) and runs it as the SEA main script would have run. Kept in the blob,
// 360 KB of code would stay resident twice, as blob pages and as its source string; read with pread it is only the
// string. Imports nothing but Node's built-in modules, so it stays small.
import fs from 'node:fs';
import { readCodePayload, type CodePayload } from '../system/code-payload.js';
import { compileCommonJs, type CommonJsFunction } from '../system/commonjs.js';

/** The agent's code compiled as a CommonJS module, or undefined (and exit code 3) when the executable is damaged. */
function compileAgent(): CommonJsFunction | undefined {
  let payload: CodePayload;
  try {
    // The running executable itself, even if a package upgrade has replaced the file at its path since it started
    // (the path where /proc is not mounted, e.g. in a bare chroot).
    const self = process.platform === 'linux' && fs.existsSync('/proc/self/exe') ? '/proc/self/exe' : process.execPath;
    payload = readCodePayload(self, process.execPath);
  } catch (err) {
    // Same shape as the CLI's errors (src/cli/options.ts printError); code and fix as in src/protocol/errors.ts.
    process.stderr.write(`error EXECUTABLE_DAMAGED: ${(err as Error).message}\n  fix: Reinstall the agent package; do not strip or edit the rmagent executable\n`);
    process.exitCode = 3;
    return undefined;
  }
  // The backup job runs with V8's optimising compilers back on (src/services/backup/job-launcher.ts), under which V8
  // would reject the cache made under the agent's flags: it compiles from scratch without the warning below.
  const cachedData = process.execArgv.includes('--no-lite-mode') ? undefined : payload.cache;
  const run = compileCommonJs(payload.code, { filename: process.execPath, cachedData });
  // As Node says for a SEA's own code cache: the code still runs, only compiled from scratch (slower start, more memory).
  if (cachedData && run.cachedDataRejected) process.stderr.write("rmagent: warning: code cache data rejected (the runtime flags differ from the build's)\n");
  // The buffer read from the file (code and cache, ~450 KB) is not referenced past this point, so it is freed.
  return run;
}

compileAgent()?.call(module.exports, module.exports, require, module, __filename, __dirname);
