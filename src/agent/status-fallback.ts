// When the daemon does not answer, `status` is built from what it left on disk: read-only, never repairs.
import path from 'node:path';
import { readJsonFile } from '../system/files.js';
import { problem, type Problem } from '../protocol/errors.js';
import { AGENT_COMMIT, AGENT_VERSION } from '../version.js';
import { readRegistration } from './identity.js';
import { buildStatus, statusSchema, type AgentStatus } from './status.js';
import { STATUS_SNAPSHOT_FILE } from './agent.js';
import type { Config } from '../config/schema.js';

/** `schema`: the caller's, when it has already built one (it is built at each use, status.ts). */
export async function statusFromStateFiles(config: Config, now: number, why: string, schema = statusSchema()): Promise<AgentStatus> {
  const snapshot = await readJsonFile(path.join(config.stateDir, STATUS_SNAPSHOT_FILE), schema);
  const registration = await readRegistration(config.stateDir);
  const last = snapshot.status === 'ok' ? snapshot.value : null;
  const partProblems = registration.status === 'invalid' ? [problem('REGISTRATION_CORRUPT', registration.reason)] : [];
  const carried = (last?.problems ?? []).filter((p) => p.code.startsWith('TEAMVIEWER') || p.code.startsWith('SERVICE'));
  return buildStatus({
    now,
    agent: { version: AGENT_VERSION, commit: AGENT_COMMIT, runtime: process.version, running: false, pid: null, startedAt: last?.agent.startedAt ?? null, source: 'state-files' },
    registration: registration.status === 'ok' ? registration.value : null,
    teamviewer: last?.teamviewer ?? null,
    teamviewerRequired: config.teamviewer.required,
    connection: null,
    services: last?.services ?? [],
    outbox: last ? { ...last.outbox, nextSeq: 0 } : null,
    configPin: config.connection.pinSha256,
    partProblems: [...partProblems, ...(carried as Problem[])],
    notRunningReason: why,
  });
}
