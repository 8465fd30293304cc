// Server command key rotation routes: list, rotate (overlap starts), retire (overlap ends), and the TLS pin set
// announcement. Every device hears of each step through a signed key.rotate command, queued for devices that are
// offline.
import * as z from 'zod/mini';
import { PublicKeySchema } from '../../protocol/frames.js';
import { RmError } from '../../protocol/errors.js';
import { TlsPinSetSchema } from '../../protocol/tls-pin.js';
import type { Store } from '../store/store.js';
import type { KeyView } from '../keyring.js';
import { trustLag } from '../trust-lag.js';
import { iso, isoOrNull } from '../views.js';
import { needs } from '../access.js';
import { route, type Route } from './route.js';
import type { ApiDeps } from './deps.js';

const RetireBody = z.strictObject({ key: PublicKeySchema });
const PinsBody = z.strictObject({ pins: TlsPinSetSchema });
const TrustLagSchema = z.object({
  reporting: z.int(), current: z.int(), unknown: z.int(), laggingTotal: z.int(), maxBehind: z.int(),
  lagging: z.array(z.object({ deviceId: z.string(), hostname: z.string(), lastSeen: z.nullable(z.number()), lastSeenIso: z.nullable(z.string()), pins: z.array(z.string()), behind: z.nullable(z.int()), retiredPinned: z.array(z.string()) })),
});
const KeyViewSchema = z.object({ publicKey: z.string(), fingerprint: z.string(), state: z.enum(['signing', 'active', 'retired']), createdAt: z.number(), createdAtIso: z.string(), retiredAt: z.nullable(z.number()), retiredAtIso: z.nullable(z.string()) });
const keyView = (k: KeyView) => ({ ...k, createdAtIso: iso(k.createdAt), retiredAtIso: isoOrNull(k.retiredAt) });

/** Every live device, for announcements to the whole fleet. */
const allDeviceIds = (store: Store) => store.devices.ids({}, Number.MAX_SAFE_INTEGER - 1);

/** The newest pin announcement and how far it got: per device, the status of its newest key.rotate with pins. */
async function pinAnnouncementProgress(store: Store) {
  const announcements = (await store.commands.ofType('key.rotate')).filter((c) => Array.isArray(c.body.pins));
  const deviceIds = await allDeviceIds(store);
  const newest = announcements.at(-1);
  const counts = { done: 0, pending: 0, failed: 0, notAnnounced: 0 };
  if (!newest) return { announced: null, devices: { ...counts, notAnnounced: deviceIds.length } };
  const same = JSON.stringify(newest.body.pins);
  const latestOf = new Map(announcements.map((c) => [c.deviceId, c]));
  for (const device of deviceIds.map((id) => ({ id }))) {
    const c = latestOf.get(device.id);
    if (!c || JSON.stringify(c.body.pins) !== same) counts.notAnnounced++;
    else if (c.status === 'done') counts.done++;
    else if (c.status === 'rejected' || c.status === 'failed' || c.status === 'interrupted' || c.status === 'expired') counts.failed++;
    else counts.pending++;
  }
  return { announced: { pins: newest.body.pins as string[], at: newest.createdAt, actor: newest.actor }, devices: counts };
}

export function keyRoutes({ store, clock, logger, commands, keyring, servingTlsPin }: ApiDeps): Route[] {
  // Issued one device at a time with the key signing now: online devices get it at once, the others on reconnect.
  // newKey carries its endorsements from the signing key: a device adds a key only when it is endorsed from the
  // newest key it pins, so a holder of an older (retired) key cannot slip one in (docs/protocol.md, rotation).
  const announce = async (body: { newKey: string; retireKey?: string; pins?: string[] }, actor: string) => {
    const deviceIds = await allDeviceIds(store);
    const endorsements = keyring.chainTo(body.newKey);
    await commands.issue(deviceIds.map((deviceId) => ({ type: 'key.rotate' as const, body: { deviceId, actor, ...body, ...(endorsements.length ? { endorsements } : {}) } })));
    return deviceIds.length;
  };
  return [
    route({
      method: 'GET', path: '/server-keys', tag: 'keys', summary: 'The server command keys, oldest first, and the devices lagging behind a rotation', access: needs('manage_accounts'),
      description: 'devices: from the keys each device reported pinning at its last handshake. A lagging device does not pin the signing key yet, or still pins a retired one (it drops it when it next connects); behind = rotations it has to follow, at most maxBehind.',
      response: z.object({ keys: z.array(KeyViewSchema), devices: TrustLagSchema }),
      async handle() {
        const keys = keyring.list();
        const devices = await store.devices.many(await allDeviceIds(store));
        const lag = trustLag(keys, devices.map((d) => ({ id: d.id, hostname: d.facts.hostname, lastSeen: d.lastSeen, serverKeys: d.facts.serverKeys })));
        return { body: { keys: keys.map(keyView), devices: { ...lag, lagging: lag.lagging.map((l) => ({ ...l, lastSeenIso: isoOrNull(l.lastSeen) })) } } };
      },
    }),
    route({
      method: 'POST', path: '/server-keys/rotate', tag: 'keys', summary: 'Start a rotation: a new key endorsed by the newest one; every device gets key.rotate',
      access: needs('manage_accounts'), body: z.strictObject({}), status: 201,
      response: z.object({ key: KeyViewSchema, devices: z.int(), keys: z.array(KeyViewSchema) }),
      async handle({ account }) {
        const created = await keyring.rotate(clock.now());
        const devices = await announce({ newKey: created.publicKey }, account.id);
        logger.info('server key rotation started', { fingerprint: created.fingerprint, devices, actor: account.id });
        return { status: 201, body: { key: keyView(created), devices, keys: keyring.list().map(keyView) } };
      },
    }),
    route({
      method: 'POST', path: '/server-keys/retire', tag: 'keys', summary: 'End the overlap: retire the signing key; the next one signs from now on',
      access: needs('manage_accounts'), body: RetireBody,
      response: z.object({ retired: z.string(), signing: z.string(), devices: z.int(), keys: z.array(KeyViewSchema) }),
      async handle({ account, body }) {
        const { key } = body;
        // Validate before announcing: a refused retire must not tell devices to drop a key still in use.
        keyring.assertRetirable(key);
        // Announced while the old key still signs, so live devices verify it with what they trust now.
        const devices = await announce({ newKey: keyring.newest(), retireKey: key }, account.id);
        const result = await keyring.retire(key, clock.now());
        logger.info('server key retired', { devices, actor: account.id });
        return { body: { ...result, devices, keys: keyring.list().map(keyView) } };
      },
    }),
    route({
      method: 'GET', path: '/tls-pins', tag: 'keys', summary: 'The TLS pin served now and how far the newest pin announcement got', access: needs('manage_accounts'),
      response: z.object({
        serving: z.nullable(z.string()),
        announced: z.nullable(z.object({ pins: z.array(z.string()), at: z.number(), actor: z.nullable(z.string()) })),
        devices: z.object({ done: z.int(), pending: z.int(), failed: z.int(), notAnnounced: z.int() }),
      }),
      handle: async () => ({ body: { serving: servingTlsPin, ...(await pinAnnouncementProgress(store)) } }),
    }),
    route({
      method: 'POST', path: '/tls-pins', tag: 'keys', summary: 'Announce the TLS pin set to every device (key.rotate with pins)',
      access: needs('manage_accounts'), body: PinsBody,
      response: z.object({ pins: z.array(z.string()), devices: z.int(), serving: z.nullable(z.string()) }),
      async handle({ account, body }) {
        const { pins } = body;
        // Devices replace their set: one without the certificate served now would refuse this server at its next reconnect.
        if (servingTlsPin && !pins.includes(servingTlsPin)) {
          throw new RmError('API_INVALID', `pins must include ${servingTlsPin}, the pin of the certificate served now; switch the certificate first, then announce the set without the old pin`);
        }
        // Signed with the newest key (signer.ts): a device takes pins only from the newest key it pins. During an
        // overlap a plain key.rotate to that key goes first (signed by the signing key), so a device that does not
        // pin it yet (enrolled with the signing key) does by then; for the others it changes nothing.
        const newest = keyring.newest();
        if (newest !== keyring.signing().publicKey) await announce({ newKey: newest }, account.id);
        const devices = await announce({ newKey: newest, pins }, account.id);
        logger.info('TLS pins announced', { pins, devices, actor: account.id });
        return { body: { pins, devices, serving: servingTlsPin } };
      },
    }),
  ];
}
