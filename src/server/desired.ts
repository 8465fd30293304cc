// The desired state of one device (sent on every connect) and the console's views of devices: pure.
import type { DesiredState, Policy, ServiceName } from '../protocol/model.js';
import type { DeviceRecord, PolicyRecord, StoreData } from './store.js';

export function policyOnWire(p: PolicyRecord): Policy {
  return { id: p.id, name: p.name, service: p.service, version: p.version, settings: p.settings };
}

export function desiredStateOf(data: StoreData, device: DeviceRecord): DesiredState {
  const services: DesiredState['services'] = {};
  for (const a of data.activations) {
    if (a.deviceId !== device.id) continue;
    const policy = data.policies.find((p) => p.id === a.policyId);
    if (policy) services[a.service] = { policy: policyOnWire(policy), activatedBy: a.activatedBy };
  }
  return { revision: device.revision, services };
}

export interface DeviceServiceView {
  name: ServiceName;
  policyId: string | null;
  policyVersion: number | null;
  activatedBy: string | null;
  phase: string | null;
  appliedPolicyVersion: number | null;
  applied: boolean;
  reason: { code: string; message: string } | null;
}

/** Services the console shows for a device: every activated one plus any the device reports on its own. */
export function deviceServices(data: StoreData, device: DeviceRecord): DeviceServiceView[] {
  const names = new Set<string>([...data.activations.filter((a) => a.deviceId === device.id).map((a) => a.service), ...Object.keys(device.services)]);
  return [...names].sort().map((name) => {
    const activation = data.activations.find((a) => a.deviceId === device.id && a.service === name);
    const policy = activation ? data.policies.find((p) => p.id === activation.policyId) : undefined;
    const state = device.services[name];
    const appliedVersion = state?.policy?.id === policy?.id ? (state?.policy?.version ?? null) : null;
    return {
      name: name as ServiceName,
      policyId: policy?.id ?? null,
      policyVersion: policy?.version ?? null,
      activatedBy: activation?.activatedBy ?? null,
      phase: state?.phase ?? (activation ? 'pending' : null),
      appliedPolicyVersion: appliedVersion,
      applied: Boolean(policy && state?.policy?.applied && appliedVersion === policy.version),
      reason: state?.reason ?? null,
    };
  });
}

export function deviceView(data: StoreData, device: DeviceRecord, online: boolean) {
  return {
    id: device.id,
    alias: device.facts.alias,
    hostname: device.facts.hostname,
    platform: device.facts.platform,
    arch: device.facts.arch,
    osRelease: device.facts.osRelease,
    agentVersion: device.facts.agentVersion,
    online,
    lastSeen: device.lastSeen,
    enrolledAt: device.enrolledAt,
    lastSeq: device.lastSeq,
    teamviewer: device.facts.teamviewer,
    services: deviceServices(data, device),
  };
}
