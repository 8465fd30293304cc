// The permission decisions (issue 3) on plain data.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { alertReportScope, alertScope, decideAccess, decideAccountChange, decideAlertAccess, decideBackupAccess, decideCommand, DEFAULT_ROLES, needs, PERMISSIONS, permissionsOf, reportVisible, requirePermission, ANY_ACCOUNT, type Permission } from '../../src/server/access.js';

const set = (...p: Permission[]) => new Set<Permission>(p);

describe('roles', () => {
  it('company administrator and business user hold the four console permissions; user holds none', () => {
    const console4: Permission[] = ['manage_policies', 'assign_policies', 'view_all_alerts', 'view_own_alerts'];
    for (const id of ['role-company-admin', 'role-business-user']) expect([...permissionsOf([id], DEFAULT_ROLES)]).toEqual(expect.arrayContaining(console4));
    expect(permissionsOf(['role-user'], DEFAULT_ROLES).size).toBe(0);
    expect(permissionsOf(['role-business-user'], DEFAULT_ROLES).has('manage_accounts')).toBe(false);
  });

  it('an account holds the union of its roles, and unknown roles give nothing', () => {
    const roles = [{ id: 'r1', name: 'a', permissions: ['manage_policies' as const] }, { id: 'r2', name: 'b', permissions: ['view_own_alerts' as const] }];
    expect([...permissionsOf(['r1', 'r2', 'gone'], roles)].sort()).toEqual(['manage_policies', 'view_own_alerts']);
  });

  it('a refusal names exactly the missing permission', () => {
    fc.assert(
      fc.property(fc.subarray([...PERMISSIONS]), fc.constantFrom(...PERMISSIONS), (held, wanted) => {
        const d = requirePermission(new Set(held), wanted);
        if (held.includes(wanted)) return d.ok;
        return !d.ok && d.permission === wanted && d.reason.includes(wanted);
      }),
    );
  });
});

describe('alerts', () => {
  it('view_all_alerts sees every alert, view_own_alerts only those on devices the account activated', () => {
    expect(decideAlertAccess('alice', set('view_all_alerts'), 'bob')).toEqual({ ok: true });
    expect(decideAlertAccess('alice', set('view_own_alerts'), 'alice')).toEqual({ ok: true });
    expect(decideAlertAccess('alice', set('view_own_alerts'), 'bob')).toMatchObject({ ok: false, permission: 'view_all_alerts' });
    expect(decideAlertAccess('alice', set('view_own_alerts'), undefined)).toMatchObject({ ok: false, permission: 'view_all_alerts' });
    expect(decideAlertAccess('alice', set(), 'alice')).toMatchObject({ ok: false, permission: 'view_own_alerts' });
  });

  it('scope follows the strongest alert permission', () => {
    expect(alertScope(set('view_own_alerts', 'view_all_alerts'))).toBe('all');
    expect(alertScope(set('view_own_alerts'))).toBe('own');
    expect(alertScope(set('manage_policies'))).toBe('none');
  });
});

describe('backup ownership', () => {
  it('only the activating account may change or restore Backup, whatever its permissions', () => {
    expect(decideBackupAccess('alice', undefined)).toEqual({ ok: true });
    expect(decideBackupAccess('alice', 'alice')).toEqual({ ok: true });
    expect(decideBackupAccess('owner', 'alice')).toMatchObject({ ok: false });
    expect(decideCommand('backup.restore', 'owner', new Set(PERMISSIONS), 'alice')).toMatchObject({ ok: false, reason: expect.stringContaining('alice') });
    expect(decideCommand('backup.restore', 'alice', set('assign_policies'), 'alice')).toEqual({ ok: true });
    expect(decideCommand('backup.run', 'alice', set('assign_policies'), undefined)).toMatchObject({ ok: false, reason: expect.stringContaining('not activated') });
  });

  it('device commands need assign_policies', () => {
    expect(decideCommand('status.request', 'alice', set(), undefined)).toMatchObject({ ok: false, permission: 'assign_policies' });
    expect(decideCommand('status.request', 'alice', set('assign_policies'), undefined)).toEqual({ ok: true });
  });
});

describe('route access', () => {
  it('a route needing one of several permissions admits any of them and otherwise names the first', () => {
    const access = needs('view_own_alerts', 'view_all_alerts');
    expect(decideAccess(access, set('view_all_alerts'))).toEqual({ ok: true });
    expect(decideAccess(access, set('view_own_alerts'))).toEqual({ ok: true });
    expect(decideAccess(access, set('manage_policies'))).toMatchObject({ ok: false, permission: 'view_own_alerts', reason: expect.stringContaining('view_own_alerts or view_all_alerts') });
    expect(decideAccess(ANY_ACCOUNT, set())).toEqual({ ok: true });
  });

  it('the plain user role reads nothing: no device, report or command route admits it', () => {
    const user = permissionsOf(['role-user'], DEFAULT_ROLES);
    expect(decideAccess(needs('view_devices'), user).ok).toBe(false);
  });
});

describe('alert reports follow the alert scope', () => {
  const activations = [{ service: 'monitoring', activatedBy: 'alice' }, { service: 'backup', activatedBy: 'bob' }];
  const alert = (service: string) => ({ key: 'k', service });
  it('all with view_all_alerts, those of own services with view_own_alerts, none otherwise; other kinds always', () => {
    const all = alertReportScope('alice', set('view_all_alerts'), activations);
    const own = alertReportScope('alice', set('view_own_alerts'), activations);
    const none = alertReportScope('alice', set('view_devices'), activations);
    expect(reportVisible(all, 'alert.raised', alert('backup'))).toBe(true);
    expect(reportVisible(own, 'alert.raised', alert('monitoring'))).toBe(true);
    expect(reportVisible(own, 'alert.cleared', alert('backup'))).toBe(false);
    expect(reportVisible(none, 'alert.raised', alert('monitoring'))).toBe(false);
    expect(reportVisible(none, 'inventory', {})).toBe(true);
    expect(reportVisible(alertReportScope('carol', set('view_own_alerts'), activations), 'alert.raised', alert('monitoring'))).toBe(false);
  });
});

describe('account changes', () => {
  it('nobody disables themselves or removes their own manage_accounts; others may be changed', () => {
    expect(decideAccountChange('a', 'a', { disabled: true, losesManageAccounts: false }).ok).toBe(false);
    expect(decideAccountChange('a', 'a', { losesManageAccounts: true }).ok).toBe(false);
    expect(decideAccountChange('a', 'b', { disabled: true, losesManageAccounts: true }).ok).toBe(true);
    expect(decideAccountChange('a', 'a', { disabled: false, losesManageAccounts: false }).ok).toBe(true);
  });
});
