// Who may act on Backup (pure). The account that installed Backup on this device is its owner; only it
// may install, change (policy) or restore, whoever signed the command. A command without an actor is
// refused, except `backup.run`, which only starts the owner's own policy sooner.
export type BackupAction = 'install' | 'change' | 'restore' | 'run';

export type ActorDecision = { ok: true; record: string | null } | { ok: false; message: string };

export function checkActor(owner: string | null, actor: string | undefined, action: BackupAction): ActorDecision {
  if (!actor) {
    if (action === 'run') return { ok: true, record: null };
    return { ok: false, message: `${action} carries no account; only the Backup owner${owner ? ` (${owner})` : ''} may do it` };
  }
  // First account seen installs (records) ownership; the converger passes service.install through first.
  if (owner === null) return { ok: true, record: actor };
  if (actor !== owner) return { ok: false, message: `${action} requested by ${actor}, but Backup on this device belongs to ${owner}` };
  return { ok: true, record: null };
}
