// Where snapshots go, and the key that seals their manifests. A destination is used only when nobody but the
// agent's account can change it (system/safe-files.ts privateFolderProblem: it and every folder on its real path
// belong to the agent's account or root and are not writable by group or others), and always by its real path,
// so a link repointed later cannot move a running backup or restore elsewhere.
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readTextIfExists, writeFileAtomic } from '../../system/files.js';
import { deepestExisting, makeFolders, privateFolderProblem, resolveTrustedPath } from '../../system/safe-files.js';
import { RmError } from '../../protocol/errors.js';
import { MANIFEST_KEY_BYTES } from './manifest.js';
import { openStore, type BackupStore } from './snapshot.js';

export const MANIFEST_KEY_FILE = 'manifest.key';

/**
 * The device's manifest key (hex in `stateDir/manifest.key`, 0600), created on first use. A damaged key is an
 * error, never silently replaced: every snapshot sealed with it would become untrusted.
 */
export async function loadManifestKey(stateDir: string): Promise<Buffer> {
  const file = path.join(stateDir, MANIFEST_KEY_FILE);
  const text = await readTextIfExists(file);
  if (text === undefined) {
    const key = randomBytes(MANIFEST_KEY_BYTES);
    await writeFileAtomic(file, `${key.toString('hex')}\n`);
    return key;
  }
  const hex = text.trim();
  if (!new RegExp(`^[0-9a-f]{${MANIFEST_KEY_BYTES * 2}}$`).test(hex)) throw new RmError('SERVICE_FAILED', `${file} is damaged; restore it from a copy (snapshots sealed with it cannot be trusted without it)`);
  return Buffer.from(hex, 'hex');
}

/** Checks (creating it 0700 when missing) and opens the destination by its real path. */
export async function openDestination(destination: string, key: Uint8Array): Promise<{ store: BackupStore; real: string }> {
  const refuse = (why: string) => new RmError('BACKUP_DESTINATION_UNSAFE', `${destination}: ${why}`);
  let real: string;
  try {
    real = await resolveTrustedPath(destination);
    // A missing destination is created only inside a folder nobody else can change.
    const existing = await deepestExisting(real);
    const where = existing === real ? null : await privateFolderProblem(existing, { toCreateIn: true });
    if (where) throw refuse(where);
    await makeFolders(real, 0o700);
  } catch (err) {
    if ((err as { code?: string }).code === 'UNSAFE_PATH') throw refuse((err as Error).message);
    throw err;
  }
  const problem = await privateFolderProblem(real);
  if (problem) throw refuse(problem);
  return { store: openStore(real, key), real };
}
