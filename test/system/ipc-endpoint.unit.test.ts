import { describe, expect, it } from 'vitest';
import { endpointTakenReason, isPipePath, parseEndpointRecord, planClientEndpoint, planServerEndpoint } from '../../src/system/ipc-endpoint.js';

const HEX = '0123456789abcdef0123456789abcdef';
const PIPE = `\\\\.\\pipe\\rmagent-${HEX}`;
const RECORD = 'C:\\ProgramData\\rmagent\\state\\ipc-endpoint.json';
const alive = () => true;
const dead = () => false;

describe('Windows IPC endpoint naming', () => {
  it('listens on a fresh random pipe name recorded in the state folder; an explicit pipe or a Unix socket is used as given', () => {
    expect(planServerEndpoint(RECORD, 'win32', HEX)).toEqual({ listen: PIPE, recordFile: RECORD });
    expect(planServerEndpoint('\\\\.\\pipe\\custom', 'win32', HEX)).toEqual({ listen: '\\\\.\\pipe\\custom', recordFile: null });
    expect(planServerEndpoint('/var/lib/rmagent/rmagent.sock', 'linux', HEX)).toEqual({ listen: '/var/lib/rmagent/rmagent.sock', recordFile: null });
    expect(isPipePath('\\\\?\\pipe\\x')).toBe(true);
    expect(isPipePath('\\\\server\\pipe\\x')).toBe(false);
  });

  it('a client connects only to a well-formed local rmagent pipe whose recorded daemon is alive', () => {
    const ok = { status: 'ok' as const, text: JSON.stringify({ pipe: PIPE, pid: 4242 }) };
    expect(planClientEndpoint(RECORD, 'win32', ok, alive)).toEqual({ connect: PIPE });
    // A stale record (the agent crashed): someone who listed \\.\pipe\ earlier may be squatting that name now.
    expect(planClientEndpoint(RECORD, 'win32', ok, dead)).toMatchObject({ fail: 'not-running' });
    expect(planClientEndpoint(RECORD, 'win32', { status: 'missing' }, alive)).toMatchObject({ fail: 'not-running' });
    expect(planClientEndpoint(RECORD, 'win32', { status: 'denied' }, alive)).toMatchObject({ fail: 'denied' });
    expect(planClientEndpoint('\\\\.\\pipe\\custom', 'win32', null, dead)).toEqual({ connect: '\\\\.\\pipe\\custom' });
  });

  it('refuses a record naming anything else: a remote pipe (NTLM to another host), another pipe, a file, no pid', () => {
    for (const pipe of [`\\\\evil.example\\pipe\\rmagent-${HEX}`, '\\\\.\\pipe\\rmagent', `\\\\.\\pipe\\other-${HEX}`, `\\\\.\\pipe\\rmagent-${HEX}\\..\\x`, 'C:\\x.sock', `${PIPE} `]) {
      expect(parseEndpointRecord(JSON.stringify({ pipe, pid: 1 })), pipe).toBeNull();
      expect(planClientEndpoint(RECORD, 'win32', { status: 'ok', text: JSON.stringify({ pipe, pid: 1 }) }, alive), pipe).toMatchObject({ fail: 'invalid' });
    }
    for (const text of ['', 'null', '[]', JSON.stringify({ pipe: PIPE }), JSON.stringify({ pipe: PIPE, pid: -1 }), JSON.stringify({ pipe: PIPE, pid: 1.5 })]) expect(parseEndpointRecord(text), text).toBeNull();
  });

  it('a name another process holds is a reason to refuse to start', () => {
    expect(endpointTakenReason('EADDRINUSE', PIPE)).toMatch(/already in use/);
    expect(endpointTakenReason('EACCES', PIPE)).toMatch(/belongs to another process/);
    expect(endpointTakenReason('EACCES', '/var/lib/rmagent/rmagent.sock')).toBeNull();
    expect(endpointTakenReason('ENOENT', PIPE)).toBeNull();
  });
});
