// Pure evaluation of monitoring samples: raise after the condition held for its duration, clear only past
// the hysteresis margin, so a value hovering at the threshold never flaps.
export type Direction = 'above' | 'below';

export interface SignalRule {
  direction: Direction;
  threshold: number;
  /** Clear only once the value is beyond threshold -/+ margin. */
  margin: number;
  /** The condition must hold this long (ms) before a raise. */
  durationMs: number;
}

export interface SignalState {
  active: boolean;
  /** Since when the condition holds without interruption (null = it does not). */
  breachSince: number | null;
}

export type Decision = 'raise' | 'clear' | null;

/** The state a signal starts from; after a restart an active (persisted) alert starts active so it is not raised again. */
export function initialSignalState(active: boolean): SignalState {
  return { active, breachSince: null };
}

export function isBreaching(value: number, rule: SignalRule): boolean {
  return rule.direction === 'above' ? value > rule.threshold : value < rule.threshold;
}

export function isClear(value: number, rule: SignalRule): boolean {
  return rule.direction === 'above' ? value < rule.threshold - rule.margin : value > rule.threshold + rule.margin;
}

export function evaluateSignal(state: SignalState, value: number, at: number, rule: SignalRule): { state: SignalState; decision: Decision } {
  const breaching = isBreaching(value, rule);
  const breachSince = breaching ? (state.breachSince ?? at) : null;
  if (state.active) {
    if (isClear(value, rule)) return { state: { active: false, breachSince }, decision: 'clear' };
    return { state: { active: true, breachSince }, decision: null };
  }
  if (breaching && at - breachSince! >= rule.durationMs) return { state: { active: true, breachSince }, decision: 'raise' };
  return { state: { active: false, breachSince }, decision: null };
}

/** The signal to judge with: the stored alert book is the truth on whether an alert is active (an acknowledgment clears one). */
export function syncSignal(prev: SignalState | undefined, activeInBook: boolean): SignalState {
  if (prev && prev.active === activeInBook) return prev;
  return { active: activeInBook, breachSince: prev?.breachSince ?? null };
}
