// Platform default locations (DESIGN.md "On the device"); every one can be overridden.
import path from 'node:path';

export interface PlatformPaths {
  configFile: string;
  stateDir: string;
  logDir: string;
}

export function defaultPaths(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): PlatformPaths {
  if (platform === 'win32') {
    const base = path.win32.join(env.ProgramData ?? 'C:\\ProgramData', 'rmagent');
    return { configFile: path.win32.join(base, 'config.json'), stateDir: path.win32.join(base, 'state'), logDir: path.win32.join(base, 'logs') };
  }
  if (platform === 'darwin') {
    const base = '/Library/Application Support/rmagent';
    return { configFile: `${base}/config.json`, stateDir: `${base}/state`, logDir: '/Library/Logs/rmagent' };
  }
  return { configFile: '/etc/rmagent/config.json', stateDir: '/var/lib/rmagent', logDir: '/var/log/rmagent' };
}

/**
 * The local IPC endpoint: a Unix socket in the state folder; on Windows the file in the state folder where the
 * daemon records the random pipe name it listens on at each start (system/ipc-endpoint.ts).
 */
export function defaultIpcPath(stateDir: string, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return path.win32.join(stateDir, 'ipc-endpoint.json');
  return path.join(stateDir, 'rmagent.sock');
}
