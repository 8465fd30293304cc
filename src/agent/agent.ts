// The composition root of the daemon: builds every part, hands each the others it needs, starts and stops them.
// config -> identity -> TeamViewer detection -> connection -> converge desired state -> report.
import path from 'node:path';
import { hostname, release } from 'node:os';
import * as z from 'zod/mini';
import { ensureDir, writeJsonAtomic } from '../system/files.js';
import { privateFolderProblem, resolveTrustedPath } from '../system/safe-files.js';
import { serveLocal, type LocalServer } from '../system/local-socket.js';
import { waitAtMost } from '../system/wait.js';
import { createSystemRunner } from '../system/system-runner.js';
import { selfInvocation } from '../system/self.js';
import { createSysinfo } from '../system/sysinfo.js';
import { problem, RmError, type Problem } from '../protocol/errors.js';
import type { DeviceFacts } from '../protocol/model.js';
import { AGENT_COMMIT, AGENT_VERSION } from '../version.js';
import { createTeamViewerWatcher, hasTeamViewerPrerequisite, teamviewerProblems, assignDevice } from '../teamviewer/index.js';
import { createServiceRegistry, serviceLoaders } from '../services/registry.js';
import { createHeavyJobScheduler } from '../services/budget.js';
import { createIdleCollector } from '../system/idle-gc.js';
import { createIdentityStore, readMachineId } from './identity.js';
import { createOutbox } from './outbox.js';
import { createReplayGuard } from './replay.js';
import { createServerClock } from './server-time.js';
import { createOutcomeJournal } from './outcomes.js';
import { createConnection } from './connection.js';
import { createConverger } from './converger.js';
import { createStatusReporter } from './status-report.js';
import { buildStatus, type AgentStatus } from './status.js';
import { createWatchdog, WATCHDOG_EXIT_CODE } from './watchdog.js';
import { createCommandDispatcher } from './commands.js';
import { createStateFloor } from './state-floor.js';
import { createStateHealth } from './state-health.js';
import { checkAnnouncement, learnTlsPins } from './tls-pins.js';
import { planKeyRotation } from './key-rotation.js';
import { keyFingerprint, signerOf } from '../protocol/sign.js';
import type { Frame } from '../protocol/frames.js';
import type { AgentContext, CommandOutcome, Connection, Registration, ReportFn } from './contracts.js';

export const STATUS_SNAPSHOT_FILE = 'status.json';
const REGISTRATION_POLL_MS = 10_000;
const FIRST_CONTACT_WAIT_MS = 2_000;

export const IpcRequestSchema = z.strictObject({ method: z.enum(['status', 'reload', 'detect', 'unenroll']) });

const connectionKey = (r: Registration) => JSON.stringify([r.serverUrl, r.enrollmentToken, r.publicKey]);

export interface Agent {
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): AgentStatus;
  /** Resolves when the agent wants to be restarted by its service manager (watchdog), with the exit code to use. */
  exitRequested: Promise<{ code: number; reason: string }>;
  /** Resolves the first time the connection reaches "connected" (readiness for service managers and benchmarks). */
  connected: Promise<void>;
}

export function createAgent(context: AgentContext & { ipcPath: string }): Agent {
  const { config, logger, clock } = context;
  const stateDir = config.stateDir;
  const platform = config.teamviewer.platform ?? (process.platform as 'linux' | 'win32' | 'darwin');
  const startedAt = clock.now();

  let machineId = '';
  let identity: ReturnType<typeof createIdentityStore>;
  let registration: Registration | null = null;
  let connection: Connection | null = null;
  let ipc: LocalServer | null = null;
  let pollTimer: NodeJS.Timeout | null = null;
  let snapshotTimer: NodeJS.Timeout | null = null;
  let stopped = false;
  const agentProblems: Problem[] = [];

  const outbox = createOutbox({ dir: path.join(stateDir, 'outbox'), maxBytes: config.outboxMaxBytes, clock, logger });
  // Command expiry and the replay guard judge by the server's time (server-time.ts), not by the device's wall clock.
  const serverClock = createServerClock(clock);
  const replay = createReplayGuard({ file: path.join(stateDir, 'replay.json'), windowMs: config.connection.commandWindowSec * 1000, clock: serverClock });
  const teamviewer = createTeamViewerWatcher({
    root: config.teamviewer.root,
    platform,
    runner: context.runner,
    now: clock.now,
    intervalMs: config.teamviewer.detectIntervalSec * 1000,
    logger,
  });
  const sysinfo = createSysinfo();
  const stateHealth = createStateHealth({
    stateDir,
    onChange: (reason) => (reason ? logger.error('state folder not writable', { reason }) : logger.info('state folder writable again')),
  });
  const report: ReportFn = async (kind, data) => {
    await stateHealth.track(outbox.append(kind, data));
  };
  // A collection after each heavy job, where the runtime allows it: what the job left is not kept while idle.
  const scheduler = createHeavyJobScheduler({ clock, random: Math.random, afterJob: createIdleCollector() });
  // Patch installs (and restores outside the agent's folders, once Backup asks) leave the agent's sandbox here.
  const changes = createSystemRunner({ runner: context.runner, workDir: path.join(stateDir, 'changes'), systemd: platform === 'linux' ? 'detect' : false });
  const registry = createServiceRegistry(serviceLoaders(scheduler, changes, selfInvocation()));
  // Final outcomes that must reach the server across a lost connection or a restart (outcomes.ts).
  const outcomes = createOutcomeJournal({ stateDir, clock, logger });
  const settle = async (commandId: string, outcome: CommandOutcome) => {
    if (connection) return connection.settle(commandId, outcome);
    if (!outcome.later) await outcomes.record({ commandId, status: outcome.status, ...(outcome.reason ? { reason: outcome.reason } : {}) });
  };
  const converger = createConverger({
    context,
    stateDir,
    registry,
    report,
    settle,
    prerequisiteMet: () => !config.teamviewer.required || hasTeamViewerPrerequisite(teamviewer.current()),
  });
  const exit = deferred<{ code: number; reason: string }>();
  const firstConnected = deferred();
  const stopping = deferred();
  let starting: Promise<void> | null = null;
  const watchdog = createWatchdog({
    stateDir,
    clock,
    intervalMs: config.watchdog.intervalSec * 1000,
    budget: { maxRssBytes: config.watchdog.maxRssMb * 1024 * 1024, maxCpuPercent: config.watchdog.maxCpuPercent, windowMs: config.watchdog.windowSec * 1000 },
    onWarning: (message) => logger.warn('watchdog', { message }),
    onExceeded: (reason, kind) => {
      logger.error('over budget: restarting', { reason, kind });
      // The report is durable before the exit, so the server hears about it after the restart at the latest.
      void report('watchdog', { event: 'exceeded', kind, reason, restarts: watchdog.restarts().length })
        .catch(() => undefined)
        .finally(() => exit.resolve({ code: WATCHDOG_EXIT_CODE, reason }));
    },
  });
  const statusReporter = createStatusReporter({ sysinfo, report, intervalMs: config.statusIntervalSec * 1000, clock });

  const deviceFacts = async (): Promise<DeviceFacts> => ({
    hostname: hostname(),
    platform: process.platform,
    arch: process.arch,
    osRelease: release(),
    agentVersion: AGENT_VERSION,
    alias: registration?.alias ?? null,
    teamviewer: teamviewer.current(),
  });

  // The connection starts before services are loaded (connected sooner); commands wait here until they are.
  const ready = deferred();
  const dispatch = createCommandDispatcher({
    converger,
    floor: createStateFloor(stateDir),
    sendStatus: async () => {
      await statusReporter.sendNow();
      await report('teamviewer', await teamviewer.refresh());
    },
    rotateKeys: (frame) => rotateKeys(frame),
    checkTlsPins: (pins) => checkAnnouncement(pins, config.connection.pinSha256, connection?.peerCertificatePin() ?? null),
    learnTlsPins: async (pins) => {
      const outcome = await learnTlsPins({ identity, configPin: config.connection.pinSha256, logger, connectionPin: connection?.peerCertificatePin() ?? null }, pins);
      registration = await identity.load(); // status shows the new pins at once
      return outcome;
    },
  });
  const onCommand: typeof dispatch = async (frame) => {
    await ready.promise;
    return dispatch(frame);
  };

  // Rotation keeps the current key trusted next to the new one until the server retires it (no stranded devices).
  async function rotateKeys(frame: Frame<'key.rotate'>): Promise<CommandOutcome> {
    // Re-read: the connection may have pinned a key from the endorsement chain since `registration` was loaded.
    const current = (await identity.load())?.serverKeys ?? registration?.serverKeys ?? [];
    const { newKey, retireKey, endorsements } = frame.body;
    const plan = planKeyRotation(current, { newKey, retireKey, endorsements, signedBy: signerOf(frame, current), pins: frame.body.pins !== undefined });
    if (!plan.ok) {
      logger.warn('key.rotate refused', { code: plan.reason.code, reason: plan.reason.message });
      return { status: 'rejected', reason: plan.reason };
    }
    if (plan.stale) {
      logger.info('key.rotate changed nothing', { code: plan.stale.code, reason: plan.stale.message });
      return { status: 'done', reason: plan.stale };
    }
    if (plan.keys.join() !== current.join()) registration = await identity.setServerKeys(plan.keys);
    logger.info('server command keys rotated', { keys: plan.keys.map(keyFingerprint) });
    return { status: 'done' };
  }

  function status(): AgentStatus {
    const partProblems = [
      ...agentProblems,
      ...stateHealth.problems(),
      ...watchdog.problems(),
      ...(identity ? identity.problems() : []),
      ...teamviewerProblems(teamviewer.current()),
      ...converger.problems(),
    ];
    return buildStatus({
      now: clock.now(),
      agent: { version: AGENT_VERSION, commit: AGENT_COMMIT, runtime: process.version, running: true, pid: process.pid, startedAt, source: 'daemon' },
      registration,
      teamviewer: teamviewer.current(),
      teamviewerRequired: config.teamviewer.required,
      connection: connection?.status() ?? null,
      services: converger.services(),
      outbox: outbox.stats(),
      configPin: config.connection.pinSha256,
      partProblems,
    });
  }

  // The snapshot lets `rmagent status` say something useful when the daemon is down.
  function scheduleSnapshot(): void {
    if (snapshotTimer || stopped) return;
    snapshotTimer = setTimeout(() => {
      snapshotTimer = null;
      stateHealth.track(writeJsonAtomic(path.join(stateDir, STATUS_SNAPSHOT_FILE), status())).catch((err: unknown) => logger.warn('status snapshot not written', { error: err }));
    }, 250);
    snapshotTimer.unref();
  }

  // Re-read the registration; restart the connection only when what it connects with changed (server, token,
  // device key) — not when the connection itself recorded the device id at enrollment.
  async function connectIfRegistered(): Promise<void> {
    const previous = registration;
    registration = await identity.load();
    if (connection && previous && registration && connectionKey(previous) === connectionKey(registration)) return;
    if (connection) {
      await connection.stop();
      connection = null;
    }
    if (!registration || stopped) return;
    const fresh = createConnection({ context, identity, outbox, replay, onCommand, deviceFacts, outcomes, serverClock });
    fresh.onStatus((s) => {
      // The welcome may have enrolled the device: show it at once, not at the next poll.
      if (s.phase === 'connected') {
        firstConnected.resolve();
        void identity.load().then((r) => { registration = r; scheduleSnapshot(); });
      }
      scheduleSnapshot();
    });
    fresh.start();
    connection = fresh;
    void maybeAssign();
  }

  // With --assignment-id the device is made a managed device by TeamViewer's own command, once it can be.
  let assignmentTried = false;
  async function maybeAssign(): Promise<void> {
    const facts = teamviewer.current();
    if (assignmentTried || !registration?.assignmentId || !facts?.installed || facts.managed === true) return;
    assignmentTried = true;
    const result = await assignDevice({ root: config.teamviewer.root, platform, runner: context.runner, now: clock.now }, { assignmentId: registration.assignmentId, ...(registration.alias ? { alias: registration.alias } : {}) });
    if (result.ok) {
      logger.info('TeamViewer assignment done', { exitCode: result.exitCode });
      await teamviewer.refresh();
    } else {
      logger.warn('TeamViewer assignment failed', { exitCode: result.exitCode, reason: result.message });
      agentProblems.push(problem(result.code ?? 'ASSIGNMENT_FAILED', result.message));
    }
    scheduleSnapshot();
  }

  // `rmagent unenroll`: every service is uninstalled (their timers and jobs stop), then the connection closes; the
  // CLI removes the state files after this answer. The daemon stays up, unregistered, until its unit is stopped.
  async function unenrollNow(): Promise<{ services: string[]; serverTold: boolean }> {
    const services = converger.services().map((s) => s.name);
    await converger.setDesired({ revision: 0, services: {} });
    const serverTold = (await connection?.unenroll('rmagent unenroll on the device').catch(() => false)) ?? false;
    await connection?.stop();
    connection = null;
    registration = null;
    logger.info('unenrolled: services uninstalled and connection closed', { services, serverTold });
    scheduleSnapshot();
    return { services, serverTold };
  }

  async function handleIpc(request: unknown): Promise<unknown> {
    const parsed = IpcRequestSchema.safeParse(request);
    if (!parsed.success) return { error: { code: 'FRAME_INVALID', message: 'expected {"method":"status"|"reload"|"detect"|"unenroll"}' } };
    if (parsed.data.method === 'unenroll') return { unenrolled: await unenrollNow() };
    if (parsed.data.method === 'reload') await connectIfRegistered();
    if (parsed.data.method === 'detect') await teamviewer.refresh();
    return { status: status() };
  }

  return {
    status,
    exitRequested: exit.promise,
    connected: firstConnected.promise,
    start() {
      starting = startNow();
      return starting;
    },
    async stop() {
      stopped = true;
      // A stop during start (a signal while waiting for the first contact) lets start() return at its next check.
      stopping.resolve();
      await starting?.catch(() => undefined);
      await stopParts();
    },
  };

  async function startNow(): Promise<void> {
    try {
      await ensureDir(stateDir);
    } catch (err) {
      throw new RmError('STATE_UNWRITABLE', `${stateDir}: ${(err as Error).message}`);
    }
    // Registration, keys and the allow-changes opt-in are trusted as found here: in a folder another account can
    // change, it could plant its own (its server, its command key, changes allowed). Refused before anything is read.
    const unsafe = await stateFolderProblem(stateDir);
    if (unsafe) throw new RmError('STATE_UNSAFE', `${stateDir}: ${unsafe}`);
    // An IPC socket elsewhere (ipcPath): in a folder another account can write, it could move the socket away and
    // answer `rmagent status` and `unenroll` in the agent's place.
    const ipcDir = path.dirname(path.resolve(context.ipcPath));
    const ipcUnsafe = ipcDir !== path.resolve(stateDir) ? await stateFolderProblem(ipcDir) : null;
    if (ipcUnsafe) throw new RmError('IPC_ENDPOINT_UNSAFE', `${context.ipcPath}: ${ipcUnsafe}`);
    machineId = await readMachineId(config.machineId);
    identity = createIdentityStore({ stateDir, machineId, clock, logger });
    await outbox.open();
    await replay.open();
    outbox.onAppend(() => scheduleSnapshot());
    await watchdog.start();
    // An endpoint somebody else holds could answer `rmagent status` in the agent's place: refuse to start.
    ipc = await serveLocal(context.ipcPath, handleIpc).catch((err: Error & { code?: string }) => {
      throw err.code === 'IPC_ENDPOINT_TAKEN' ? new RmError('IPC_ENDPOINT_TAKEN', err.message) : err;
    });
    // After repeated over-budget restarts, wait before doing real work so a crash loop cannot hog the device.
    const delay = watchdog.startDelayMs();
    if (delay > 0) {
      logger.warn('delaying start after repeated restarts', { delayMs: delay, restarts: watchdog.restarts().length });
      await report('watchdog', { event: 'backoff', delayMs: delay, restarts: watchdog.restarts().length });
      // A stop ends the wait (and its timer: a pending one would keep the stopped process alive).
      await waitAtMost(delay, stopping.promise);
      if (stopped) return;
    }
    // Connect first: the handshake needs no TeamViewer facts (they follow as a report) and the server sees the
    // device online while detection (child processes) and the services' resume run.
    await connectIfRegistered();
    // Detection forks child processes, each blocking this thread for milliseconds: let the handshake finish
    // first (bounded, so an unreachable server delays it by FIRST_CONTACT_WAIT_MS at most).
    if (connection) await waitAtMost(FIRST_CONTACT_WAIT_MS, firstConnected.promise, stopping.promise);
    if (stopped) return;
    const facts = await teamviewer.refresh();
    logger.info('TeamViewer detected', { installed: facts.installed, edition: facts.edition, version: facts.version, managed: facts.managed });
    teamviewer.onChange((next) => {
      logger.info('TeamViewer changed', { installed: next.installed, edition: next.edition, running: next.serviceRunning });
      void report('teamviewer', next);
      converger.kick();
      void maybeAssign();
      scheduleSnapshot();
    });
    await report('teamviewer', facts);
    void maybeAssign();
    // Services need the prerequisite verdict, so they start after detection; queued commands then run.
    try {
      await converger.start();
    } finally {
      ready.resolve();
    }
    teamviewer.start();
    statusReporter.start();
    // `rmagent enroll` may run after the daemon started (MDM ordering); notice it without a restart.
    pollTimer = setInterval(() => void connectIfRegistered().catch((err: unknown) => logger.warn('registration reload failed', { error: err })), REGISTRATION_POLL_MS);
    pollTimer.unref();
    scheduleSnapshot();
    logger.info('agent started', { version: AGENT_VERSION, registered: registration !== null, deviceId: registration?.deviceId ?? null });
  }

  async function stopParts(): Promise<void> {
    if (pollTimer) clearInterval(pollTimer);
    if (snapshotTimer) clearTimeout(snapshotTimer);
    statusReporter.stop();
    teamviewer.stop();
    scheduler.stop();
    watchdog.stop();
    await connection?.stop();
    await replay.close(); // after the connection: pending remembers finish, later ones are refused
    await converger.stop();
    await ipc?.close();
    await writeJsonAtomic(path.join(stateDir, STATUS_SNAPSHOT_FILE), { ...status(), agent: { ...status().agent, running: false, pid: null } }).catch(() => undefined);
    logger.info('agent stopped');
  }
}

/** A promise and the function that settles it (Promise.withResolvers needs Node 22; the plain build runs on 20). */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}

/** Why the state folder is not the agent's alone (another account's link on the way, its owner, who can write it
 * or a folder above), or null. POSIX only: on Windows the MSI's DACLs protect it (Node cannot read ACLs). */
async function stateFolderProblem(dir: string): Promise<string | null> {
  if (process.platform === 'win32') return null;
  try {
    return await privateFolderProblem(await resolveTrustedPath(path.resolve(dir)));
  } catch (err) {
    return (err as Error).message;
  }
}
