// Server command key rotation routes: list, rotate (overlap starts), retire (overlap ends). Every device hears of
// each step through a signed key.rotate command, queued for devices that are offline.
import { z } from 'zod';
import { PublicKeySchema } from '../protocol/frames.js';
import { requirePermission } from './access.js';
import { must, parseBody, type Route } from './http.js';
import type { ApiDeps } from './routes.js';

const RetireBody = z.object({ key: PublicKeySchema }).strict();

export function keyRoutes({ store, clock, logger, commands, keyring }: ApiDeps): Route[] {
  // Issued one device at a time with the key signing now: online devices get it at once, the others on reconnect.
  const announce = async (body: { newKey: string; retireKey?: string }, actor: string) => {
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
        parseBody(z.object({}).strict(), body);
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
  ];
}
