// "Cannot check": a check whose source is missing, unreadable or not what it should be shows a problem with the
// reason and its fix, and raises nothing; a real failure (a service that is down) raises an alert. Pure.
import type { ErrorCode } from '../../protocol/errors.js';

export type CheckProblemCode = Extract<ErrorCode, 'CHECK_SOURCE_MISSING' | 'CHECK_ACCESS_DENIED' | 'CHECK_SOURCE_UNAVAILABLE' | 'CHECK_PATTERN_REFUSED' | 'CHECK_TIMED_OUT'>;

export interface Unavailable {
  code: CheckProblemCode;
  reason: string;
}

const BY_ERRNO: Record<string, CheckProblemCode> = {
  ENOENT: 'CHECK_SOURCE_MISSING',
  ENOTDIR: 'CHECK_SOURCE_MISSING',
  EACCES: 'CHECK_ACCESS_DENIED',
  EPERM: 'CHECK_ACCESS_DENIED',
  ELOOP: 'CHECK_SOURCE_UNAVAILABLE',
  ENOTREG: 'CHECK_SOURCE_UNAVAILABLE',
  ENOSIZE: 'CHECK_SOURCE_UNAVAILABLE',
  ENOPROC: 'CHECK_SOURCE_UNAVAILABLE',
  ETIMEDOUT: 'CHECK_TIMED_OUT',
  EPRIVATE: 'CHECK_SOURCE_UNAVAILABLE',
  UNSAFE_PATH: 'CHECK_SOURCE_UNAVAILABLE',
};

/** An edge's error (a Node errno code, or one of the edge's own: ENOTREG, ENOSIZE, ENOPROC, EPRIVATE, UNSAFE_PATH) as "cannot check"; null = a real fault. */
export function unavailableFrom(err: unknown, subject: string): Unavailable | null {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? BY_ERRNO[e.code] : undefined;
  if (!code) return null;
  const what = e.code === 'ENOENT' || e.code === 'ENOTDIR' ? `${subject} does not exist`
    : e.code === 'EACCES' || e.code === 'EPERM' ? `the agent may not read ${subject}`
    : e.code === 'ELOOP' ? `${subject} is a symbolic link (log checks do not follow links: name the file itself)`
    : e.code === 'EPRIVATE' ? `${subject} is in the agent's own state folder (its keys and registration), which checks never read`
    : e.code === 'UNSAFE_PATH' ? `${String(e.message ?? subject)} (log checks follow folder links only when root or the agent's account owns them and their folder)`
    : String(e.message ?? e.code);
  return { code, reason: what };
}
