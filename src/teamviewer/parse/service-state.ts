// Service managers' answers: Windows `sc query NAME` and macOS `launchctl print system/LABEL`.

export type ServiceState = 'running' | 'stopped' | 'absent';

/** `STATE : 4  RUNNING`; exit 1060 / `FAILED 1060` = no such service. Null when the output says nothing. */
export function parseScQuery(exitCode: number | null, output: string): ServiceState | null {
  if (exitCode === 1060 || /FAILED 1060\b/.test(output)) return 'absent';
  const m = /^\s*STATE\s*:\s*(\d+)\s+([A-Z_]+)/m.exec(output);
  if (!m) return null;
  return m[2] === 'RUNNING' ? 'running' : 'stopped';
}

/** `state = running` in the service block; exit 113 / `Could not find service` = not loaded. */
export function parseLaunchctlPrint(exitCode: number | null, output: string): ServiceState | null {
  if (exitCode === 113 || /could not find service/i.test(output)) return 'absent';
  if (exitCode !== 0) return null;
  const m = /^\s*state\s*=\s*(\S+)/m.exec(output);
  if (!m) return null;
  return m[1] === 'running' ? 'running' : 'stopped';
}
