// Where `rmagent enroll` takes the enrollment token from: --token-file FILE, --token-file - (standard input),
// or the RMAGENT_TOKEN environment variable; --token TEXT still works but puts the secret on a command line.
import { RmError } from '../protocol/errors.js';
import { SECRET_MAX_BYTES } from '../system/secret-input.js';

export const TOKEN_ENV = 'RMAGENT_TOKEN';

export type TokenSource = { kind: 'flag'; text: string } | { kind: 'file'; file: string } | { kind: 'env'; text: string } | { kind: 'none' };

/** Which source to use; two explicit ones at once is a usage error (the environment only fills a gap). Pure. */
export function chooseTokenSource(flags: { token?: string | undefined; 'token-file'?: string | undefined }, env: NodeJS.ProcessEnv): TokenSource {
  if (flags.token !== undefined && flags['token-file'] !== undefined) throw new RmError('CLI_USAGE', '--token and --token-file go alone: give the token one way');
  if (flags['token-file'] !== undefined) return { kind: 'file', file: flags['token-file'] };
  if (flags.token !== undefined) return { kind: 'flag', text: flags.token };
  const fromEnv = env[TOKEN_ENV];
  return fromEnv ? { kind: 'env', text: fromEnv } : { kind: 'none' };
}

/** The token in `text`: one line, surrounding blanks and one final newline removed. Pure. */
export function tokenFromText(text: string, origin: string): string {
  if (Buffer.byteLength(text) > SECRET_MAX_BYTES) throw new RmError('ENROLLMENT_TOKEN_INVALID', `${origin} holds more than ${SECRET_MAX_BYTES} bytes`);
  const token = text.replace(/^\uFEFF/, '').trim();
  if (!token) throw new RmError('ENROLLMENT_TOKEN_INVALID', `${origin} is empty`);
  if (/[\r\n]/.test(token)) throw new RmError('ENROLLMENT_TOKEN_INVALID', `${origin} holds more than one line`);
  if ([...token].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) throw new RmError('ENROLLMENT_TOKEN_INVALID', `${origin} holds control characters`);
  return token;
}
