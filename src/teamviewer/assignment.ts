// Makes this device a managed device with TeamViewer's own command, run on the device itself:
// `assignment --id ID [--device-alias=ALIAS] [--retries=N]`. Exit codes are TeamViewer's (TeamViewerPS).
import type { ErrorCode } from '../protocol/errors.js';
import { COMMAND_TIMEOUT_MS, commandMissing, underRoot, windowsPathUnderRoot, type TeamViewerContext } from './context.js';
import { detectTeamViewer } from './detect.js';

export interface AssignmentResult {
  ok: boolean;
  exitCode: number | null;
  code?: ErrorCode;
  message: string;
}

const EXITS: Record<number, { code?: ErrorCode; message: string }> = {
  0: { message: 'the device is now assigned to the company' },
  1: { code: 'ASSIGNMENT_FAILED', message: 'TeamViewer did not understand the assignment command (TeamViewer may be too old)' },
  2: { code: 'ASSIGNMENT_FAILED', message: 'TeamViewer reported a signature verification error (reinstall TeamViewer)' },
  3: { code: 'TEAMVIEWER_MISSING', message: 'TeamViewer reported that it is not installed' },
  4: { code: 'ASSIGNMENT_FAILED', message: 'the configuration could not be verified with the TeamViewer cloud' },
  400: { code: 'ASSIGNMENT_ID_INVALID', message: 'TeamViewer rejected the assignment ID' },
  401: { code: 'TEAMVIEWER_NOT_RUNNING', message: 'the TeamViewer service is not running' },
  402: { code: 'ASSIGNMENT_FAILED', message: 'the TeamViewer service version is incompatible (update TeamViewer)' },
  403: { code: 'ASSIGNMENT_FAILED', message: 'no internet connection to the TeamViewer cloud' },
  404: { code: 'ASSIGNMENT_FAILED', message: 'another assignment is already running' },
  405: { code: 'ASSIGNMENT_FAILED', message: 'the assignment timed out' },
  406: { code: 'ASSIGNMENT_FAILED', message: 'TeamViewer reported an unknown failure' },
  407: { code: 'ASSIGNMENT_NEEDS_ADMIN', message: 'access denied: the assignment must run as root/Administrator' },
  408: { code: 'ASSIGNMENT_FAILED', message: 'the assignment was denied by a policy' },
};

/** TeamViewer's exit code in plain words. POSIX keeps only 8 bits, so 144..152 is read as 400..408 there. */
export function describeAssignmentExit(exitCode: number | null, platform: TeamViewerContext['platform'] = 'win32'): AssignmentResult {
  if (exitCode === null) return { ok: false, exitCode, code: 'ASSIGNMENT_FAILED', message: 'the assignment command did not finish' };
  const known = platform !== 'win32' && exitCode >= 144 && exitCode <= 152 ? exitCode + 256 : exitCode;
  const entry = EXITS[known];
  if (!entry) return { ok: false, exitCode, code: 'ASSIGNMENT_FAILED', message: `TeamViewer exited with unexpected code ${exitCode}` };
  return { ok: entry.code === undefined, exitCode, ...(entry.code ? { code: entry.code } : {}), message: `${entry.message} (exit ${known})` };
}

/** Assignment IDs look like `0001CoABCh...=`: base64-like, no spaces, never starting with `-` (an option). */
export function isValidAssignmentId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9+/=_-]{7,1023}$/.test(id);
}

export function isValidAlias(alias: string): boolean {
  // eslint-disable-next-line no-control-regex
  return alias.length > 0 && alias.length <= 128 && !/[\x00-\x1f\x7f]/.test(alias);
}

export function assignmentArgs(opts: { assignmentId: string; alias?: string; retries?: number }): string[] {
  const args = ['assignment', '--id', opts.assignmentId];
  if (opts.alias !== undefined) args.push(`--device-alias=${opts.alias}`);
  if (opts.retries !== undefined) args.push(`--retries=${opts.retries}`);
  return args;
}

/** Which executable runs the assignment here; Windows and macOS find it from the detected install. */
async function assignmentExecutable(ctx: TeamViewerContext): Promise<string | null> {
  if (ctx.platform === 'linux') return 'teamviewer';
  const facts = await detectTeamViewer(ctx);
  if (!facts.installed || !facts.installPath) return null;
  if (ctx.platform === 'win32') return windowsPathUnderRoot(ctx.root, `${facts.installPath.replace(/[\\/]+$/, '')}\\TeamViewer.exe`);
  // Unverified: the CLI inside the app bundle accepts `assignment` as on Windows.
  return underRoot(ctx.root, `${facts.installPath}/Contents/MacOS/TeamViewer`);
}

export async function assignDevice(ctx: TeamViewerContext, opts: { assignmentId: string; alias?: string; retries?: number }): Promise<AssignmentResult> {
  if (!isValidAssignmentId(opts.assignmentId)) return { ok: false, exitCode: null, code: 'ASSIGNMENT_ID_INVALID', message: 'the assignment ID has the wrong shape (expected letters, digits and +/=_-)' };
  if (opts.alias !== undefined && !isValidAlias(opts.alias)) return { ok: false, exitCode: null, code: 'ASSIGNMENT_FAILED', message: 'the device alias must be 1-128 printable characters' };
  if (opts.retries !== undefined && (!Number.isInteger(opts.retries) || opts.retries < 0 || opts.retries > 100)) {
    return { ok: false, exitCode: null, code: 'ASSIGNMENT_FAILED', message: 'retries must be a whole number from 0 to 100' };
  }
  const executable = await assignmentExecutable(ctx);
  if (!executable) return { ok: false, exitCode: null, code: 'TEAMVIEWER_MISSING', message: 'TeamViewer is not installed, so the device cannot be assigned' };
  // TeamViewer contacts its cloud and may retry: allow minutes, but never wait forever.
  const timeoutMs = COMMAND_TIMEOUT_MS * 6 * (1 + (opts.retries ?? 0));
  const result = await ctx.runner.run(executable, assignmentArgs(opts), { timeoutMs: Math.min(timeoutMs, 15 * 60_000) });
  if (commandMissing(result)) return { ok: false, exitCode: null, code: 'TEAMVIEWER_MISSING', message: `${executable} was not found` };
  return describeAssignmentExit(result.code, ctx.platform);
}
