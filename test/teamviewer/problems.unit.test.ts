import { describe, expect, it } from 'vitest';
import type { TeamViewerFacts } from '../../src/protocol/model.js';
import { hasTeamViewerPrerequisite, teamviewerFactsChanged, teamviewerProblems } from '../../src/teamviewer/problems.js';

const facts = (over: Partial<TeamViewerFacts> = {}): TeamViewerFacts => ({
  installed: true, edition: 'host', version: '15.60.3', teamviewerId: '1', serviceRunning: true, managed: true,
  managementId: null, owner: null, installPath: '/opt/teamviewer', sources: ['dpkg'], warnings: [], detectedAt: 1, ...over,
});
const codes = (f: TeamViewerFacts | null) => teamviewerProblems(f).map((p) => p.code);

describe('teamviewerProblems', () => {
  it('names each broken prerequisite, with the fix from the error table', () => {
    expect(codes(facts())).toEqual([]);
    expect(codes(facts({ installed: false, serviceRunning: false, managed: false }))).toEqual(['TEAMVIEWER_MISSING']);
    expect(codes(facts({ serviceRunning: false, managed: false, warnings: ['x cannot be read'] }))).toEqual(['TEAMVIEWER_NOT_RUNNING', 'TEAMVIEWER_NOT_MANAGED', 'TEAMVIEWER_UNREADABLE']);
    expect(teamviewerProblems(facts({ warnings: ['global.conf cannot be read'] }))[0]).toMatchObject({ message: expect.stringContaining('global.conf cannot be read'), fix: expect.stringMatching(/root/) });
  });

  it('treats unknown (null) as no problem, and no facts yet as nothing to say', () => {
    expect(codes(facts({ serviceRunning: null, managed: null }))).toEqual([]);
    expect(codes(null)).toEqual([]);
  });
});

describe('hasTeamViewerPrerequisite', () => {
  it('is met by an installed Host or full client, even when the edition cannot be told', () => {
    expect(hasTeamViewerPrerequisite(facts({ edition: 'full' }))).toBe(true);
    expect(hasTeamViewerPrerequisite(facts({ edition: null }))).toBe(true);
    expect(hasTeamViewerPrerequisite(facts({ installed: false, edition: null }))).toBe(false);
    expect(hasTeamViewerPrerequisite(null)).toBe(false);
  });
});

describe('teamviewerFactsChanged', () => {
  it('ignores detectedAt and sources but not what a person would notice', () => {
    expect(teamviewerFactsChanged(facts(), facts({ detectedAt: 99, sources: ['rpm'] }))).toBe(false);
    expect(teamviewerFactsChanged(facts(), facts({ version: '15.61.0' }))).toBe(true);
    expect(teamviewerFactsChanged(facts(), facts({ owner: { account: 'a', company: null } }))).toBe(true);
    expect(teamviewerFactsChanged(facts(), facts({ warnings: ['new'] }))).toBe(true);
    expect(teamviewerFactsChanged(null, facts())).toBe(true);
  });
});
