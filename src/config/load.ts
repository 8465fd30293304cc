// Builds the configuration from defaults < config file < RMAGENT_* environment < command-line flags.
import { closeSync, fstatSync, openSync, readFileSync, type Stats } from 'node:fs';
import { configSchema, type Config } from './schema.js';
import { defaultPaths, defaultIpcPath } from './paths.js';
import { RmError } from '../protocol/errors.js';

type Json = Record<string, unknown>;

// Environment variables and the key each sets; values are parsed by the key's type.
const ENV_KEYS: Record<string, { key: string; type: 'string' | 'number' | 'boolean' }> = {
  RMAGENT_STATE_DIR: { key: 'stateDir', type: 'string' },
  RMAGENT_LOG_DIR: { key: 'logDir', type: 'string' },
  RMAGENT_LOG_LEVEL: { key: 'logLevel', type: 'string' },
  RMAGENT_IPC_PATH: { key: 'ipcPath', type: 'string' },
  RMAGENT_MACHINE_ID: { key: 'machineId', type: 'string' },
  RMAGENT_TEAMVIEWER_ROOT: { key: 'teamviewer.root', type: 'string' },
  RMAGENT_TEAMVIEWER_REQUIRED: { key: 'teamviewer.required', type: 'boolean' },
  RMAGENT_TEAMVIEWER_PLATFORM: { key: 'teamviewer.platform', type: 'string' },
  RMAGENT_TEAMVIEWER_PATH: { key: 'teamviewer.path', type: 'string' },
  RMAGENT_DETECT_INTERVAL_SEC: { key: 'teamviewer.detectIntervalSec', type: 'number' },
  RMAGENT_HEARTBEAT_SEC: { key: 'connection.heartbeatSec', type: 'number' },
  RMAGENT_ALLOW_INSECURE: { key: 'connection.allowInsecure', type: 'boolean' },
  RMAGENT_CA_FILE: { key: 'connection.caFile', type: 'string' },
  RMAGENT_PIN_SHA256: { key: 'connection.pinSha256', type: 'string' },
  RMAGENT_BACKOFF_BASE_MS: { key: 'connection.backoffBaseMs', type: 'number' },
  RMAGENT_BACKOFF_MAX_MS: { key: 'connection.backoffMaxMs', type: 'number' },
  RMAGENT_STATUS_INTERVAL_SEC: { key: 'statusIntervalSec', type: 'number' },
};

export const CONFIG_ENV_VARS = Object.keys(ENV_KEYS);

export interface LoadOptions {
  /** Explicit --config; when given, the file must exist. */
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Already-typed overrides from flags, as dotted keys (`teamviewer.root`). */
  flags?: Record<string, unknown>;
  platform?: NodeJS.Platform;
}

export interface LoadedConfig {
  config: Config;
  configFile: string;
  ipcPath: string;
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const platform = options.platform ?? process.platform;
  const defaults = defaultPaths(platform, env);
  const explicit = options.configFile ?? env.RMAGENT_CONFIG;
  const configFile = explicit ?? defaults.configFile;

  const merged: Json = { stateDir: defaults.stateDir, logDir: defaults.logDir };
  const fromFile = readConfigFile(configFile, explicit !== undefined);
  deepMerge(merged, fromFile);
  for (const [name, spec] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    setDotted(merged, spec.key, parseEnvValue(name, raw, spec.type));
  }
  for (const [key, value] of Object.entries(options.flags ?? {})) if (value !== undefined) setDotted(merged, key, value);

  const parsed = configSchema().safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join('.') || '(root)';
    const value = issue.path.length ? getDotted(merged, issue.path.map(String)) : undefined;
    throw new RmError('CONFIG_INVALID', `${key}=${shortJson(value)}: ${issue.message}`, { key, issues: parsed.error.issues.length });
  }
  const config = parsed.data;
  return { config, configFile, ipcPath: config.ipcPath ?? defaultIpcPath(config.stateDir, platform) };
}

// A hostile value may be huge or nested past the stack (JSON.stringify throws RangeError): show only its start.
function shortJson(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? 'undefined';
  } catch {
    text = Array.isArray(value) ? '[...]' : '{...}';
  }
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

function readConfigFile(file: string, mustExist: boolean): Json {
  let text: string;
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    // The file decides what the agent runs as root (teamviewer.path is searched first for every command) and where
    // it keeps its keys: a file another account can change is refused, judged on the very file read (no race).
    const unsafe = configOwnerProblem(fstatSync(fd), process.geteuid?.());
    if (unsafe) throw new RmError('CONFIG_UNSAFE', `${file.slice(0, 300)} ${unsafe}`);
    text = readFileSync(fd, 'utf8');
  } catch (err) {
    if (err instanceof RmError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !mustExist) return {};
    // The message repeats the path, which may be as long as the environment allows: keep it short.
    throw new RmError('CONFIG_UNREADABLE', `${file.slice(0, 300)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message.slice(0, 300)}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new RmError('CONFIG_UNREADABLE', `${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new RmError('CONFIG_UNREADABLE', `${file} must hold a JSON object`);
  return value as Json;
}

/**
 * Why a config file may not be trusted by an agent running as `euid`, or null: it must belong to root or to the
 * agent's own account and be writable by nobody else (group write only for group root). POSIX only: on Windows
 * the MSI's DACLs lock the file (Node cannot read ACLs). Pure.
 */
export function configOwnerProblem(st: Pick<Stats, 'uid' | 'gid' | 'mode'>, euid: number | undefined): string | null {
  if (euid === undefined) return null;
  if (st.uid !== 0 && st.uid !== euid) return `belongs to uid ${st.uid}, not to root or the agent's account`;
  if (st.mode & 0o002) return 'can be written by every account';
  if (st.mode & 0o020 && st.gid !== 0) return `can be written by group ${st.gid}`;
  return null;
}

function parseEnvValue(name: string, raw: string, type: 'string' | 'number' | 'boolean'): unknown {
  if (type === 'string') return raw;
  if (type === 'number') {
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new RmError('CONFIG_INVALID', `${name}=${shortJson(raw)}: expected a number`);
    return n;
  }
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new RmError('CONFIG_INVALID', `${name}=${shortJson(raw)}: expected true or false`);
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function deepMerge(target: Json, source: Json): void {
  for (const [k, v] of Object.entries(source)) {
    if (FORBIDDEN_KEYS.has(k)) continue;
    const current = target[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && current && typeof current === 'object' && !Array.isArray(current)) {
      deepMerge(current as Json, v as Json);
    } else {
      target[k] = v;
    }
  }
}

function setDotted(target: Json, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (!next || typeof next !== 'object') node[part] = {};
    node = node[part] as Json;
  }
  node[parts[parts.length - 1]!] = value;
}

function getDotted(source: Json, parts: string[]): unknown {
  let node: unknown = source;
  for (const p of parts) node = node && typeof node === 'object' ? (node as Json)[p] : undefined;
  return node;
}
