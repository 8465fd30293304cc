// Which TLS certificate pins the agent enforces, and what a server announcement (`key.rotate {pins}`) changes.
//
// Precedence (pinning is opt-in, and the device's own configuration stays the last word):
// - no `connection.pinSha256`: no pinning at all; announcements are not recorded (a device never starts pinning
//   because a server said so, and removing the config pin turns pinning off even after pins were learned);
// - a config pin, and a set learned while that same config pin was in force: the learned set;
// - otherwise (nothing learned yet, or the config pin was changed since): the config pin alone, so a technician
//   can always recover a device by setting pinSha256 locally.
import { TlsPinSetSchema } from '../protocol/tls-pin.js';
import type { Logger } from '../log.js';
import type { CommandOutcome, IdentityStore, Registration } from './contracts.js';

export type LearnedPins = Pick<Registration, 'tlsPins' | 'tlsPinsBase'>;
export type PinSource = 'learned' | 'config' | 'none';

/** The pin set in force and where it comes from. Pure. */
export function tlsPinsInUse(learned: LearnedPins | null, configPin: string | undefined): { source: PinSource; pins: string[] } {
  if (!configPin) return { source: 'none', pins: [] };
  if (learned?.tlsPins?.length && learned.tlsPinsBase === configPin) return { source: 'learned', pins: [...learned.tlsPins] };
  return { source: 'config', pins: [configPin] };
}

export type PinAnnouncementPlan =
  | { action: 'reject'; reason: { code: 'TLS_PINS_INVALID'; message: string } }
  | { action: 'ignore'; reason: { code: 'TLS_PINS_NOT_USED'; message: string } }
  | { action: 'record'; pins: string[]; base: string; changed: boolean };

/** Whether an announced pin set is valid. Pure; null when it is. */
export function checkPinSet(announced: readonly string[]): { code: 'TLS_PINS_INVALID'; message: string } | null {
  const parsed = TlsPinSetSchema.safeParse(announced);
  if (parsed.success) return null;
  const issue = parsed.error.issues[0]!;
  return { code: 'TLS_PINS_INVALID', message: `pins${issue.path.length ? `.${issue.path.join('.')}` : ''}: ${issue.message}` };
}

/**
 * Whether an announcement may be taken at all: a valid set and, when this device pins, one that contains the pin of
 * the certificate of the connection it came in on (a set without it would lock the device out at the next
 * connection; one sent over a connection without TLS proves nothing about certificates). Pure; null when it may.
 */
export function checkAnnouncement(announced: readonly string[], configPin: string | undefined, connectionPin: string | null): { code: 'TLS_PINS_INVALID'; message: string } | null {
  const invalid = checkPinSet(announced);
  if (invalid || !configPin) return invalid;
  if (connectionPin === null) return { code: 'TLS_PINS_INVALID', message: 'the pins were announced over a connection without TLS; they are taken only over wss://' };
  if (!announced.includes(connectionPin)) return { code: 'TLS_PINS_INVALID', message: `the announced pins do not include ${connectionPin}, the pin of the certificate this connection uses; taking them would refuse this server at the next connection` };
  return null;
}

/** What a verified announcement does to the learned set. Pure. */
export function planPinAnnouncement(learned: LearnedPins | null, configPin: string | undefined, announced: readonly string[], connectionPin: string | null = null): PinAnnouncementPlan {
  const invalid = checkAnnouncement(announced, configPin, connectionPin);
  if (invalid) return { action: 'reject', reason: invalid };
  if (!configPin) {
    return { action: 'ignore', reason: { code: 'TLS_PINS_NOT_USED', message: 'this device does not pin the server certificate (no connection.pinSha256); the announced pins were not recorded' } };
  }
  const pins = [...announced];
  const changed = learned?.tlsPinsBase !== configPin || JSON.stringify(learned?.tlsPins ?? []) !== JSON.stringify(pins);
  return { action: 'record', pins, base: configPin, changed };
}

/** Carries out an announcement: records the set (or says why not) and returns the command outcome. */
export async function learnTlsPins(deps: { identity: IdentityStore; configPin: string | undefined; logger: Logger; connectionPin: string | null }, announced: readonly string[]): Promise<CommandOutcome> {
  const plan = planPinAnnouncement(await deps.identity.load(), deps.configPin, announced, deps.connectionPin);
  if (plan.action === 'reject') return { status: 'rejected', reason: plan.reason };
  if (plan.action === 'ignore') {
    deps.logger.info('TLS pins announced but not recorded', { reason: plan.reason.message });
    return { status: 'done', reason: plan.reason };
  }
  if (plan.changed) await deps.identity.setTlsPins(plan.pins, plan.base);
  deps.logger.info('TLS certificate pins updated', { pins: plan.pins, changed: plan.changed });
  return { status: 'done' };
}
