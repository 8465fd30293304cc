// TeamViewer detection and assignment: what the agent, status and doctor use.
export type { TeamViewerContext, TeamViewerPlatform } from './context.js';
export { detectTeamViewer } from './detect.js';
export { createTeamViewerWatcher } from './watcher.js';
export { assignDevice, describeAssignmentExit, isValidAssignmentId, type AssignmentResult } from './assignment.js';
export { teamviewerProblems, hasTeamViewerPrerequisite, teamviewerFactsChanged } from './problems.js';
