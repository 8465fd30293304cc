import { describe, expect, it } from 'vitest';
import { evaluateSignal, initialSignalState, matchNewLines, pushWindow, selectMounts, serviceActive, windowAverage, type SignalRule, type SignalState } from '../../../src/services/monitoring/checks.js';
import { MonitoringPolicySchema, defaultMonitoringPolicySettings } from '../../../src/protocol/policies/monitoring.js';

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

describe('cpu window', () => {
  it('averages over the window and knows when it is covered', () => {
    let w = pushWindow([], { at: 0, value: 100 }, 300_000);
    expect(windowAverage(w, 0, 300_000).covered).toBe(false);
    for (let t = 60_000; t <= 360_000; t += 60_000) w = pushWindow(w, { at: t, value: t === 120_000 ? 40 : 100 }, 300_000);
    const avg = windowAverage(w, 360_000, 300_000);
    expect(avg.covered).toBe(true);
    expect(w.length).toBe(6);
    expect(avg.average).toBeCloseTo(90, 5);
  });
});

describe('selectMounts', () => {
  const disks = [{ mount: '/' }, { mount: '/home' }, { mount: '/var/lib' }];
  it('maps any path to the mount that holds it', () => {
    expect(selectMounts(disks, ['/home/me/x']).map((d) => d.mount)).toEqual(['/home']);
    expect(selectMounts(disks, ['/tmp/abc']).map((d) => d.mount)).toEqual(['/']);
    expect(selectMounts(disks, ['/homeless']).map((d) => d.mount)).toEqual(['/']);
    expect(selectMounts(disks, []).length).toBe(3);
    expect(selectMounts([{ mount: 'C:' }, { mount: 'D:' }], ['D:\\data\\x']).map((d) => d.mount)).toEqual(['D:']);
  });
});

describe('log lines and service answers', () => {
  it('counts only complete new lines that match', () => {
    const r = matchNewLines('ok\nERROR disk\nfine\nERROR net\nERROR par', /ERROR/);
    expect(r.matches).toBe(2);
    expect(r.lastMatch).toBe('ERROR net');
    expect(r.consumed).toBe('ok\nERROR disk\nfine\nERROR net\n'.length);
  });
  it('reads systemctl, launchctl and sc answers', () => {
    expect(serviceActive('linux', { code: 0, stdout: 'active\n' })).toBe(true);
    expect(serviceActive('linux', { code: 3, stdout: 'inactive\n' })).toBe(false);
    expect(serviceActive('win32', { code: 0, stdout: 'SERVICE_NAME: x\n        STATE              : 4  RUNNING\n' })).toBe(true);
    expect(serviceActive('win32', { code: 0, stdout: '        STATE              : 1  STOPPED\n' })).toBe(false);
    expect(serviceActive('darwin', { code: 0, stdout: 'state = running' })).toBe(true);
    expect(serviceActive('darwin', { code: 113, stdout: '' })).toBe(false);
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
  });
});
