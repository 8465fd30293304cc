// Re-detects TeamViewer periodically so installing or removing it later is noticed without a restart.
// One detection at a time: a refresh asked for while one runs shares its result.
import type { TeamViewerWatcher } from '../agent/contracts.js';
import type { Logger } from '../log.js';
import type { TeamViewerFacts } from '../protocol/model.js';
import type { TeamViewerContext } from './context.js';
import { detectTeamViewer } from './detect.js';
import { teamviewerFactsChanged } from './problems.js';

export function createTeamViewerWatcher(options: TeamViewerContext & { intervalMs: number; logger: Logger }): TeamViewerWatcher {
  const { intervalMs, logger } = options;
  const listeners: Array<(facts: TeamViewerFacts, previous: TeamViewerFacts | null) => void> = [];
  let facts: TeamViewerFacts | null = null;
  let inFlight: Promise<TeamViewerFacts> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let running = false;

  async function detectOnce(): Promise<TeamViewerFacts> {
    const previous = facts;
    const next = await detectTeamViewer(options);
    facts = next;
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

  function refresh(): Promise<TeamViewerFacts> {
    inFlight ??= detectOnce().finally(() => {
      inFlight = null;
    });
    return inFlight;
  }

  // setTimeout after each detection (not setInterval) so a slow detection never overlaps the next one.
  function schedule(): void {
    if (!running) return;
    timer = setTimeout(() => {
      refresh()
        .catch((err: unknown) => logger.warn('TeamViewer detection failed', { error: err }))
        .finally(schedule);
    }, intervalMs);
    timer.unref();
  }

  return {
    current: () => facts,
    refresh,
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
