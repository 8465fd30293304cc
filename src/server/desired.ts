// The desired state of one device (sent on every connect) and the console's view of its services: pure.
import type { DesiredState, Policy, ServiceName, ServiceState } from '../protocol/model.js';
import type { ActivationRecord, DeviceRecord, PolicyRecord, Transaction } from './store/store.js';

export function policyOnWire(p: PolicyRecord): Policy {
  return { id: p.id, name: p.name, service: p.service, version: p.version, settings: p.settings };
}

export function desiredStateOf(device: Pick<DeviceRecord, 'id' | 'revision'>, activations: readonly ActivationRecord[], policies: ReadonlyMap<string, PolicyRecord>): DesiredState {
  const services: DesiredState['services'] = {};
  for (const a of activations) {
    if (a.deviceId !== device.id) continue;
    const policy = policies.get(a.policyId);
    if (policy) services[a.service] = { policy: policyOnWire(policy), activatedBy: a.activatedBy };
  }
  return { revision: device.revision, services };
}

export interface DeviceServiceView {
  name: ServiceName;
  policyId: string | null;
  policyVersion: number | null;
  activatedBy: string | null;
  activatedAt: number | null;
  phase: string | null;
  appliedPolicyVersion: number | null;
  applied: boolean;
  reason: { code: string; message: string } | null;
}

/** Services the console shows for a device: every activated one plus any the device reports on its own. */
export function deviceServices(activations: readonly ActivationRecord[], reported: readonly ServiceState[], policies: ReadonlyMap<string, PolicyRecord>): DeviceServiceView[] {
  const names = new Set<ServiceName>([...activations.map((a) => a.service), ...reported.map((s) => s.name)]);
  return [...names].sort().map((name) => {
    const activation = activations.find((a) => a.service === name);
    const policy = activation ? policies.get(activation.policyId) : undefined;
    const state = reported.find((s) => s.name === name);
    const appliedVersion = state?.policy && state.policy.id === policy?.id ? state.policy.version : null;
    return {
      name,
      policyId: policy?.id ?? null,
      policyVersion: policy?.version ?? null,
      activatedBy: activation?.activatedBy ?? null,
      activatedAt: activation?.at ?? null,
      phase: state?.phase ?? (activation ? 'pending' : null),
      appliedPolicyVersion: appliedVersion,
      applied: Boolean(policy && state?.policy?.applied && appliedVersion === policy.version),
      reason: state?.reason ?? null,
    };
  });
}

/** Each device's desired-state revision as `{revision}`, to spread into the service command that brought it there. */
export async function revisionsOf(tx: Pick<Transaction, 'devices'>, ids: readonly string[]): Promise<Map<string, { revision: number }>> {
  return new Map((ids.length ? await tx.devices.many(ids) : []).map((d) => [d.id, { revision: d.revision }]));
}
