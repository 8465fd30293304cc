// What the API routes are built from, handed over by the composition root (server.ts).
import type { Clock } from '../../system/clock.js';
import type { Logger } from '../../log.js';
import type { CommandQueue } from '../commands.js';
import type { Keyring } from '../keyring.js';
import type { Mailer } from '../mailer.js';
import type { AttemptLimiter } from '../sessions.js';
import type { Store } from '../store/store.js';

export interface Fleet {
  /** Whether the device has a live, authenticated connection now. */
  isOnline(deviceId: string): boolean;
}

export interface ApiDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  commands: CommandQueue;
  fleet: Fleet;
  keyring: Keyring;
  /** Pin (base64 SHA-256 of the SPKI) of the certificate served now; null without --tls-cert. */
  servingTlsPin: string | null;
  /** Licence and verification e-mails. */
  mailer: Mailer;
  /** The URL the e-mailed links start with (no trailing slash). */
  publicUrl(): string;
  /** Sign-in, sign-up and link attempts per client address. */
  signInLimiter: AttemptLimiter;
}
