// Structured logs (winston) to the platform's place for them (chooseLogTarget): the journal, a size-rotated file,
// the Event Log, a terminal.
// Secrets never reach a transport: a format redacts them by key name and by shape first.
import { constants as fsc, lstatSync, mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import winston from 'winston';
import { RmError } from './protocol/errors.js';

export type Logger = winston.Logger;

const SECRET_KEYS = /token|secret|password|passwd|privatekey|private_key|authorization|apikey|api_key|^key$|signature|^sig$|nonce/i;
// Shapes that are secret whatever key they sit under: PEM blocks and bearer headers.
const SECRET_SHAPES: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, '[redacted private key]'],
  [/Bearer\s+[A-Za-z0-9._~+/=-]+/gi, 'Bearer [redacted]'],
  [/(token|secret|password)=([^\s&]+)/gi, '$1=[redacted]'],
  // A frame or body logged as JSON text ("enrollmentToken":"..."), and the same text JSON-encoded once more.
  [/("[A-Za-z_]*(?:token|secret|password|passwd|privatekey|private_key|apikey|api_key|authorization)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi, '$1"[redacted]"'],
  [/(\\"[A-Za-z_]*(?:token|secret|password|passwd|privatekey|private_key|apikey|api_key|authorization)\\"\s*:\s*)\\"(?:\\\\\\"|[^"\\]|\\[^"])*\\"/gi, '$1\\"[redacted]\\"'],
];

export function redactText(text: string): string {
  let out = text;
  for (const [re, replacement] of SECRET_SHAPES) out = out.replace(re, replacement);
  return out;
}

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[truncated]';
  if (typeof value === 'string') return redactText(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value && typeof value === 'object') {
    if (value instanceof Error) return { name: value.name, message: redactText(value.message) };
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEYS.test(k) ? '[redacted]' : redact(v, depth + 1);
    return out;
  }
  return value;
}

const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key === 'level') continue;
    (info as Record<string, unknown>)[key] = SECRET_KEYS.test(key) ? '[redacted]' : redact(info[key]);
  }
  return info;
});

/**
 * Where log lines go, following the platform (docs/deployment.md "Logs"):
 * - journald: under systemd, lines on stderr with a `<N>` syslog priority prefix (SyslogLevelPrefix), no file:
 *   the journal stores, rotates and filters them (`journalctl -u rmagent -p warning`). Node has no AF_UNIX
 *   datagram socket for journald's native protocol, so the stream protocol is used: PRIORITY, MESSAGE and the
 *   fields journald adds itself (_SYSTEMD_UNIT, SYSLOG_IDENTIFIER, _PID...) survive; our own fields stay JSON
 *   inside MESSAGE.
 * - file: the size-rotated JSON file only (launchd on macOS, the Windows service), nothing on stderr that a
 *   service manager would keep unrotated or twice; on Windows warnings and errors also reach the Event Log.
 * - console: a person in a terminal, or a service manager we do not know: the file (when a folder is given)
 *   and readable lines on stderr.
 */
export type LogTarget = 'journald' | 'file' | 'console';

const LOG_TARGETS: readonly LogTarget[] = ['journald', 'file', 'console'];

/** The target from RMAGENT_LOG_TARGET (set by our unit, plist and service XML), else journald when systemd
 * connected stderr to the journal (JOURNAL_STREAM), else console. Pure. */
export function chooseLogTarget(env: NodeJS.ProcessEnv): LogTarget {
  const asked = env.RMAGENT_LOG_TARGET;
  if (asked && (LOG_TARGETS as readonly string[]).includes(asked)) return asked as LogTarget;
  return env.JOURNAL_STREAM ? 'journald' : 'console';
}

// RFC 5424 severities, as journald's SyslogLevelPrefix reads them.
const SYSLOG_PRIORITY: Record<string, number> = { error: 3, warn: 4, info: 6, debug: 7 };

/** One journal line: `<priority>message {fields}` on a single line (a newline would start a new entry). Pure. */
export function journalLine(level: string, message: string, fields: Record<string, unknown>): string {
  const extra = Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : '';
  return `<${SYSLOG_PRIORITY[level] ?? 6}>${`${message}${extra}`.replace(/[\r\n]+/g, ' ')}`;
}

export interface LoggerOptions {
  level?: string;
  /** Folder for rotated JSON log files; none = no file. */
  logDir?: string;
  fileName?: string;
  /** Where lines go (chooseLogTarget); default console (a file too when logDir is set). */
  target?: LogTarget;
  /** false: no stderr lines whatever the target (tests, tools that print their own output). */
  console?: boolean;
  /** Extra transports for the platform (e.g. the Windows Event Log, system/event-log.ts). */
  extra?: winston.transport[];
  /** Bytes per file before rotation, and how many files to keep. */
  maxSize?: number;
  maxFiles?: number;
}

export function createLogger(options: LoggerOptions): Logger {
  const target = options.target ?? (options.console === false ? 'file' : 'console');
  const transports: winston.transport[] = [];
  if (options.logDir && target !== 'journald') {
    // Logs name devices, paths and servers: a folder the agent creates is 0700 and its files 0600 (winston alone
    // would make them 0755/0644). An existing folder keeps the mode its installer gave it.
    mkdirSync(options.logDir, { recursive: true, mode: 0o700 });
    // The agent writes here as root: in a folder another account can change, that account could plant a link at
    // rmagent.log (root would append to any file) or its own file (and read the logs). Such a folder is refused.
    const unsafe = logFolderProblem(options.logDir);
    if (unsafe) throw new RmError('LOG_DIR_UNSAFE', unsafe);
    transports.push(
      new winston.transports.File({
        filename: path.join(options.logDir, options.fileName ?? 'rmagent.log'),
        // O_NOFOLLOW as well: a link at the name is never written through, whoever made it.
        options: { flags: fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT | (fsc.O_NOFOLLOW ?? 0), mode: 0o600 },
        maxsize: options.maxSize ?? 5 * 1024 * 1024,
        maxFiles: options.maxFiles ?? 5,
        tailable: true,
        format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
      }),
    );
  }
  if (options.console === false) {
    // nothing on stderr
  } else if (target === 'journald') {
    transports.push(
      new winston.transports.Console({
        stderrLevels: ['error', 'warn', 'info', 'debug'],
        // The journal stamps each entry itself.
        format: winston.format.printf(({ level, message, ...rest }) => journalLine(level, String(message), rest)),
      }),
    );
  } else if (target === 'console') {
    transports.push(
      new winston.transports.Console({
        stderrLevels: ['error', 'warn', 'info', 'debug'],
        format: winston.format.combine(
          winston.format.timestamp(),
          winston.format.printf(({ timestamp, level, message, ...rest }) => {
            const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
            return `${String(timestamp)} ${level} ${String(message)}${extra}`;
          }),
        ),
      }),
    );
  }
  transports.push(...(options.extra ?? []));
  const logger = winston.createLogger({
    level: options.level ?? 'info',
    format: redactFormat(),
    transports: transports.length ? transports : [new winston.transports.Console({ silent: true })],
  });
  // A transport error (disk full, "write after end" when end() meets a rotation) is re-emitted on the logger;
  // unhandled, it would crash the agent. Losing a log line is better than losing the agent.
  logger.on('error', (err: Error) => process.stderr.write(`rmagent: log transport error: ${redactText(err.message)}\n`));
  return logger;
}

/**
 * Why `dir` is not the agent's alone, or null: no link of another account on the path as given; the real folder
 * belongs to the agent's account and nobody else can write it (group write for group root only); every folder
 * above belongs to root or the agent's account and is writable by every account only when sticky (like /tmp).
 * Group write above is accepted: Ubuntu's /var/log is root:syslog 0775, macOS's /Library/Logs root:admin 0775.
 * POSIX only: on Windows the installer's DACLs protect the log folder (Node cannot read ACLs).
 */
export function logFolderProblem(dir: string, euid: number | undefined = process.geteuid?.()): string | null {
  if (euid === undefined) return null;
  const trusted = (uid: number) => uid === 0 || uid === euid;
  const prefixes = (p: string) => {
    const out: string[] = [];
    for (let cur = p; ; cur = path.dirname(cur)) {
      out.unshift(cur);
      if (path.dirname(cur) === cur) return out;
    }
  };
  // The path as given (its links included), then the real folder it names.
  const real = realpathSync(dir);
  for (const p of [...prefixes(path.resolve(dir)), ...prefixes(real)]) {
    const st = lstatSync(p);
    const target = p === real;
    if (target ? st.uid !== euid : !trusted(st.uid)) return `${p} belongs to uid ${st.uid}`;
    if (st.isSymbolicLink()) continue; // a link's own mode means nothing; the folder holding it was checked
    if (st.mode & 0o002 && !(!target && st.mode & 0o1000)) return `${p} can be written by every account`;
    if (target && st.mode & 0o020 && st.gid !== 0) return `${p} can be written by group ${st.gid}`;
  }
  return null;
}

/** A logger that drops everything, for tests and one-shot CLI commands that print their own output. */
export function silentLogger(): Logger {
  return winston.createLogger({ transports: [new winston.transports.Console({ silent: true })] });
}
