// Names the console shows for the API's identifiers.
export const SERVICE_TITLES: Record<string, string> = {
  monitoring: 'Monitoring',
  assets: 'Asset Management',
  patches: 'Patch Management',
  backup: 'Backup',
  'endpoint-protection': 'Endpoint Protection',
};
export const title = (service: string): string => SERVICE_TITLES[service] ?? service;

/** The seed's Remote Management permissions, shown to the right of the service's name when a role is made. */
export const RM_PERMISSIONS: Array<{ id: string; label: string }> = [
  { id: 'manage_policies', label: 'Manage policies' },
  { id: 'assign_policies', label: 'Assign policies' },
  { id: 'view_all_alerts', label: 'View and acknowledge all alerts/threats' },
  { id: 'view_own_alerts', label: 'View and acknowledge own alerts/threats' },
];
export const OTHER_PERMISSIONS: Array<{ group: string; id: string; label: string }> = [
  { group: 'Devices', id: 'view_devices', label: 'View devices' },
  { group: 'Devices', id: 'manage_devices', label: 'Manage devices' },
  { group: 'Devices', id: 'enroll_devices', label: 'Add devices' },
  { group: 'Company profile', id: 'manage_accounts', label: 'Manage members and roles' },
];

export const BACKUP_REASON = 'With Backup, only the assigned account can install the service or restore data from the console. This cannot be bypassed.';

/** Why a device cannot get a service, and what to do on the device; null when it can. */
export function ineligible(device: { teamviewer: { installed: boolean; managed: boolean | null } | null; online: boolean }): { reason: string; fix: string } | null {
  const tv = device.teamviewer;
  if (!tv || !tv.installed) return { reason: 'TeamViewer is not installed', fix: 'Install TeamViewer Host or the TeamViewer full client on the device.' };
  if (tv.managed === false) {
    return { reason: 'Not a managed device', fix: 'On the device itself, set up remote access so it is added as a managed device (it cannot be done from another device).' };
  }
  return null;
}

export const phaseText = (phase: string | null): string => (phase === null ? 'pending' : phase);
