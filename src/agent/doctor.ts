// `rmagent doctor`: each prerequisite of the seed checked on its own, with what to do when it fails.
// gatherDoctorFacts() touches the machine; judgeDoctor() decides from plain data.
import path from 'node:path';
import { fileMode } from '../system/files.js';
import { requestLocal } from '../system/local-socket.js';
import { ERRORS, type ErrorCode, type Problem } from '../protocol/errors.js';
import { keyFingerprint } from '../protocol/sign.js';
import type { TeamViewerFacts } from '../protocol/model.js';
import type { Config } from '../config/schema.js';
import type { CommandRunner } from '../system/exec.js';
import { detectTeamViewer } from '../teamviewer/index.js';
import { allowChangesFile, changesAllowed } from '../services/opt-in.js';
import { readRegistration } from './identity.js';
import { checkTransport } from './transport.js';
import { probeServer, type ProbeResult } from './probe.js';
import type { Registration } from './contracts.js';
import { healthOf } from './status.js';

export type Verdict = 'pass' | 'warn' | 'fail' | 'skip';
export interface DoctorCheck {
  name: string;
  verdict: Verdict;
  detail: string;
  code?: ErrorCode;
  fix?: string;
}

export interface DoctorFacts {
  teamviewer: TeamViewerFacts;
  teamviewerRequired: boolean;
  registration: { status: 'ok'; value: Registration } | { status: 'missing' } | { status: 'invalid'; reason: string };
  probe: ProbeResult | null;
  transport: { ok: boolean; insecure: boolean; message?: string } | null;
  modes: Array<{ file: string; mode: number | undefined; want: number }>;
  daemonRunning: boolean;
  /** What the running daemon itself reports (`rmagent status`), so doctor and status never disagree. */
  daemonProblems: Problem[];
  platform: NodeJS.Platform;
  /** The local opt-in for patch installs and restores (services/opt-in.ts). */
  changes: { file: string; allowed: boolean };
}

const fail = (name: string, code: ErrorCode, detail?: string): DoctorCheck => ({ name, verdict: 'fail', code, detail: detail ?? ERRORS[code].message, fix: ERRORS[code].hint });
const warn = (name: string, code: ErrorCode, detail?: string): DoctorCheck => ({ name, verdict: 'warn', code, detail: detail ?? ERRORS[code].message, fix: ERRORS[code].hint });
const pass = (name: string, detail: string): DoctorCheck => ({ name, verdict: 'pass', detail });

export function judgeDoctor(f: DoctorFacts): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  const tv = f.teamviewer;
  const tvName = 'TeamViewer Host or full client installed';
  if (!tv.installed) checks.push(f.teamviewerRequired ? fail(tvName, 'TEAMVIEWER_MISSING') : warn(tvName, 'TEAMVIEWER_MISSING'));
  else checks.push(pass(tvName, `${tv.edition === 'host' ? 'TeamViewer Host' : tv.edition === 'full' ? 'TeamViewer full client' : 'TeamViewer'} ${tv.version ?? ''}${tv.teamviewerId ? `, ID ${tv.teamviewerId}` : ''}`.trim()));
  if (tv.installed) {
    if (tv.warnings.length) checks.push(warn('TeamViewer configuration readable', 'TEAMVIEWER_UNREADABLE', tv.warnings.join('; ')));
    const svc = 'TeamViewer service running';
    checks.push(tv.serviceRunning === false ? fail(svc, 'TEAMVIEWER_NOT_RUNNING') : tv.serviceRunning === null ? { name: svc, verdict: 'skip', detail: 'cannot be read on this system' } : pass(svc, 'running'));
    const managed = 'Managed device (assigned to your company)';
    checks.push(tv.managed === false ? warn(managed, 'TEAMVIEWER_NOT_MANAGED') : tv.managed === null ? { name: managed, verdict: 'skip', detail: 'not readable on this OS (unknown)' } : pass(managed, tv.owner?.company ? `assigned to ${tv.owner.company}` : 'assigned'));
  }
  const reg = f.registration;
  if (reg.status === 'missing') checks.push(fail('Registered locally', 'NOT_REGISTERED'));
  else if (reg.status === 'invalid') checks.push(fail('Registered locally', 'REGISTRATION_CORRUPT', reg.reason));
  else {
    checks.push(pass('Registered locally', `server ${reg.value.serverUrl}${reg.value.serverKeys.length ? `, server key ${keyFingerprint(reg.value.serverKeys[0]!)}` : ', server key pinned at first enrollment'}`));
    const refused = f.daemonProblems.find((p) => ['ENROLLMENT_REFUSED', 'AUTH_FAILED', 'ENROLLMENT_FAILED', 'DEVICE_ID_MISMATCH', 'SERVER_PROOF_INVALID'].includes(p.code));
    const enrolled = 'Enrolled with the server';
    checks.push(refused ? fail(enrolled, refused.code as ErrorCode, refused.message) : reg.value.deviceId ? pass(enrolled, `device ${reg.value.deviceId}`) : reg.value.enrollmentToken ? { name: enrolled, verdict: 'warn', detail: 'not yet: the agent enrolls on its first connection' } : fail(enrolled, 'ENROLLMENT_TOKEN_MISSING'));
  }
  if (f.transport && !f.transport.ok) checks.push(fail('Secure transport', 'INSECURE_TRANSPORT', f.transport.message));
  else if (f.transport?.insecure) checks.push(warn('Secure transport', 'INSECURE_TRANSPORT_ALLOWED'));
  else if (f.transport) checks.push(pass('Secure transport', 'wss:// or loopback'));
  if (f.probe) {
    const keys = reg.status === 'ok' ? reg.value.serverKeys : [];
    if (!f.probe.ok) checks.push(fail('Server reachable', 'SERVER_UNREACHABLE', f.probe.error ?? undefined));
    else if (keys.length && f.probe.serverKey && !keys.includes(f.probe.serverKey)) checks.push(fail('Server reachable', 'SERVER_KEY_MISMATCH', `server presents ${keyFingerprint(f.probe.serverKey)}`));
    else checks.push(pass('Server reachable', `answered in ${f.probe.latencyMs} ms`));
  }
  if (f.platform !== 'win32') {
    const loose = f.modes.filter((m) => m.mode !== undefined && (m.mode & 0o077) !== 0);
    checks.push(loose.length ? fail('State files private to the agent account', 'STATE_PERMISSIONS', loose.map((m) => `${m.file} is ${m.mode!.toString(8)}, want ${m.want.toString(8)}`).join('; ')) : pass('State files private to the agent account', 'ok'));
  }
  // Not opted in is a valid choice, not a fault: shown (with how to opt in) without changing the exit code.
  const changes = 'Machine changes allowed (patch installs, backup restores)';
  checks.push(f.changes.allowed ? pass(changes, `yes: ${f.changes.file} exists`) : { name: changes, verdict: 'skip', code: 'CHANGES_NOT_ALLOWED', detail: `no: ${f.changes.file} does not exist, so they are refused`, fix: ERRORS.CHANGES_NOT_ALLOWED.hint });
  checks.push(f.daemonRunning ? pass('Agent daemon running', 'answers on its local endpoint') : fail('Agent daemon running', 'AGENT_NOT_RUNNING'));
  // Whatever else the daemon reports, with the weight `status` gives it: unhealthy fails, the rest warns.
  const shown = new Set(checks.map((c) => c.code).filter(Boolean));
  for (const p of f.daemonProblems) {
    if (shown.has(p.code as ErrorCode)) continue;
    shown.add(p.code as ErrorCode);
    const code = (p.code in ERRORS ? p.code : 'INTERNAL') as ErrorCode;
    checks.push({ name: 'Reported by the agent', verdict: healthOf([p]) === 'unhealthy' ? 'fail' : 'warn', code, detail: p.message, fix: p.fix });
  }
  return checks;
}

/** 0 all passed, 1 warnings only, 2 something failed. */
export function doctorExitCode(checks: readonly DoctorCheck[]): 0 | 1 | 2 {
  if (checks.some((c) => c.verdict === 'fail')) return 2;
  return checks.some((c) => c.verdict === 'warn') ? 1 : 0;
}

export async function gatherDoctorFacts(config: Config, ipcPath: string, runner: CommandRunner): Promise<DoctorFacts> {
  const platform = config.teamviewer.platform ?? (process.platform as 'linux' | 'win32' | 'darwin');
  const [teamviewer, registration, daemon] = await Promise.all([
    detectTeamViewer({ root: config.teamviewer.root, platform, runner, now: Date.now }),
    readRegistration(config.stateDir),
    requestLocal(ipcPath, { method: 'status' }, 2_000),
  ]);
  const url = registration.status === 'ok' ? registration.value.serverUrl : null;
  const transport = url ? checkTransport(url, { allowInsecure: config.connection.allowInsecure }) : null;
  const probe = url && transport?.ok ? await probeServer(url, config) : null;
  const files = [
    { file: config.stateDir, want: 0o700 },
    { file: path.join(config.stateDir, 'registration.json'), want: 0o600 },
    { file: path.join(config.stateDir, 'device.key'), want: 0o600 },
  ];
  const modes = await Promise.all(files.map(async (f) => ({ ...f, mode: await fileMode(f.file) })));
  const changesFile = allowChangesFile(config.stateDir);
  return {
    teamviewer,
    teamviewerRequired: config.teamviewer.required,
    registration,
    probe,
    transport: transport ? (transport.ok ? { ok: true, insecure: transport.insecure } : { ok: false, insecure: false, message: transport.message }) : null,
    modes,
    daemonRunning: daemon.ok,
    daemonProblems: daemon.ok ? ((daemon.value as { status?: { problems?: Problem[] } }).status?.problems ?? []) : [],
    platform: process.platform,
    changes: { file: changesFile, allowed: await changesAllowed(changesFile) },
  };
}
