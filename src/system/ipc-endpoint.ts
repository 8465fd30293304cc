// Where the local IPC endpoint lives, decided as plain data (local-socket.ts carries it out).
// Unix: a socket in the agent's private state folder (0600), as configured.
// Windows: Node cannot give a named pipe a DACL, and pipe names are public (any user can list \\.\pipe\). The
// default pipe DACL lets LocalSystem, Administrators and the creator owner do anything and Everyone and Anonymous
// read. So the daemon listens on a fresh random name at every start (\\.\pipe\rmagent-<128 bits>), and only once
// it owns that pipe (libuv creates the first instance with FILE_FLAG_FIRST_PIPE_INSTANCE: a name somebody else
// already holds fails with EADDRINUSE/EACCES and the agent refuses to start) does it record the name and its pid
// in the state folder (readable by SYSTEM and Administrators only). Clients read that record and connect only to
// a well-formed local rmagent pipe whose recorded daemon is alive: a user cannot squat a name before it is
// chosen, nor answer an administrator's `rmagent status` in the agent's place through a name from a stale record.

export const PIPE_PREFIX = '\\\\.\\pipe\\';
const RECORDED_PIPE = /^\\\\\.\\pipe\\rmagent-[0-9a-f]{32}$/;

/** A Windows pipe path given explicitly (`--ipc-path \\.\pipe\name`), as opposed to the record file. */
export const isPipePath = (p: string): boolean => /^\\\\[.?]\\pipe\\/i.test(p);

export interface ServerEndpoint {
  /** What to listen on. */
  listen: string;
  /** Where to record `listen` once listening (Windows default only). */
  recordFile: string | null;
}

/** `ipcPath` is what configuration gives (on Windows by default the record file in the state folder). Pure. */
export function planServerEndpoint(ipcPath: string, platform: NodeJS.Platform, randomHex: string, pipePrefix = PIPE_PREFIX): ServerEndpoint {
  if (platform !== 'win32' || isPipePath(ipcPath)) return { listen: ipcPath, recordFile: null };
  return { listen: `${pipePrefix}rmagent-${randomHex}`, recordFile: ipcPath };
}

export interface EndpointRecord {
  pipe: string;
  pid: number;
}

/** The record's content, or null for anything but a local rmagent pipe name and a pid (never a remote \\host\pipe). Pure. */
export function parseEndpointRecord(text: string, pipePrefix = PIPE_PREFIX): EndpointRecord | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (!raw || typeof raw !== 'object') return null;
  const { pipe, pid } = raw as { pipe?: unknown; pid?: unknown };
  if (typeof pipe !== 'string' || !Number.isSafeInteger(pid) || (pid as number) <= 0) return null;
  const wellFormed = pipePrefix === PIPE_PREFIX ? RECORDED_PIPE.test(pipe) : pipe.startsWith(pipePrefix) && /^rmagent-[0-9a-f]{32}$/.test(pipe.slice(pipePrefix.length));
  return wellFormed ? { pipe, pid: pid as number } : null;
}

export type RecordRead = { status: 'ok'; text: string } | { status: 'missing' } | { status: 'denied' };
export type ClientEndpoint = { connect: string } | { fail: 'not-running' | 'denied' | 'invalid'; message: string };

/** What a client connects to, given the record it could read and whether a pid is alive. Pure. */
export function planClientEndpoint(ipcPath: string, platform: NodeJS.Platform, record: RecordRead | null, alive: (pid: number) => boolean, pipePrefix = PIPE_PREFIX): ClientEndpoint {
  if (platform !== 'win32' || isPipePath(ipcPath)) return { connect: ipcPath };
  if (!record || record.status === 'missing') return { fail: 'not-running', message: `${ipcPath}: no agent endpoint recorded` };
  if (record.status === 'denied') return { fail: 'denied', message: `${ipcPath}: access denied (run as administrator)` };
  const parsed = parseEndpointRecord(record.text, pipePrefix);
  if (!parsed) return { fail: 'invalid', message: `${ipcPath}: the recorded endpoint is not an rmagent pipe` };
  if (!alive(parsed.pid)) return { fail: 'not-running', message: `${ipcPath}: the agent that recorded ${parsed.pipe} (pid ${parsed.pid}) is not running` };
  return { connect: parsed.pipe };
}

/** The clear reason to refuse to start when listening failed because the endpoint is somebody else's, else null. Pure. */
export function endpointTakenReason(code: string | undefined, listen: string): string | null {
  if (code === 'EADDRINUSE') return `${listen} is already in use by another process (another agent, or a process squatting the name)`;
  if (code === 'EACCES' && isPipePath(listen)) return `${listen} exists and belongs to another process`;
  return null;
}
