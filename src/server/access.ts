// The console permission model as pure decisions over plain data: who may do what. Every HTTP route declares
// its Access here and the API asks decideAccess before the handler runs; finer decisions (alert scope, Backup
// ownership, report visibility) are asked by the handlers. A refusal names the missing permission.

/** The four console permissions of the seed, plus the ones for running the console itself. */
export const PERMISSIONS = [
  'manage_policies',
  'assign_policies',
  'view_all_alerts',
  'view_own_alerts',
  'view_devices',
  'manage_devices',
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
  { id: 'role-business-user', name: 'business user', permissions: PERMISSIONS.filter((p) => p !== 'manage_accounts') },
  { id: 'role-user', name: 'user', permissions: [] },
];
export const OWNER_ROLE_ID = 'role-company-admin';

export type Decision = { ok: true } | { ok: false; permission?: Permission; reason: string; seats?: { total: number; used: number; needed: number } };

const allow: Decision = { ok: true };

/** What a route needs: nothing (health, the API description), any enabled account, or one of some permissions. */
export type RouteAccess = { kind: 'account' } | { kind: 'permission'; anyOf: readonly Permission[] };
export type Access = { kind: 'public' } | RouteAccess;
export const PUBLIC: Access = { kind: 'public' };
export const ANY_ACCOUNT: RouteAccess = { kind: 'account' };
export const needs = (...anyOf: Permission[]): RouteAccess => ({ kind: 'permission', anyOf });

export function decideAccess(access: Access, perms: ReadonlySet<Permission>): Decision {
  if (access.kind !== 'permission') return allow;
  if (access.anyOf.some((p) => perms.has(p))) return allow;
  const first = access.anyOf[0]!;
  return { ok: false, permission: first, reason: `missing permission ${access.anyOf.join(' or ')}` };
}

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

const ALERT_KINDS: ReadonlySet<string> = new Set(['alert.raised', 'alert.cleared']);

/** Which alert reports of one device an account may read: every one, none, or those of the services it activated there. */
export type AlertReportScope = { kind: 'all' } | { kind: 'none' } | { kind: 'services'; services: ReadonlySet<string> };

export function alertReportScope(accountId: string, perms: ReadonlySet<Permission>, activations: ReadonlyArray<{ service: string; activatedBy: string }>): AlertReportScope {
  const scope = alertScope(perms);
  if (scope === 'all') return { kind: 'all' };
  if (scope === 'none') return { kind: 'none' };
  const services = new Set(activations.filter((a) => a.activatedBy === accountId).map((a) => a.service));
  return services.size ? { kind: 'services', services } : { kind: 'none' };
}

/** A report (history entry or a device's `latest`) is visible unless it is an alert report outside the account's alert scope. */
export function reportVisible(scope: AlertReportScope, kind: string, data: Record<string, unknown>): boolean {
  if (!ALERT_KINDS.has(kind) || scope.kind === 'all') return true;
  if (scope.kind === 'none') return false;
  return typeof data.service === 'string' && scope.services.has(data.service);
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

/** An account may not disable itself or take away its own manage_accounts: someone must be left to undo it. */
export function decideAccountChange(actorId: string, targetId: string, change: { disabled?: boolean; losesManageAccounts: boolean }): Decision {
  if (actorId !== targetId) return allow;
  if (change.disabled) return { ok: false, reason: 'an account cannot disable itself' };
  if (change.losesManageAccounts) return { ok: false, reason: 'an account cannot remove manage_accounts from itself' };
  return allow;
}

/** Activating a service on `needed` more devices fits the product's seats (activated licences), or is refused with the figures. */
export function decideSeats(product: string, seats: { total: number; used: number }, needed: number): Decision {
  if (needed <= 0 || seats.used + needed <= seats.total) return allow;
  const free = Math.max(0, seats.total - seats.used);
  return { ok: false, reason: `${product}: ${needed} device(s) need a seat, ${free} of ${seats.total} seat(s) free`, seats: { ...seats, needed } };
}
