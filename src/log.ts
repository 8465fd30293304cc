// Structured logs (winston): JSON lines to a size-rotated file, readable lines to the console.
// Secrets never reach a transport: a format redacts them by key name and by shape first.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import winston from 'winston';

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

export interface LoggerOptions {
  level?: string;
  /** Folder for rotated JSON log files; none = console only. */
  logDir?: string;
  fileName?: string;
  console?: boolean;
  /** Bytes per file before rotation, and how many files to keep. */
  maxSize?: number;
  maxFiles?: number;
}

export function createLogger(options: LoggerOptions): Logger {
  const transports: winston.transport[] = [];
  if (options.logDir) {
    // Logs name devices, paths and servers: a folder the agent creates is 0700 and its files 0600 (winston alone
    // would make them 0755/0644). An existing folder keeps the mode its installer gave it.
    mkdirSync(options.logDir, { recursive: true, mode: 0o700 });
    transports.push(
      new winston.transports.File({
        filename: path.join(options.logDir, options.fileName ?? 'rmagent.log'),
        options: { flags: 'a', mode: 0o600 },
        maxsize: options.maxSize ?? 5 * 1024 * 1024,
        maxFiles: options.maxFiles ?? 5,
        tailable: true,
        format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
      }),
    );
  }
  if (options.console ?? true) {
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

/** A logger that drops everything, for tests and one-shot CLI commands that print their own output. */
export function silentLogger(): Logger {
  return winston.createLogger({ transports: [new winston.transports.Console({ silent: true })] });
}
