import { describe, expect, it } from 'vitest';
import { evaluateSignal, initialSignalState, syncSignal, type SignalRule, type SignalState } from '../../../src/services/monitoring/checks.js';
import { MonitoringPolicySchema, backtrackingOnly, defaultMonitoringPolicySettings } from '../../../src/protocol/policies/monitoring.js';

const rule: SignalRule = { direction: 'above', threshold: 90, margin: 5, durationMs: 0 };

function run(values: number[], r: SignalRule, start: SignalState = initialSignalState(false), stepMs = 1000) {
  let s = start;
  return values.map((v, i) => {
    const out = evaluateSignal(s, v, i * stepMs, r);
    s = out.state;
    return out.decision;
  });
}

describe('evaluateSignal', () => {
  it('raises once above the threshold and clears once below threshold - margin', () => {
    expect(run([50, 95, 97, 99, 80], rule)).toEqual([null, 'raise', null, null, 'clear']);
  });

  it('does not flap while the value hovers around the threshold (hysteresis)', () => {
    expect(run([91, 89, 91, 88, 90.5, 86, 91], rule)).toEqual(['raise', null, null, null, null, null, null]);
    expect(run([91, 84.9], rule)).toEqual(['raise', 'clear']);
  });

  it('raises only after the condition held for the duration, without interruption', () => {
    const r = { ...rule, durationMs: 3000 };
    expect(run([95, 95, 95, 95], r)).toEqual([null, null, null, 'raise']);
    expect(run([95, 95, 80, 95, 95, 95], r)).toEqual([null, null, null, null, null, null]);
  });

  it('after a restart an alert that is still active is not raised again, and clears when it should', () => {
    expect(run([95, 95], rule, initialSignalState(true))).toEqual([null, null]);
    expect(run([10], rule, initialSignalState(true))).toEqual(['clear']);
  });

  it('supports "below" conditions (free bytes, process not running)', () => {
    const r: SignalRule = { direction: 'below', threshold: 100, margin: 10, durationMs: 0 };
    expect(run([200, 50, 105, 111], r)).toEqual([null, 'raise', null, 'clear']);
  });
});

describe('syncSignal', () => {
  // issue 15: a log alert (threshold 0, hysteresis 0) never clears by itself (0 < 0 - 0 is false); once the
  // acknowledgment cleared it in the book, the next matching line must raise again.
  it('follows the alert book: an acknowledged (cleared) alert no longer holds the signal active', () => {
    const log: SignalRule = { direction: 'above', threshold: 0, margin: 0, durationMs: 0 };
    const raised = evaluateSignal(initialSignalState(false), 1, 0, log);
    expect(raised.decision).toBe('raise');
    expect(evaluateSignal(raised.state, 1, 1000, log).decision).toBe(null); // still active: no second raise
    expect(evaluateSignal(syncSignal(raised.state, false), 1, 2000, log).decision).toBe('raise');
    expect(syncSignal(raised.state, true)).toBe(raised.state);
    expect(syncSignal(undefined, true)).toEqual({ active: true, breachSince: null });
  });
});

describe('policy', () => {
  it('has a sensible default: cpu 90% over 300 s, memory 90%, disk 90%', () => {
    const p = MonitoringPolicySchema.parse({});
    expect(p.checks.map((c) => [c.type, 'threshold' in c ? c.threshold : null])).toEqual([['cpu', 90], ['memory', 90], ['disk', 90]]);
    expect(p.checks[0]!.durationSec).toBe(300);
    expect(MonitoringPolicySchema.parse(defaultMonitoringPolicySettings).checks.length).toBe(3);
  });
  it('rejects what cannot be evaluated', () => {
    expect(MonitoringPolicySchema.safeParse({ checks: [{ type: 'disk', id: 'd' }] }).success).toBe(false);
    expect(MonitoringPolicySchema.safeParse({ checks: [{ type: 'log', id: 'l', path: '/x', pattern: '(' }] }).success).toBe(false);
    expect(MonitoringPolicySchema.safeParse({ checks: [{ type: 'cpu', id: 'a' }, { type: 'memory', id: 'a' }] }).success).toBe(false);
    expect(MonitoringPolicySchema.safeParse({ checks: [{ type: 'cpu', id: 'a', threshold: 101 }] }).success).toBe(false);
    // A service name is an operand, never an option of the service manager.
    expect(MonitoringPolicySchema.safeParse({ checks: [{ type: 'service', id: 's', name: '--help' }] }).success).toBe(false);
    expect(MonitoringPolicySchema.safeParse({ checks: [{ type: 'service', id: 's', name: 'getty@tty1.service' }] }).success).toBe(true);
  });

  it('refuses log patterns only a backtracking engine can run, and says which construct', () => {
    const parse = (pattern: string) => MonitoringPolicySchema.safeParse({ checks: [{ type: 'log', id: 'l', path: '/x', pattern }] });
    expect(parse('(a)\\1').error?.issues[0]?.message).toContain('backreference \\1');
    expect(parse('(?<n>a)\\k<n>').success).toBe(false);
    expect(parse('foo(?=bar)').error?.issues[0]?.message).toContain('lookaround (?=');
    expect(parse('(?<!x)y').success).toBe(false);
    for (const fine of ['^(a+)+$', 'authentication failure|Failed password', '[(?=]x', '\\(\\?=', '(?<year>\\d{4})-', '\\d{1,3}(\\.\\d{1,3}){3}']) expect(backtrackingOnly(fine), fine).toBe(null);
    expect(parse('^(a+)+$').success).toBe(true); // catastrophic for a backtracking engine, linear for the device's
  });
});
