// What the service manager said about a system service, read apart from whether it could say anything: a
// manager that is not running (no systemd as PID 1), missing or refusing is "cannot check", never "not active".
// Pure: the commands and their answers are the edge's (service.ts runs them through the command runner).
import type { CheckProblemCode } from './unavailable.js';

export type ServiceAnswer =
  | { kind: 'active' }
  | { kind: 'inactive'; state: string }
  | { kind: 'unavailable'; code: CheckProblemCode; reason: string };

export interface ManagerResult {
  code: number | null;
  stdout: string;
  stderr: string;
  error?: string;
}

/** The command that asks the platform's service manager; `--` ends the options wherever an operand could look like one. */
export function serviceQuery(platform: string, name: string): { command: string; args: string[] } {
  if (platform === 'win32') return { command: 'sc', args: ['query', name] };
  if (platform === 'darwin') return { command: 'launchctl', args: ['print', `system/${name}`] };
  return { command: 'systemctl', args: ['show', '--property=LoadState,ActiveState,SubState', '--', name] };
}

const firstLine = (text: string) => text.trim().split('\n')[0]?.trim().slice(0, 300) ?? '';

/** The manager could not be asked at all: missing command, timeout. */
function notRun(command: string, r: ManagerResult): ServiceAnswer | null {
  if (!r.error) return null;
  if (r.error === 'TIMEOUT') return { kind: 'unavailable', code: 'CHECK_TIMED_OUT', reason: `${command} did not answer in time` };
  if (r.error === 'ENOENT') return { kind: 'unavailable', code: 'CHECK_SOURCE_UNAVAILABLE', reason: `${command} is not installed: this device has no service manager the check can ask` };
  if (r.error === 'EACCES' || r.error === 'EPERM') return { kind: 'unavailable', code: 'CHECK_ACCESS_DENIED', reason: `${command} may not be run (${r.error})` };
  return { kind: 'unavailable', code: 'CHECK_SOURCE_UNAVAILABLE', reason: `${command} could not run (${r.error})` };
}

const refused = (command: string, r: ManagerResult): ServiceAnswer => {
  const said = firstLine(r.stderr) || firstLine(r.stdout) || `exit code ${r.code}`;
  const code: CheckProblemCode = /access denied|permission denied|not permitted|interactive authentication/i.test(said) ? 'CHECK_ACCESS_DENIED' : 'CHECK_SOURCE_UNAVAILABLE';
  return { kind: 'unavailable', code, reason: `${command} cannot answer: ${said}` };
};

/** `systemctl show --property=LoadState,ActiveState,SubState -- NAME`. */
export function readSystemctlShow(r: ManagerResult): ServiceAnswer {
  const failed = notRun('systemctl', r);
  if (failed) return failed;
  const props = new Map(r.stdout.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()] as const));
  const load = props.get('LoadState');
  const active = props.get('ActiveState');
  // Without systemd as PID 1 systemctl prints nothing on stdout and exits 1 ("System has not been booted with systemd").
  if (r.code !== 0 || !load || !active) return refused('systemctl', r);
  if (load === 'not-found') return { kind: 'inactive', state: 'not installed: systemd has no such unit' };
  if (active === 'active' || active === 'reloading' || active === 'refreshing') return { kind: 'active' };
  const sub = props.get('SubState');
  return { kind: 'inactive', state: [active, sub && sub !== active ? sub : '', load === 'masked' ? 'masked' : ''].filter(Boolean).join(', ') };
}

/** `launchctl print system/NAME`: exit 113 = no such service loaded. */
export function readLaunchctlPrint(r: ManagerResult): ServiceAnswer {
  const failed = notRun('launchctl', r);
  if (failed) return failed;
  if (r.code === 113) return { kind: 'inactive', state: 'not loaded' };
  if (r.code !== 0) return refused('launchctl', r);
  const state = /^\s*state = (.+)$/m.exec(r.stdout)?.[1]?.trim() ?? 'unknown';
  return state === 'running' ? { kind: 'active' } : { kind: 'inactive', state };
}

/** `sc query NAME`: STATE line, or FAILED 1060 (no such service) / 5 (access denied). */
export function readScQuery(r: ManagerResult): ServiceAnswer {
  const failed = notRun('sc', r);
  if (failed) return failed;
  const text = `${r.stdout}\n${r.stderr}`;
  const state = /STATE\s*:\s*\d+\s+(\w+)/i.exec(text)?.[1];
  if (state) return state.toUpperCase() === 'RUNNING' ? { kind: 'active' } : { kind: 'inactive', state: state.toLowerCase() };
  if (/FAILED 1060\b/.test(text)) return { kind: 'inactive', state: 'not installed' };
  if (/FAILED 5\b/.test(text)) return { kind: 'unavailable', code: 'CHECK_ACCESS_DENIED', reason: 'sc query: access denied' };
  return refused('sc', r);
}

export function readServiceAnswer(platform: string, r: ManagerResult): ServiceAnswer {
  if (platform === 'win32') return readScQuery(r);
  if (platform === 'darwin') return readLaunchctlPrint(r);
  return readSystemctlShow(r);
}
