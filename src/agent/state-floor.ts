// Monotonic state: what the device runs never goes back to an older state than one it already took.
//
// The server numbers each device's desired state (`desired.state.revision`, bumped on every change) and its service
// commands carry the revision they bring the device to. The floor is the highest revision taken, with the policy
// (id, version) each service got, kept on disk (state-floor.json, written before the change it allows):
// - `desired` with a lower revision is refused (COMMAND_STALE); with the same revision it is the same state sent
//   again, unless it would lower a policy version a later command set;
// - a service command with a lower revision is refused; one without a revision (a server that does not send it)
//   may not lower the version of the policy the service runs;
// - a higher revision is the server's explicit word, even for a lower policy version.
// The floor belongs to one device id: a new enrollment (new id) starts from nothing.
import path from 'node:path';
import * as z from 'zod/mini';
import { readJsonFile, writeJsonAtomic } from '../system/files.js';
import { ServiceNameSchema, type ServiceName } from '../protocol/model.js';
import type { CommandType, Frame } from '../protocol/frames.js';

export const STATE_FLOOR_FILE = 'state-floor.json';

// Built at each read and not kept: the file is read once at start, and its schema objects would otherwise stay in
// the idle daemon's heap (docs/benchmarks.md, issue 19).
const floorSchema = () => z.strictObject({
  v: z.literal(1),
  deviceId: z.nullable(z.string()),
  revision: z.int().check(z.nonnegative()),
  policies: z.partialRecord(ServiceNameSchema, z.strictObject({ id: z.string(), version: z.int() })),
});
export type StateFloor = z.infer<ReturnType<typeof floorSchema>>;

export const EMPTY_FLOOR: StateFloor = { v: 1, deviceId: null, revision: 0, policies: {} };

export type FloorVerdict = { ok: true; next: StateFloor } | { ok: false; code: 'COMMAND_STALE'; message: string };

type StateCommand = Frame<'desired'> | Frame<'service.install'> | Frame<'policy.assign'> | Frame<'service.uninstall'>;

export function isStateCommand(frame: Frame & { type: CommandType }): frame is StateCommand {
  return frame.type === 'desired' || frame.type === 'service.install' || frame.type === 'policy.assign' || frame.type === 'service.uninstall';
}

/** Whether a verified state command may take effect, and the floor after it. Pure. */
export function decideFloor(current: StateFloor, frame: StateCommand): FloorVerdict {
  const floor = current.deviceId === frame.body.deviceId ? current : { ...EMPTY_FLOOR, deviceId: frame.body.deviceId };
  const stale = (message: string): FloorVerdict => ({ ok: false, code: 'COMMAND_STALE', message: `${frame.type} ${frame.id}: ${message}` });
  const lowered = (service: ServiceName, policy: { id: string; version: number }) => {
    const had = floor.policies[service];
    return had && had.id === policy.id && policy.version < had.version ? had : null;
  };
  if (frame.type === 'desired') {
    const { revision, services } = frame.body.state;
    if (revision < floor.revision) return stale(`revision ${revision} is older than the revision ${floor.revision} already in force`);
    if (revision === floor.revision) {
      for (const [name, entry] of Object.entries(services) as Array<[ServiceName, { policy: { id: string; version: number } }]>) {
        const had = lowered(name, entry.policy);
        if (had) return stale(`revision ${revision} would take ${name} back from policy ${had.id} version ${had.version} to version ${entry.policy.version}`);
      }
    }
    const policies: StateFloor['policies'] = {};
    for (const [name, entry] of Object.entries(services) as Array<[ServiceName, { policy: { id: string; version: number } }]>) policies[name] = { id: entry.policy.id, version: entry.policy.version };
    return { ok: true, next: { v: 1, deviceId: floor.deviceId, revision, policies } };
  }
  const { revision, service } = frame.body;
  if (revision !== undefined && revision < floor.revision) return stale(`it was issued for revision ${revision}; revision ${floor.revision} is already in force`);
  const policies = { ...floor.policies };
  if (frame.type === 'service.uninstall') delete policies[service];
  else {
    const had = revision === undefined ? lowered(service, frame.body.policy) : null;
    if (had) return stale(`it would take ${service} back from policy ${had.id} version ${had.version} to version ${frame.body.policy.version}`);
    policies[service] = { id: frame.body.policy.id, version: frame.body.policy.version };
  }
  return { ok: true, next: { v: 1, deviceId: floor.deviceId, revision: Math.max(floor.revision, revision ?? floor.revision), policies } };
}

export interface StateFloorStore {
  /** Refuses a stale state command, or records the floor it moves to (durably) before it is applied. */
  admit(frame: StateCommand): Promise<FloorVerdict>;
}

export function createStateFloor(stateDir: string): StateFloorStore {
  const file = path.join(stateDir, STATE_FLOOR_FILE);
  let floor: StateFloor | null = null;
  return {
    async admit(frame) {
      if (!floor) {
        const read = await readJsonFile(file, floorSchema());
        // An unreadable floor starts from nothing: the next desired state sets it again (the agent stays up).
        floor = read.status === 'ok' ? read.value : EMPTY_FLOOR;
      }
      const verdict = decideFloor(floor, frame);
      if (verdict.ok && JSON.stringify(verdict.next) !== JSON.stringify(floor)) {
        await writeJsonAtomic(file, verdict.next);
        floor = verdict.next;
      }
      return verdict;
    },
  };
}
