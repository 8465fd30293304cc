import { describe, expect, it } from 'vitest';
import { ERRORS } from '../../src/protocol/errors.js';
import { assignmentArgs, describeAssignmentExit, isValidAlias, isValidAssignmentId } from '../../src/teamviewer/assignment.js';

describe('describeAssignmentExit', () => {
  it('maps every documented TeamViewer exit code to a code from the error table and a clear message', () => {
    expect(describeAssignmentExit(0)).toEqual({ ok: true, exitCode: 0, message: 'the device is now assigned to the company (exit 0)' });
    for (const exit of [1, 2, 3, 4, 400, 401, 402, 403, 404, 405, 406, 407, 408]) {
      const r = describeAssignmentExit(exit);
      expect(r.ok).toBe(false);
      expect(Object.keys(ERRORS)).toContain(r.code);
      expect(r.message).toContain(`(exit ${exit})`);
    }
    expect(describeAssignmentExit(400).code).toBe('ASSIGNMENT_ID_INVALID');
    expect(describeAssignmentExit(401).code).toBe('TEAMVIEWER_NOT_RUNNING');
    expect(describeAssignmentExit(407).code).toBe('ASSIGNMENT_NEEDS_ADMIN');
    expect(describeAssignmentExit(408).message).toMatch(/policy/);
    expect(describeAssignmentExit(null)).toMatchObject({ ok: false, code: 'ASSIGNMENT_FAILED', message: expect.stringMatching(/did not finish/) });
  });

  it('reads 8-bit POSIX statuses 144..152 as 400..408, but not on Windows', () => {
    expect(describeAssignmentExit(152, 'linux')).toMatchObject({ exitCode: 152, message: expect.stringContaining('(exit 408)') });
    expect(describeAssignmentExit(152, 'win32').message).toMatch(/unexpected code 152/);
  });
});

describe('assignment arguments', () => {
  it('accepts TeamViewer-shaped ids and refuses option-like or spaced ones', () => {
    expect(isValidAssignmentId('0001CoABChBvbmVhc3NpZ25tZW50aWQSAnRl=')).toBe(true);
    for (const bad of ['', 'short', '-0001CoABChBv', '0001 CoABChBvbmVh', '0001CoABChBv;rm']) expect(isValidAssignmentId(bad)).toBe(false);
    expect(isValidAlias('Front desk PC')).toBe(true);
    expect(isValidAlias('a\nb')).toBe(false);
  });

  it('builds the command line with optional alias and retries', () => {
    expect(assignmentArgs({ assignmentId: 'ID' })).toEqual(['assignment', '--id', 'ID']);
    expect(assignmentArgs({ assignmentId: 'ID', alias: 'PC 1', retries: 0 })).toEqual(['assignment', '--id', 'ID', '--device-alias=PC 1', '--retries=0']);
  });
});
