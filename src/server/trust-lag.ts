// Which devices lag behind a server key rotation, from the keys each device reported pinning at its last handshake
// (facts.serverKeys) against the keyring. Pure. A device is current when it pins the signing key and no retired
// one; `behind` counts the rotations between its newest pinned key and the signing key: past MAX_ENDORSEMENTS it
// could no longer follow the endorsement chain and must be re-enrolled, so the list shows it well before.
import { keyFingerprint } from '../protocol/sign.js';
import { MAX_ENDORSEMENTS } from '../protocol/frames.js';
import type { KeyView } from './keyring.js';

export interface DeviceTrust {
  id: string;
  hostname: string;
  lastSeen: number | null;
  serverKeys?: readonly string[] | undefined;
}

export interface LaggingDevice {
  deviceId: string;
  hostname: string;
  lastSeen: number | null;
  /** Fingerprints of the keys it pins. */
  pins: string[];
  /** Rotations between its newest known pinned key and the signing key; null when it pins no key the server knows. */
  behind: number | null;
  /** Fingerprints of retired keys it still pins (it drops them at its next connection). */
  retiredPinned: string[];
}

export interface TrustLag {
  /** Devices that reported their pins (agents of protocol 2). */
  reporting: number;
  current: number;
  /** Devices whose pins were never reported. */
  unknown: number;
  laggingTotal: number;
  /** The most behind first, at most `limit`. */
  lagging: LaggingDevice[];
  /** How many rotations behind a device may fall and still follow the chain. */
  maxBehind: number;
}

export function trustLag(keys: readonly KeyView[], devices: readonly DeviceTrust[], limit = 100): TrustLag {
  const signingIndex = keys.findIndex((k) => k.state === 'signing');
  const retired = new Set(keys.filter((k) => k.state === 'retired').map((k) => k.publicKey));
  const indexOf = new Map(keys.map((k, i) => [k.publicKey, i]));
  const lagging: LaggingDevice[] = [];
  let reporting = 0;
  let current = 0;
  for (const d of devices) {
    if (!d.serverKeys) continue;
    reporting += 1;
    const known = d.serverKeys.map((k) => indexOf.get(k)).filter((i): i is number => i !== undefined);
    const newest = known.length ? Math.max(...known) : null;
    const retiredPinned = d.serverKeys.filter((k) => retired.has(k));
    const pinsSigning = d.serverKeys.includes(keys[signingIndex]?.publicKey ?? '');
    if (pinsSigning && !retiredPinned.length) {
      current += 1;
      continue;
    }
    lagging.push({
      deviceId: d.id, hostname: d.hostname, lastSeen: d.lastSeen, pins: d.serverKeys.map(keyFingerprint),
      behind: newest === null ? null : Math.max(0, signingIndex - newest), retiredPinned: retiredPinned.map(keyFingerprint),
    });
  }
  lagging.sort((a, b) => (b.behind ?? Number.MAX_SAFE_INTEGER) - (a.behind ?? Number.MAX_SAFE_INTEGER) || a.deviceId.localeCompare(b.deviceId));
  return { reporting, current, unknown: devices.length - reporting, laggingTotal: lagging.length, lagging: lagging.slice(0, limit), maxBehind: MAX_ENDORSEMENTS };
}
