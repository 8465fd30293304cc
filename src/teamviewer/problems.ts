// What the TeamViewer facts mean for status/doctor: the seed's prerequisite (Host or full client installed,
// running, a managed device). Unknown (null) is never reported as a problem.
import { problem, type Problem } from '../protocol/errors.js';
import type { TeamViewerFacts } from '../protocol/model.js';

export function teamviewerProblems(facts: TeamViewerFacts | null): Problem[] {
  if (!facts) return [];
  if (!facts.installed) return [problem('TEAMVIEWER_MISSING')];
  const found: Problem[] = [];
  if (facts.serviceRunning === false) found.push(problem('TEAMVIEWER_NOT_RUNNING'));
  if (facts.managed === false) found.push(problem('TEAMVIEWER_NOT_MANAGED'));
  if (facts.warnings.length > 0) found.push(problem('TEAMVIEWER_UNREADABLE', facts.warnings.join('; ')));
  return found;
}

/** Installed TeamViewer is either Host or the full client, so an unknown edition still counts. */
export function hasTeamViewerPrerequisite(facts: TeamViewerFacts | null): boolean {
  return facts?.installed === true;
}

/** The fields a person or the server would notice; detectedAt and sources are bookkeeping. */
export function teamviewerFactsChanged(previous: TeamViewerFacts | null, next: TeamViewerFacts): boolean {
  if (!previous) return true;
  const meaningful = (f: TeamViewerFacts) => JSON.stringify([
    f.installed, f.edition, f.version, f.teamviewerId, f.serviceRunning, f.managed,
    f.managementId ?? null, f.owner ?? null, f.installPath ?? null, [...f.warnings].sort(),
  ]);
  return meaningful(previous) !== meaningful(next);
}
