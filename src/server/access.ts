// The console permission model (issue 3) as pure decisions over plain data: who may do what.
// Every HTTP route asks one of these before it acts; a refusal names the missing permission.

/** The four console permissions of the seed, plus two for running the console itself. */
export const PERMISSIONS = [
  'manage_policies',
  'assign_policies',
  'view_all_alerts',
  'view_own_alerts',
  'enroll_devices',
  'manage_accounts',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export interface RoleRecord {
  id: string;
  name: string;
  permissions: Permission[];
}

export const DEFAULT_ROLES: readonly RoleRecord[] = [
  { id: 'role-company-admin', name: 'company administrator', permissions: [...PERMISSIONS] },
  { id: 'role-business-user', name: 'business user', permissions: ['manage_policies', 'assign_policies', 'view_all_alerts', 'view_own_alerts', 'enroll_devices'] },
  { id: 'role-user', name: 'user', permissions: [] },
];
export const OWNER_ROLE_ID = 'role-company-admin';

export type Decision = { ok: true } | { ok: false; permission?: Permission; reason: string };

const allow: Decision = { ok: true };

/** The union of the permissions of the account's roles; unknown role ids give nothing. */
export function permissionsOf(roleIds: readonly string[], roles: readonly RoleRecord[]): Set<Permission> {
  const out = new Set<Permission>();
  for (const id of roleIds) for (const p of roles.find((r) => r.id === id)?.permissions ?? []) out.add(p);
  return out;
}

export function requirePermission(perms: ReadonlySet<Permission>, permission: Permission): Decision {
  return perms.has(permission) ? allow : { ok: false, permission, reason: `missing permission ${permission}` };
}

export type AlertScope = 'all' | 'own' | 'none';

export function alertScope(perms: ReadonlySet<Permission>): AlertScope {
  if (perms.has('view_all_alerts')) return 'all';
  if (perms.has('view_own_alerts')) return 'own';
  return 'none';
}

/**
 * May this account see (and acknowledge) an alert? "Own" = the account activated the alert's service
 * on the alert's device; `activatedBy` is that activation's account (undefined when none is active).
 */
export function decideAlertAccess(accountId: string, perms: ReadonlySet<Permission>, activatedBy: string | undefined): Decision {
  const scope = alertScope(perms);
  if (scope === 'all') return allow;
  if (scope === 'none') return { ok: false, permission: 'view_own_alerts', reason: 'missing permission view_own_alerts' };
  if (activatedBy === accountId) return allow;
  return { ok: false, permission: 'view_all_alerts', reason: 'missing permission view_all_alerts (the alert is on a device another account activated the service on)' };
}

/**
 * Backup: only the account that activated Backup on a device may change or restore it; nobody bypasses this,
 * not even a company administrator. No current activation = free to activate.
 */
export function decideBackupAccess(accountId: string, activatedBy: string | undefined): Decision {
  if (activatedBy === undefined || activatedBy === accountId) return allow;
  return { ok: false, reason: `Backup on this device is assigned to account ${activatedBy}; only that account may change or restore it` };
}

/** Device commands act on devices, so they need assign_policies; backup ones also need to be the Backup owner. */
export function decideCommand(type: string, accountId: string, perms: ReadonlySet<Permission>, backupActivatedBy: string | undefined): Decision {
  const base = requirePermission(perms, 'assign_policies');
  if (!base.ok) return base;
  if (type === 'backup.run' || type === 'backup.restore') {
    if (backupActivatedBy === undefined) return { ok: false, reason: 'Backup is not activated on this device' };
    return decideBackupAccess(accountId, backupActivatedBy);
  }
  return allow;
}
