import { describe, expect, it } from 'vitest';
import { chooseOverflow } from '../../src/agent/outbox.js';

const e = (seq: number, kind: 'status' | 'alert.raised' | 'alert.cleared' | 'service', bytes = 100) => ({ seq, kind, at: seq, bytes });

describe('chooseOverflow', () => {
  it('drops nothing within budget', () => {
    expect(chooseOverflow([e(1, 'status'), e(2, 'status')], 200)).toEqual([]);
  });
  it('drops the oldest non-alert reports first, just enough to fit', () => {
    expect(chooseOverflow([e(1, 'alert.raised'), e(2, 'status'), e(3, 'service'), e(4, 'status')], 250)).toEqual([2, 3]);
  });
  it('never drops alerts, even when only alerts are left over budget', () => {
    expect(chooseOverflow([e(1, 'alert.raised'), e(2, 'alert.cleared'), e(3, 'status')], 100)).toEqual([3]);
    expect(chooseOverflow([e(1, 'alert.raised'), e(2, 'alert.cleared')], 50)).toEqual([]);
  });
});
