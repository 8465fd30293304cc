// Re-detects TeamViewer periodically so installing or removing it later is noticed without a restart.
// One detection at a time: a refresh asked for while one runs shares its result.
// Each interval first asks the cheap probe (probe.ts) whether anything changed since the last full detection;
// refresh() (status, `rmagent status`, the detect IPC) always runs the full detection.
import type { TeamViewerWatcher } from '../agent/contracts.js';
import type { Logger } from '../log.js';
import type { TeamViewerFacts } from '../protocol/model.js';
import type { TeamViewerContext } from './context.js';
import { detectTeamViewer } from './detect.js';
import { FULL_DETECTION_MAX_AGE_MS, fullDetectionReason, probeTeamViewer, type LastDetection } from './probe.js';
import { teamviewerFactsChanged } from './problems.js';

export type CheckOutcome = 'detected' | 'skipped';

export interface TeamViewerWatcherOptions extends TeamViewerContext {
  intervalMs: number;
  logger: Logger;
  /** Longest time the probe may keep the facts without a full detection (default 24 h). */
  fullDetectionMaxAgeMs?: number;
}

export function createTeamViewerWatcher(options: TeamViewerWatcherOptions): TeamViewerWatcher & { check(): Promise<CheckOutcome> } {
  const { intervalMs, logger } = options;
  const maxAgeMs = options.fullDetectionMaxAgeMs ?? FULL_DETECTION_MAX_AGE_MS;
  const listeners: Array<(facts: TeamViewerFacts, previous: TeamViewerFacts | null) => void> = [];
  let facts: TeamViewerFacts | null = null;
  let last: LastDetection | null = null;
  let inFlight: Promise<TeamViewerFacts> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let running = false;

  /** `probed`: the fingerprint check() just took, so an interval that detects probes once, not twice. */
  async function detectOnce(probed?: string | null): Promise<TeamViewerFacts> {
    const previous = facts;
    // Probe before detecting: a change during the detection then shows up as a new fingerprint next time.
    const fingerprint = probed !== undefined ? probed : await probeTeamViewer(options);
    const next = await detectTeamViewer(options);
    facts = next;
    last = { fingerprint, at: next.detectedAt };
    if (!teamviewerFactsChanged(previous, next)) return next;
    logger.debug('TeamViewer facts changed', { installed: next.installed, edition: next.edition, version: next.version, running: next.serviceRunning, managed: next.managed });
    for (const listener of listeners) {
      try {
        listener(next, previous);
      } catch (err) {
        logger.warn('TeamViewer change listener failed', { error: err });
      }
    }
    return next;
  }

  function refresh(probed?: string | null): Promise<TeamViewerFacts> {
    inFlight ??= detectOnce(probed).finally(() => {
      inFlight = null;
    });
    return inFlight;
  }

  /** One interval's work: the full detection only when the probe cannot vouch for the facts. */
  async function check(): Promise<CheckOutcome> {
    if (inFlight) {
      await inFlight;
      return 'detected';
    }
    const fingerprint = await probeTeamViewer(options);
    const reason = fullDetectionReason(last, fingerprint, options.now(), maxAgeMs);
    if (reason === null) {
      logger.debug('TeamViewer unchanged since the last detection; detection skipped', { lastDetectedAt: last?.at });
      return 'skipped';
    }
    if (reason !== 'cannot tell') logger.debug('TeamViewer detection', { reason });
    await refresh(fingerprint);
    return 'detected';
  }

  // setTimeout after each check (not setInterval) so a slow detection never overlaps the next one.
  function schedule(): void {
    if (!running) return;
    timer = setTimeout(() => {
      check()
        .catch((err: unknown) => logger.warn('TeamViewer detection failed', { error: err }))
        .finally(schedule);
    }, intervalMs);
    timer.unref();
  }

  return {
    current: () => facts,
    refresh: () => refresh(),
    check,
    onChange(listener) {
      listeners.push(listener);
    },
    start() {
      if (running) return;
      running = true;
      schedule();
    },
    stop() {
      running = false;
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
