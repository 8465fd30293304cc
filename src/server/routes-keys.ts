// Server command key rotation routes: list, rotate (overlap starts), retire (overlap ends), and the TLS pin set
// announcement. Every device hears of each step through a signed key.rotate command, queued for devices that are
// offline.
import * as z from 'zod/mini';
import { PublicKeySchema } from '../protocol/frames.js';
import { RmError } from '../protocol/errors.js';
import { TlsPinSetSchema } from '../protocol/tls-pin.js';
import type { Store } from './store.js';
import { requirePermission } from './access.js';
import { must, parseBody, type Route } from './http.js';
import type { ApiDeps } from './routes.js';

const RetireBody = z.strictObject({ key: PublicKeySchema });
const PinsBody = z.strictObject({ pins: TlsPinSetSchema });

/** The newest pin announcement and how far it got: per device, the status of its newest key.rotate with pins. */
function pinAnnouncementProgress(store: Store) {
  const announcements = store.data.commands.filter((c) => c.type === 'key.rotate' && Array.isArray(c.body.pins));
  const newest = announcements.at(-1);
  const counts = { done: 0, pending: 0, failed: 0, notAnnounced: 0 };
  if (!newest) return { announced: null, devices: { ...counts, notAnnounced: store.data.devices.length } };
  const same = JSON.stringify(newest.body.pins);
  const latestOf = new Map(announcements.map((c) => [c.deviceId, c]));
  for (const device of store.data.devices) {
    const c = latestOf.get(device.id);
    if (!c || JSON.stringify(c.body.pins) !== same) counts.notAnnounced++;
    else if (c.status === 'done') counts.done++;
    else if (c.status === 'rejected' || c.status === 'failed') counts.failed++;
    else counts.pending++;
  }
  return { announced: { pins: newest.body.pins as string[], at: newest.createdAt, actor: newest.actor }, devices: counts };
}

export function keyRoutes({ store, clock, logger, commands, keyring, servingTlsPin }: ApiDeps): Route[] {
  // Issued one device at a time with the key signing now: online devices get it at once, the others on reconnect.
  const announce = async (body: { newKey: string; retireKey?: string; pins?: string[] }, actor: string) => {
    for (const device of [...store.data.devices]) await commands.issue('key.rotate', { deviceId: device.id, actor, ...body });
    return store.data.devices.length;
  };
  return [
    {
      method: 'GET',
      path: '/server-keys',
      handle: ({ perms }) => {
        must(requirePermission(perms, 'manage_accounts'));
        return { body: { keys: keyring.list() } };
      },
    },
    {
      method: 'POST',
      path: '/server-keys/rotate',
      async handle({ perms, account, body }) {
        must(requirePermission(perms, 'manage_accounts'));
        parseBody(z.strictObject({}), body);
        const created = await keyring.rotate(clock.now());
        const devices = await announce({ newKey: created.publicKey }, account.id);
        logger.info('server key rotation started', { fingerprint: created.fingerprint, devices, actor: account.id });
        return { status: 201, body: { key: created, devices, keys: keyring.list() } };
      },
    },
    {
      method: 'POST',
      path: '/server-keys/retire',
      async handle({ perms, account, body }) {
        must(requirePermission(perms, 'manage_accounts'));
        const { key } = parseBody(RetireBody, body);
        // Validate before announcing: a refused retire must not tell devices to drop a key still in use.
        keyring.assertRetirable(key);
        // Announced while the old key still signs, so live devices verify it with what they trust now.
        const devices = await announce({ newKey: keyring.newest(), retireKey: key }, account.id);
        const result = await keyring.retire(key, clock.now());
        logger.info('server key retired', { devices, actor: account.id });
        return { body: { ...result, devices, keys: keyring.list() } };
      },
    },
    {
      method: 'GET',
      path: '/tls-pins',
      handle: ({ perms }) => {
        must(requirePermission(perms, 'manage_accounts'));
        return { body: { serving: servingTlsPin, ...pinAnnouncementProgress(store) } };
      },
    },
    {
      method: 'POST',
      path: '/tls-pins',
      async handle({ perms, account, body }) {
        must(requirePermission(perms, 'manage_accounts'));
        const { pins } = parseBody(PinsBody, body);
        // Devices replace their set: one without the certificate served now would refuse this server at its next reconnect.
        if (servingTlsPin && !pins.includes(servingTlsPin)) {
          throw new RmError('API_INVALID', `pins must include ${servingTlsPin}, the pin of the certificate served now; switch the certificate first, then announce the set without the old pin`);
        }
        // Signed with the current key; newKey is the newest key, which any rotation already announced: only the pins change.
        const devices = await announce({ newKey: keyring.newest(), pins }, account.id);
        logger.info('TLS pins announced', { pins, devices, actor: account.id });
        return { body: { pins, devices, serving: servingTlsPin } };
      },
    },
  ];
}
