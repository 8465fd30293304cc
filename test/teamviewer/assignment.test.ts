import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { assignDevice } from '../../src/teamviewer/index.js';
import { openCase, writeStandIn, type OpenedCase } from './fixture.js';

let opened: OpenedCase | undefined;
afterEach(async () => {
  await opened?.cleanup();
  opened = undefined;
});

const ID = '0001CoABChBvbmVhc3NpZ25tZW50aWQSAnRl=';
// A stand-in TeamViewer CLI: records its arguments, then exits with the code the test chose.
const recorder = (argsFile: string, exit: number) => `#!/bin/sh\nprintf '%s\\n' "$@" > '${argsFile}'\nexit ${exit}\n`;

describe('assignDevice', () => {
  it('runs `teamviewer assignment` on Linux with id, alias and retries as separate arguments', async () => {
    opened = await openCase('linux', 'host-running');
    const argsFile = path.join(opened.dir, 'args');
    await writeStandIn(opened.bin, 'teamviewer', recorder(argsFile, 0));
    const result = await assignDevice(opened.ctx, { assignmentId: ID, alias: 'Front desk; rm -rf /', retries: 3 });
    expect(result).toMatchObject({ ok: true, exitCode: 0 });
    expect((await readFile(argsFile, 'utf8')).trimEnd().split('\n')).toEqual(['assignment', '--id', ID, '--device-alias=Front desk; rm -rf /', '--retries=3']);
  });

  it.each([
    [1, 'ASSIGNMENT_FAILED', /did not understand/],
    [3, 'TEAMVIEWER_MISSING', /not installed/],
    [4, 'ASSIGNMENT_FAILED', /verified with the TeamViewer cloud/],
    // POSIX exit statuses keep 8 bits: 145 is TeamViewer's 401, 151 its 407.
    [145, 'TEAMVIEWER_NOT_RUNNING', /service is not running \(exit 401\)/],
    [151, 'ASSIGNMENT_NEEDS_ADMIN', /root\/Administrator \(exit 407\)/],
    [77, 'ASSIGNMENT_FAILED', /unexpected code 77/],
  ])('maps exit %i of the stand-in to %s', async (exit, code, message) => {
    opened = await openCase('linux', 'host-running');
    await writeStandIn(opened.bin, 'teamviewer', recorder(path.join(opened.dir, 'args'), exit));
    const result = await assignDevice(opened.ctx, { assignmentId: ID });
    expect(result).toMatchObject({ ok: false, exitCode: exit, code });
    expect(result.message).toMatch(message);
  });

  it('runs TeamViewer.exe from the detected InstallationDirectory on Windows', async () => {
    opened = await openCase('windows', 'full-32on64-unmanaged', { copy: true });
    const argsFile = path.join(opened.dir, 'args');
    await writeStandIn(path.join(opened.root, 'C/Program Files (x86)/TeamViewer'), 'TeamViewer.exe', recorder(argsFile, 0));
    const result = await assignDevice(opened.ctx, { assignmentId: ID });
    expect(result.ok).toBe(true);
    expect((await readFile(argsFile, 'utf8')).trimEnd().split('\n')).toEqual(['assignment', '--id', ID]);
  });

  it('refuses a malformed id before running anything', async () => {
    opened = await openCase('linux', 'host-running');
    const argsFile = path.join(opened.dir, 'args');
    await writeStandIn(opened.bin, 'teamviewer', recorder(argsFile, 0));
    const result = await assignDevice(opened.ctx, { assignmentId: '--id=evil' });
    expect(result).toMatchObject({ ok: false, exitCode: null, code: 'ASSIGNMENT_ID_INVALID' });
    await expect(readFile(argsFile)).rejects.toThrow(/ENOENT/);
  });

  it('says TeamViewer is missing when there is nothing to run the assignment with', async () => {
    opened = await openCase('windows', 'absent');
    const result = await assignDevice(opened.ctx, { assignmentId: ID });
    expect(result).toMatchObject({ ok: false, code: 'TEAMVIEWER_MISSING' });
    const linux = await openCase('linux', 'absent');
    try {
      expect(await assignDevice(linux.ctx, { assignmentId: ID })).toMatchObject({ ok: false, code: 'TEAMVIEWER_MISSING' });
    } finally {
      await linux.cleanup();
    }
  });
});
