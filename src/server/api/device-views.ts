// Device views for many devices at once: their activations, reported services and policies in three queries.
import { deviceServices } from '../desired.js';
import { deviceView } from '../views.js';
import type { ActivationRecord, DeviceRecord, Store } from '../store/store.js';
import type { Fleet } from './deps.js';

export async function deviceViews(store: Store, fleet: Fleet, devices: readonly DeviceRecord[]) {
  const ids = devices.map((d) => d.id);
  const activations = await store.activations.forDevices(ids);
  const reported = await store.deviceState.services(ids);
  const policies = new Map((await store.policies.many([...new Set(activations.map((a) => a.policyId))])).map((p) => [p.id, p]));
  const byDevice = new Map<string, ActivationRecord[]>();
  for (const a of activations) byDevice.set(a.deviceId, [...(byDevice.get(a.deviceId) ?? []), a]);
  return devices.map((d) => deviceView(d, fleet.isOnline(d.id), deviceServices(byDevice.get(d.id) ?? [], reported.get(d.id) ?? [], policies)));
}
